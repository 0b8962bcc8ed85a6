package verify

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/imagebuild/imagebuild/internal/testenv"
)

// file is one entry of a test layer (short for the tables below).
type file = testenv.Entry

// owned makes f the app user's, 1000:1000.
func owned(f file) file {
	f.UID, f.GID = 1000, 1000
	return f
}

const passwd = "root:x:0:0:root:/root:/bin/bash\nappuser:x:1000:1000::/nonexistent:/sbin/nologin\n"

// baseLayer is a small glibc-like base: users, a libc, a loader config
// and Python 3.12 at /usr/local/bin/python3, where the venv's bin/python
// leads.
func baseLayer(t *testing.T) v1.Layer {
	return testenv.Layer(t,
		file{Path: "/etc", Dir: true},
		file{Path: "/etc/passwd", Body: []byte(passwd)},
		file{Path: "/etc/ld.so.conf", Body: []byte("include /etc/ld.so.conf.d/*.conf\n")},
		file{Path: "/etc/ld.so.conf.d", Dir: true},
		file{Path: "/etc/ld.so.conf.d/local.conf", Body: []byte("/usr/local/lib\n")},
		file{Path: "/usr", Dir: true},
		file{Path: "/usr/lib", Dir: true},
		file{Path: "/usr/lib/x86_64-linux-gnu", Dir: true},
		file{Path: "/usr/lib/x86_64-linux-gnu/libc.so.6", Body: []byte("libc"), Mode: 0o755},
		file{Path: "/lib", Link: "usr/lib"},
		file{Path: "/usr/local", Dir: true},
		file{Path: "/usr/local/lib", Dir: true},
		file{Path: "/usr/local/lib/libpython3.so", Body: []byte("py"), Mode: 0o755},
		file{Path: "/usr/local/bin", Dir: true},
		file{Path: "/usr/local/bin/python3", Link: "python3.12"},
		file{Path: "/usr/local/bin/python3.12", Body: []byte("python"), Mode: 0o755},
	)
}

func appLayer(t *testing.T, extra ...file) v1.Layer {
	files := []file{
		{Path: "/opt", Dir: true},
		owned(file{Path: "/opt/venv", Dir: true}),
		owned(file{Path: "/opt/venv/bin", Dir: true}),
		owned(file{Path: "/opt/venv/bin/python", Link: "/usr/local/bin/python3"}),
		owned(file{Path: "/app", Dir: true}),
		owned(file{Path: "/app/main.py", Body: []byte("print('hi')\n")}),
	}
	return testenv.Layer(t, append(files, extra...)...)
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
		{name: "gcc", user: "appuser", extra: []file{{Path: "/usr/bin", Dir: true}, {Path: "/usr/bin/gcc", Body: []byte("x"), Mode: 0o755}},
			failCheck: "no compilers", evidence: "/usr/bin/gcc"},
		{name: "versioned cc1", user: "appuser", extra: []file{{Path: "/usr/libexec/gcc/x86_64-linux-gnu/12/cc1", Body: []byte("x"), Mode: 0o755}},
			failCheck: "no compilers", evidence: "cc1"},
		{name: "C headers", user: "appuser", extra: []file{{Path: "/usr/include/stdio.h", Body: []byte("x")}},
			failCheck: "no compilers", evidence: "/usr/include/ (C headers tree)"},
		{name: "library missing", user: "appuser",
			extra:     []file{owned(file{Path: "/opt/venv/lib/_ext.so", Body: withMissing, Mode: 0o755})},
			failCheck: "shared libraries", evidence: "/opt/venv/lib/_ext.so needs libimagebuild_gone.so.1"},
		{name: "library in $ORIGIN folder", user: "appuser", extra: []file{
			owned(file{Path: "/opt/venv/lib/pkg", Dir: true}),
			owned(file{Path: "/opt/venv/lib/pkg/_ext.so", Body: withOrigin, Mode: 0o755}),
			owned(file{Path: "/opt/venv/lib/ext.libs", Dir: true}),
			owned(file{Path: "/opt/venv/lib/ext.libs/libimagebuild_dep.so.1", Body: dep, Mode: 0o755}),
		}},
		{name: "$ORIGIN folder lacks the library", user: "appuser", extra: []file{
			owned(file{Path: "/opt/venv/lib/pkg", Dir: true}),
			owned(file{Path: "/opt/venv/lib/pkg/_ext.so", Body: withOrigin, Mode: 0o755}),
		}, failCheck: "shared libraries", evidence: "needs libimagebuild_dep.so.1"},
		{name: "pip.conf with a password", user: "appuser",
			extra:     []file{{Path: "/etc/pip.conf", Body: []byte("[global]\nindex-url = https://ci:s3cret@pypi.example.com/simple/\n")}},
			failCheck: "no package-manager", evidence: "/etc/pip.conf (pip config with a password)"},
		{name: "private key", user: "appuser",
			extra:     []file{owned(file{Path: "/app/deploy.pem", Body: []byte("-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n")})},
			failCheck: "no package-manager", evidence: "/app/deploy.pem (private key)"},
		{name: "apk cache", user: "appuser",
			extra:     []file{{Path: "/var/cache/apk/APKINDEX.tar.gz", Body: []byte("x")}},
			failCheck: "no package-manager", evidence: "/var/cache/apk/APKINDEX.tar.gz"},
		{name: "root-owned app file", user: "appuser",
			extra:     []file{{Path: "/app/config.py", Body: []byte("x")}},
			failCheck: "venv and app owned", evidence: "/app/config.py owned by 0:0"},
		{name: "home exists", user: "appuser",
			extra:     []file{{Path: "/nonexistent", Dir: true}},
			failCheck: "user has no home", evidence: "home /nonexistent exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, testenv.Image(t, tt.user, baseLayer(t), appLayer(t, tt.extra...)))
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
	for _, tc := range []struct {
		name    string
		files   []file
		missing string
	}{
		{"no venv", []file{owned(file{Path: "/app", Dir: true}), owned(file{Path: "/app/main.py", Body: []byte("x")})}, "/opt/venv is not in the image"},
		{"no app", []file{{Path: "/opt", Dir: true}, owned(file{Path: "/opt/venv", Dir: true})}, "/app is not in the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, testenv.Image(t, "appuser", baseLayer(t), testenv.Layer(t, tc.files...)))
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
	venvDirs := []file{{Path: "/opt", Dir: true}, owned(file{Path: "/opt/venv", Dir: true}), owned(file{Path: "/opt/venv/lib", Dir: true})}
	dist := func(extra ...file) v1.Layer {
		return testenv.Layer(t, append(append([]file{}, venvDirs...), append([]file{owned(file{Path: "/opt/venv/lib/mod.py", Body: []byte("x = 1\n")})}, extra...)...)...)
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
		return run(t, testenv.AppConfig(t, img, "appuser"))
	}
	for _, tc := range []struct {
		name     string
		layer    v1.Layer
		status   string
		evidence string
	}{
		{"one distribution's files", dist(), Pass, "pip: imagebuild-mod 1.0: 4 entries"},
		{"a root-owned file", dist(file{Path: "/opt/venv/lib/root.py", Body: []byte("x")}), Fail, "/opt/venv/lib/root.py owned by 0:0"},
		{"a file outside the venv", dist(file{Path: "/etc/extra.conf", Body: []byte("x")}), Fail, "/etc/extra.conf is outside /opt/venv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := result(build(t, tc.layer), "venv layers")
			if res.Status != tc.status || !strings.Contains(strings.Join(res.Evidence, "\n"), tc.evidence) {
				t.Errorf("venv layers check: %s %q, want %s with %q", res.Status, res.Evidence, tc.status, tc.evidence)
			}
		})
	}
}
