package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"go/format"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/pins"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/ref"
)

// seedPython puts the test base in the test registry as
// library/python:3.12-alpine and returns that ref and the image's digest.
func seedPython(t *testing.T, env *testenv.Env) (string, string) {
	t.Helper()
	ref := env.Registry + "/library/python:3.12-alpine"
	return ref, testenv.PushImage(t, ref, testenv.RegistryImage(t, env.Base.String()))
}

// copyModule copies the module's source to a temporary directory.
func copyModule(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && (rel == ".git" || rel == "bin" || rel == "out") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		dt, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, dt, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// runCopy builds the copy's imagebuild and runs it in dir.
func runCopy(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	bin := filepath.Join(dir, "bin", "imagebuild")
	build := exec.Command("go", "build", "-o", bin, "./cmd/imagebuild")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the module copy: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func TestPinsCheckAndBump(t *testing.T) {
	env := testenv.Get(t)
	ref, pinned := seedPython(t, env)
	// The tag moves on: an image that differs from the pinned one.
	moved, err := mutate.Config(testenv.RegistryImage(t, ref), v1.Config{Labels: map[string]string{"rebuilt": "yes"}})
	if err != nil {
		t.Fatal(err)
	}

	dir := copyModule(t)
	pinsFile := filepath.Join(dir, "recipes", "pins.go")
	src, err := os.ReadFile(pinsFile)
	if err != nil {
		t.Fatal(err)
	}
	// Pin every base of the copy to an image seeded in the test registry;
	// python:3.12-alpine's is the one whose tag then moves.
	decls, err := pins.Read(pinsFile, src)
	if err != nil {
		t.Fatal(err)
	}
	seeded := string(src)
	for _, d := range decls {
		p := d.Value
		tag := env.Registry + "/library/python:" + p.Tag()
		d := pinned
		if tag != ref {
			d = testenv.PushImage(t, tag, testenv.RegistryImage(t, env.Base.String()))
		}
		if !strings.Contains(seeded, `"`+p.String()+`"`) {
			t.Fatalf("pins.go does not hold %s", p)
		}
		seeded = strings.Replace(seeded, `"`+p.String()+`"`, `"`+tag+"@"+d+`"`, 1)
	}
	if err := os.WriteFile(pinsFile, []byte(seeded), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runCopy(t, dir, "pins", "check")
	if code != 0 {
		t.Fatalf("pins check on a current pin exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "current") {
		t.Errorf("pins check output lacks the current status:\n%s", out)
	}

	current := testenv.PushImage(t, ref, moved)
	out, code = runCopy(t, dir, "pins", "check")
	if code != 1 {
		t.Errorf("pins check on a stale pin exited %d, want 1", code)
	}
	if !strings.Contains(out, pinned) || !strings.Contains(out, current) || !strings.Contains(out, "stale") {
		t.Errorf("pins check output does not show both digests and stale:\n%s", out)
	}
	out, code = runCopy(t, dir, "pins", "check", "--format", "json")
	var rows []map[string]string
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "]")+1]), &rows); err != nil || code != 1 {
		t.Fatalf("pins check --format json: exit %d, %v:\n%s", code, err, out)
	}
	stale := 0
	for _, row := range rows {
		if row["status"] == "stale" {
			stale++
			if row["pinned"] != pinned || row["current"] != current || row["tag"] != "3.12-alpine" {
				t.Errorf("stale row = %v", row)
			}
		}
	}
	if len(rows) != len(recipes.All()) || stale != 1 || rows[0]["recipe"] != "python-alpine" {
		t.Errorf("json rows = %v, want a row for each of the %d recipes (one pin each), python-alpine's first, one stale", rows, len(recipes.All()))
	}

	out, code = runCopy(t, dir, "pins", "bump")
	if code != 0 {
		t.Fatalf("pins bump exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, pinned+" -> "+current) {
		t.Errorf("pins bump output lacks old -> new:\n%s", out)
	}
	bumped, err := os.ReadFile(pinsFile)
	if err != nil {
		t.Fatal(err)
	}
	a, b := strings.Split(seeded, "\n"), strings.Split(string(bumped), "\n")
	if len(a) != len(b) {
		t.Fatalf("bump changed the line count: %d -> %d", len(a), len(b))
	}
	changed := 0
	for k := range a {
		if a[k] != b[k] {
			changed++
			if strings.Replace(a[k], pinned, current, 1) != b[k] {
				t.Errorf("bump rewrote more than the digest:\n-%s\n+%s", a[k], b[k])
			}
		}
	}
	if changed != 1 {
		t.Errorf("bump changed %d lines, want 1", changed)
	}
	if formatted, err := format.Source(bumped); err != nil || !bytes.Equal(formatted, bumped) {
		t.Errorf("pins.go after bump is not gofmt-clean (%v)", err)
	}
	out, code = runCopy(t, dir, "pins", "check")
	if code != 0 {
		t.Errorf("pins check after bump exited %d:\n%s", code, out)
	}
}

func TestPinFabricatedDigestIsMissing(t *testing.T) {
	env := testenv.Get(t)
	seedPython(t, env)
	fake := ref.Pin("docker.io/library/python:3.12-alpine@sha256:" + strings.Repeat("0", 64))
	st, err := pins.Check(context.Background(), fake, ref.Mirrors{"docker.io": env.Registry}, authn.DefaultKeychain)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != pins.Missing {
		t.Errorf("fabricated digest: status %q, want %q", st.State, pins.Missing)
	}
}

func TestPinsCheckUnreachableRegistry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	stdout, stderr, code := cli(t, "pins", "check", "--registry-mirror", "docker.io="+addr)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if strings.Contains(stdout, "current") || !strings.Contains(stderr, "connection refused") {
		t.Errorf("stdout %q, stderr %q: want an error naming the unreachable registry, no status", stdout, stderr)
	}
}

func TestBuildThroughMirror(t *testing.T) {
	env := testenv.Get(t)
	_, pinned := seedPython(t, env)
	canonical := "docker.io/library/python:3.12-alpine@" + pinned
	out := filepath.Join(t.TempDir(), "image.tar")
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", canonical, "--registry-mirror", "docker.io="+env.Registry, "--progress", "plain",
		"-o", "type=oci,dest="+out)
	if code != 0 {
		t.Fatalf("build through the mirror exited %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, env.Registry+"/library/python:3.12-alpine@"+pinned) {
		t.Errorf("progress does not show the pull from the mirror by digest:\n%s", stderr)
	}
	cf, err := testenv.OCIImage(t, out).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Labels[ref.LabelBaseName]; got != "docker.io/library/python:3.12-alpine" {
		t.Errorf("base name label %q, want the canonical name", got)
	}
	if got := cf.Config.Labels[ref.LabelBaseDigest]; got != pinned {
		t.Errorf("base digest label %q, want %s", got, pinned)
	}
}

func TestPipConfSecretStaysSecret(t *testing.T) {
	env := testenv.Get(t)
	const token = "imagebuild-test-token-5f1c2e9a"
	probeName, probe := testenv.Wheel(t, "imagebuild-probe", "1.0", map[string][]byte{"imagebuild_probe/__init__.py": []byte("VALUE = 42\n")})
	addr := testenv.PrivateIndex(t, token, map[string][]byte{probeName: probe})
	conf := filepath.Join(t.TempDir(), "pip.conf")
	if err := os.WriteFile(conf, []byte("[global]\nindex-url = http://ci:"+token+"@"+addr+"/simple/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctxDir := appContext(t)
	if err := os.WriteFile(filepath.Join(ctxDir, "requirements.txt"), []byte("imagebuild-probe==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "plain", "--no-cache",
		"--secret", "id=pipconf,src="+conf,
		"-o", "type=oci,dest="+filepath.Join(out, "image.tar"),
		"--metadata-file", filepath.Join(out, "metadata.json"))
	if code != 0 {
		t.Fatalf("build with the pipconf secret exited %d:\n%s", code, stderr)
	}
	img := testenv.OCIImage(t, filepath.Join(out, "image.tar"))
	files := testenv.Files(t, img)
	found := false
	for p := range files {
		if strings.HasSuffix(p, "site-packages/imagebuild_probe/__init__.py") {
			found = true
		}
	}
	if !found {
		t.Fatal("the probe package from the private index is not in /opt/venv: the secret did not reach pip")
	}
	// Its byte code, compiled after pip, checked by hash (PEP 552 flags 0b11)
	// rather than by the source's time.
	pyc := 0
	for p, f := range files {
		if strings.Contains(p, "site-packages/imagebuild_probe/__pycache__/__init__.") && strings.HasSuffix(p, ".pyc") {
			pyc++
			if len(f.Data) < 8 || f.Data[4] != 3 {
				t.Errorf("%s is not a checked-hash pyc (header % x)", p, f.Data[:min(len(f.Data), 8)])
			}
		}
	}
	if pyc != 1 {
		t.Errorf("%d compiled imagebuild_probe/__init__ files in /opt/venv, want 1", pyc)
	}
	if strings.Contains(stdout+stderr, token) {
		t.Error("the token is in the build's output")
	}
	md, err := os.ReadFile(filepath.Join(out, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(md, []byte(token)) {
		t.Error("the token is in the metadata file")
	}
	for _, blob := range testenv.Blobs(t, filepath.Join(out, "image.tar")) {
		if bytes.Contains(blob.Data, []byte(token)) {
			t.Errorf("the token is in blob %s", blob.Name)
		}
	}
	// Without the secret, the private index refuses pip.
	_, _, code = cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "quiet", "--no-cache")
	if code != 1 {
		t.Errorf("build without the secret exited %d, want 1 (the index needs the token)", code)
	}
}

func TestProvenance(t *testing.T) {
	env := testenv.Get(t)
	out := filepath.Join(t.TempDir(), "image.tar")
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "--provenance", "mode=max",
		"-o", "type=oci,dest="+out)
	if code != 0 {
		t.Fatalf("build with provenance exited %d:\n%s", code, stderr)
	}
	var statement string
	for _, blob := range testenv.Blobs(t, out) {
		if bytes.Contains(blob.Data, []byte(`"predicateType"`)) && bytes.Contains(blob.Data, []byte("slsa.dev/provenance")) {
			statement = string(blob.Data)
		}
	}
	if statement == "" {
		t.Fatal("no SLSA provenance statement in the output")
	}
	if !strings.Contains(statement, env.Base.Name()) || !strings.Contains(statement, env.Base.Digest().String()) {
		t.Errorf("provenance does not name the pinned base %s", env.Base)
	}
	// The image itself is still read as the one image of the output.
	testenv.OCIImage(t, out)
}
