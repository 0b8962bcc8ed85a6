package verify

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/imagebuild/imagebuild/internal/testenv"
)

// file is one entry of a test layer.
type file struct {
	path     string
	body     []byte
	mode     int64
	uid, gid int
	dir      bool
	link     string
}

func layer(t *testing.T, files ...file) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: strings.TrimPrefix(f.path, "/"), Mode: f.mode, Uid: f.uid, Gid: f.gid, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		switch {
		case f.dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case f.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.link, 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if f.dir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.body)
	}
	tw.Close()
	dt := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(dt)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

const passwd = "root:x:0:0:root:/root:/bin/bash\nappuser:x:1000:1000::/nonexistent:/sbin/nologin\n"

// baseLayer is a small glibc-like base: users, a libc and a loader config.
func baseLayer(t *testing.T) v1.Layer {
	return layer(t,
		file{path: "/etc", dir: true},
		file{path: "/etc/passwd", body: []byte(passwd)},
		file{path: "/etc/ld.so.conf", body: []byte("include /etc/ld.so.conf.d/*.conf\n")},
		file{path: "/etc/ld.so.conf.d", dir: true},
		file{path: "/etc/ld.so.conf.d/local.conf", body: []byte("/usr/local/lib\n")},
		file{path: "/usr", dir: true},
		file{path: "/usr/lib", dir: true},
		file{path: "/usr/lib/x86_64-linux-gnu", dir: true},
		file{path: "/usr/lib/x86_64-linux-gnu/libc.so.6", body: []byte("libc"), mode: 0o755},
		file{path: "/lib", link: "usr/lib"},
		file{path: "/usr/local", dir: true},
		file{path: "/usr/local/lib", dir: true},
		file{path: "/usr/local/lib/libpython3.so", body: []byte("py"), mode: 0o755},
	)
}

func appLayer(t *testing.T, extra ...file) v1.Layer {
	owned := func(f file) file { f.uid, f.gid = 1000, 1000; return f }
	files := []file{
		{path: "/opt", dir: true},
		owned(file{path: "/opt/venv", dir: true}),
		owned(file{path: "/opt/venv/bin", dir: true}),
		owned(file{path: "/opt/venv/bin/python", link: "/usr/local/bin/python3"}),
		owned(file{path: "/app", dir: true}),
		owned(file{path: "/app/main.py", body: []byte("print('hi')\n")}),
	}
	return layer(t, append(files, extra...)...)
}

func image(t *testing.T, user string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.User = user
	cf.Config.WorkingDir = "/app"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func run(t *testing.T, img v1.Image) *Report {
	t.Helper()
	r, err := Image(context.Background(), img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func result(r *Report, check string) Result {
	for _, res := range r.Results {
		if strings.HasPrefix(res.Check, check) {
			return res
		}
	}
	return Result{}
}

func TestVerify(t *testing.T) {
	withOrigin := testenv.ELF(t, testenv.LibNeedsDep)
	withMissing := testenv.ELF(t, testenv.LibNeedsGone)
	dep := testenv.ELF(t, testenv.LibDep)
	owned := func(f file) file { f.uid, f.gid = 1000, 1000; return f }
	tests := []struct {
		name      string
		user      string
		extra     []file
		failCheck string // "" for a passing image
		evidence  string
	}{
		{name: "good", user: "appuser"},
		{name: "numeric user", user: "1000:1000"},
		{name: "runs as root", user: "", failCheck: "non-root", evidence: "no User"},
		{name: "root by name", user: "root", failCheck: "non-root", evidence: "UID 0"},
		{name: "unknown user", user: "nobody", failCheck: "non-root", evidence: "not in the image's /etc/passwd"},
		{name: "gcc", user: "appuser", extra: []file{{path: "/usr/bin", dir: true}, {path: "/usr/bin/gcc", body: []byte("x"), mode: 0o755}},
			failCheck: "no compilers", evidence: "/usr/bin/gcc"},
		{name: "versioned cc1", user: "appuser", extra: []file{{path: "/usr/libexec/gcc/x86_64-linux-gnu/12/cc1", body: []byte("x"), mode: 0o755}},
			failCheck: "no compilers", evidence: "cc1"},
		{name: "C headers", user: "appuser", extra: []file{{path: "/usr/include/stdio.h", body: []byte("x")}},
			failCheck: "no compilers", evidence: "/usr/include/ (C headers tree)"},
		{name: "library missing", user: "appuser",
			extra:     []file{owned(file{path: "/opt/venv/lib/_ext.so", body: withMissing, mode: 0o755})},
			failCheck: "shared libraries", evidence: "/opt/venv/lib/_ext.so needs libimagebuild_gone.so.1"},
		{name: "library in $ORIGIN folder", user: "appuser", extra: []file{
			owned(file{path: "/opt/venv/lib/pkg", dir: true}),
			owned(file{path: "/opt/venv/lib/pkg/_ext.so", body: withOrigin, mode: 0o755}),
			owned(file{path: "/opt/venv/lib/ext.libs", dir: true}),
			owned(file{path: "/opt/venv/lib/ext.libs/libimagebuild_dep.so.1", body: dep, mode: 0o755}),
		}},
		{name: "$ORIGIN folder lacks the library", user: "appuser", extra: []file{
			owned(file{path: "/opt/venv/lib/pkg", dir: true}),
			owned(file{path: "/opt/venv/lib/pkg/_ext.so", body: withOrigin, mode: 0o755}),
		}, failCheck: "shared libraries", evidence: "needs libimagebuild_dep.so.1"},
		{name: "pip.conf with a password", user: "appuser",
			extra:     []file{{path: "/etc/pip.conf", body: []byte("[global]\nindex-url = https://ci:s3cret@pypi.example.com/simple/\n")}},
			failCheck: "no package-manager", evidence: "/etc/pip.conf (pip config with a password)"},
		{name: "private key", user: "appuser",
			extra:     []file{owned(file{path: "/app/deploy.pem", body: []byte("-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n")})},
			failCheck: "no package-manager", evidence: "/app/deploy.pem (private key)"},
		{name: "apk cache", user: "appuser",
			extra:     []file{{path: "/var/cache/apk/APKINDEX.tar.gz", body: []byte("x")}},
			failCheck: "no package-manager", evidence: "/var/cache/apk/APKINDEX.tar.gz"},
		{name: "root-owned app file", user: "appuser",
			extra:     []file{{path: "/app/config.py", body: []byte("x")}},
			failCheck: "venv and app owned", evidence: "/app/config.py owned by 0:0"},
		{name: "home exists", user: "appuser",
			extra:     []file{{path: "/nonexistent", dir: true}},
			failCheck: "user has no home", evidence: "home /nonexistent exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, image(t, tt.user, baseLayer(t), appLayer(t, tt.extra...)))
			if libs := result(r, "shared libraries"); len(tt.extra) == 0 && (libs.Status != Skip || !strings.Contains(strings.Join(libs.Evidence, "\n"), "no ELF file")) {
				t.Errorf("shared-library check on an image without ELF files: %s %q, want skip, saying there is no ELF file", libs.Status, libs.Evidence)
			}
			var text strings.Builder
			r.WriteText(&text)
			if tt.failCheck == "" {
				if !r.Passed() {
					t.Fatalf("good image failed:\n%s", text.String())
				}
				return
			}
			if r.Passed() {
				t.Fatalf("image passed, want %q to fail:\n%s", tt.failCheck, text.String())
			}
			res := result(r, tt.failCheck)
			if res.Status != Fail || !strings.Contains(strings.Join(res.Evidence, "\n"), tt.evidence) {
				t.Errorf("check %q: %s %q, want fail with %q:\n%s", tt.failCheck, res.Status, res.Evidence, tt.evidence, text.String())
			}
			if f := r.Failures(); len(f) != 1 {
				t.Errorf("failed checks %q, want only %q", f, tt.failCheck)
			}
		})
	}
}

// TestVerifyMissingDirs: an image without its venv or its app fails the
// ownership check, naming what is missing, rather than pass it for want of
// files to check.
func TestVerifyMissingDirs(t *testing.T) {
	owned := func(f file) file { f.uid, f.gid = 1000, 1000; return f }
	for _, tc := range []struct {
		name    string
		files   []file
		missing string
	}{
		{"no venv", []file{owned(file{path: "/app", dir: true}), owned(file{path: "/app/main.py", body: []byte("x")})}, "/opt/venv is not in the image"},
		{"no app", []file{{path: "/opt", dir: true}, owned(file{path: "/opt/venv", dir: true})}, "/app is not in the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, image(t, "appuser", baseLayer(t), layer(t, tc.files...)))
			res := result(r, "venv and app owned")
			if res.Status != Fail || !strings.Contains(strings.Join(res.Evidence, "\n"), tc.missing) {
				t.Errorf("ownership check: %s %q, want fail saying %q", res.Status, res.Evidence, tc.missing)
			}
			if f := r.Failures(); len(f) != 1 {
				t.Errorf("failed checks %q, want the ownership check alone", f)
			}
		})
	}
}

func TestMatchTool(t *testing.T) {
	for _, s := range []string{"gcc", "g++", "x86_64-linux-gnu-gcc", "gcc-12", "ld", "make", "cc1plus"} {
		if !matchTool(s) {
			t.Errorf("matchTool(%q) = false", s)
		}
	}
	for _, s := range []string{"python3", "gcc-ar-wrapper", "ldconfig", "asyncpg", "makedirs", "ascii"} {
		if matchTool(s) {
			t.Errorf("matchTool(%q) = true", s)
		}
	}
}

// TestVenvLayers: layers the history names for distributions are listed
// by name, and each must hold only the venv's files, owned by the runtime
// user.
func TestVenvLayers(t *testing.T) {
	owned := func(f file) file { f.uid, f.gid = 1000, 1000; return f }
	venvDirs := []file{{path: "/opt", dir: true}, owned(file{path: "/opt/venv", dir: true}), owned(file{path: "/opt/venv/lib", dir: true})}
	dist := func(extra ...file) v1.Layer {
		return layer(t, append(append([]file{}, venvDirs...), append([]file{owned(file{path: "/opt/venv/lib/mod.py", body: []byte("x = 1\n")})}, extra...)...)...)
	}
	build := func(t *testing.T, distLayer v1.Layer) *Report {
		t.Helper()
		img, err := mutate.Append(empty.Image,
			mutate.Addendum{Layer: baseLayer(t), History: v1.History{CreatedBy: "base"}},
			mutate.Addendum{Layer: appLayer(t), History: v1.History{CreatedBy: "runtime: copy build context to /app"}},
			mutate.Addendum{Layer: distLayer, History: v1.History{CreatedBy: "pip: imagebuild-mod 1.0"}},
		)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Config.User, cf.Config.WorkingDir = "linux", "amd64", "appuser", "/app"
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		return run(t, img)
	}
	for _, tc := range []struct {
		name     string
		layer    v1.Layer
		status   string
		evidence string
	}{
		{"one distribution's files", dist(), Pass, "pip: imagebuild-mod 1.0: 4 entries"},
		{"a root-owned file", dist(file{path: "/opt/venv/lib/root.py", body: []byte("x")}), Fail, "/opt/venv/lib/root.py owned by 0:0"},
		{"a file outside the venv", dist(file{path: "/etc/extra.conf", body: []byte("x")}), Fail, "/etc/extra.conf is outside /opt/venv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := result(build(t, tc.layer), "venv layers")
			if res.Status != tc.status || !strings.Contains(strings.Join(res.Evidence, "\n"), tc.evidence) {
				t.Errorf("venv layers check: %s %q, want %s with %q", res.Status, res.Evidence, tc.status, tc.evidence)
			}
		})
	}
}
