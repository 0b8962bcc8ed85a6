package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/ref"
)

// These tests build the python-alpine recipe end to end on a real buildkitd
// and registry. Alpine's image cannot be fetched here, so they build on the
// Debian test base (see internal/testenv) with --base; its stand-in apk
// records the packages asked for instead of installing them.

func TestMain(m *testing.M) { testenv.Main(m) }

// cli runs imagebuild in process and returns its stdout, stderr and exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, args, &stdout, &stderr, recipes.All()...)
	return stdout.String(), stderr.String(), code
}

// cliNoDaemon runs the command line where no daemon may be contacted:
// BUILDKIT_HOST and every "{addr}" in args name a tripwire, an address
// whose listener fails the test if anything connects to it.
func cliNoDaemon(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	wire := testenv.Tripwire(t)
	t.Setenv("BUILDKIT_HOST", wire)
	args = slices.Clone(args)
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], "{addr}", wire)
	}
	return cli(t, args...)
}

// appContext writes a small build context: an app package, an empty
// requirements file, and a file .dockerignore excludes.
func appContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"app/__main__.py":  "import os\nprint('incident-tracker as uid', os.getuid())\n",
		"requirements.txt": "# no third-party packages in the test app\n",
		".dockerignore":    "secret.env\n*.log\n",
		"secret.env":       "TOKEN=must-not-be-in-the-image\n",
		"debug.log":        "excluded\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuildEndToEnd(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	out := t.TempDir()
	ref := env.Registry + "/imagebuild-test/app:e2e"
	stdout, stderr, code := cli(t, "build", "python-alpine",
		"--addr", env.Addr, "--context", ctxDir, "--base", env.Base.String(), "--progress", "plain",
		"--source-date-epoch", "1700000000",
		"-o", "type=oci,dest="+filepath.Join(out, "image.oci.tar"),
		"-o", "type=docker,dest="+filepath.Join(out, "image.docker.tar"),
		"-o", "type=local,dest="+filepath.Join(out, "rootfs"),
		"-t", ref, "--push",
		"--metadata-file", filepath.Join(out, "metadata.json"))
	if code != 0 {
		t.Fatalf("build exited %d\nstderr:\n%s", code, stderr)
	}

	var md map[string]any
	readJSON(t, filepath.Join(out, "metadata.json"), &md)
	digest, _ := md["containerimage.digest"].(string)
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("metadata file has no containerimage.digest: %v", md)
	}
	if strings.TrimSpace(stdout) != digest {
		t.Errorf("stdout = %q, want the image digest %s", stdout, digest)
	}

	img := testenv.OCIImage(t, filepath.Join(out, "image.oci.tar"))
	epoch := time.Unix(1700000000, 0).UTC()
	t.Run("config", func(t *testing.T) { checkConfig(t, env, img, epoch) })
	t.Run("base layers first", func(t *testing.T) { checkBaseLayers(t, env, img) })
	t.Run("filesystem", func(t *testing.T) { checkFilesystem(t, testenv.Files(t, img)) })
	t.Run("docker tarball", func(t *testing.T) {
		dimg := testenv.DockerImage(t, filepath.Join(out, "image.docker.tar"))
		checkConfig(t, env, dimg, epoch)
		checkFilesystem(t, testenv.Files(t, dimg))
	})
	t.Run("local output", func(t *testing.T) {
		for _, p := range []string{"opt/venv/bin/python3", "app/app/__main__.py", "etc/passwd"} {
			if _, err := os.Lstat(filepath.Join(out, "rootfs", p)); err != nil {
				t.Errorf("local output lacks %s: %v", p, err)
			}
		}
	})
	t.Run("runs as appuser", func(t *testing.T) {
		got, err := env.Run(context.Background(), ref+"@"+digest, "python", "-c",
			"import os, sys; print(os.getuid(), os.getgid(), os.getcwd(), sys.prefix)")
		if err != nil {
			t.Fatalf("run image: %v", err)
		}
		if want := "1000 1000 /app /opt/venv"; strings.TrimSpace(got) != want {
			t.Errorf("image printed %q, want %q", got, want)
		}
		got, err = env.Run(context.Background(), ref+"@"+digest, "python", "-m", "app")
		if err != nil {
			t.Fatalf("run image's app: %v", err)
		}
		if want := "incident-tracker as uid 1000"; strings.TrimSpace(got) != want {
			t.Errorf("app printed %q, want %q", got, want)
		}
	})
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	dt, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dt, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func checkConfig(t *testing.T, env *testenv.Env, img v1.Image, created time.Time) {
	t.Helper()
	checkPlatformConfig(t, env, img, created, "amd64")
}

// checkPlatformConfig checks the config of the image for linux/arch.
func checkPlatformConfig(t *testing.T, env *testenv.Env, img v1.Image, created time.Time, arch string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "appuser" || c.WorkingDir != "/app" {
		t.Errorf("user, workdir = %q, %q; want appuser, /app", c.User, c.WorkingDir)
	}
	if diff := cmp.Diff([]string{"python", "-m", "app"}, c.Cmd); diff != "" {
		t.Errorf("cmd (-want +got):\n%s", diff)
	}
	wantEnv := []string{"PATH=/opt/venv/bin:" + graph.DefaultPath, "LANG=C.UTF-8"}
	if diff := cmp.Diff(wantEnv, c.Env); diff != "" {
		t.Errorf("env: the base's, PATH with /opt/venv/bin first (-want +got):\n%s", diff)
	}
	wantLabels := map[string]string{
		ref.LabelBaseName:   env.Base.Tagged(),
		ref.LabelBaseDigest: env.Base.Digest().String(),
		graph.LabelCreated:  created.Format(time.RFC3339),
	}
	if diff := cmp.Diff(wantLabels, c.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if !cf.Created.Time.Equal(created) {
		t.Errorf("config created %v, want the source date epoch %v", cf.Created.Time, created)
	}
	if cf.OS != "linux" || cf.Architecture != arch {
		t.Errorf("platform = %s/%s, want linux/%s", cf.OS, cf.Architecture, arch)
	}
}

// checkBaseLayers checks the image's first layers are the base's, unchanged.
func checkBaseLayers(t *testing.T, env *testenv.Env, img v1.Image) {
	t.Helper()
	base := testenv.RegistryImage(t, env.Base.String())
	want := diffIDs(t, base)
	got := diffIDs(t, img)
	if len(got) <= len(want) {
		t.Fatalf("image has %d layers, base %d: want the base's and more", len(got), len(want))
	}
	if diff := cmp.Diff(want, got[:len(want)]); diff != "" {
		t.Errorf("first layers are not the base's (-want +got):\n%s", diff)
	}
}

func diffIDs(t *testing.T, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range cf.RootFS.DiffIDs {
		ids = append(ids, h.String())
	}
	return ids
}

func checkFilesystem(t *testing.T, files map[string]testenv.File) {
	t.Helper()
	// The account rows, with fixed content.
	rows := map[string]string{
		"etc/passwd": "appuser:x:1000:1000::/nonexistent:/sbin/nologin",
		"etc/group":  "appgroup:x:1000:",
		"etc/shadow": "appuser:!::0:99999:7:::",
	}
	for path, row := range rows {
		f, ok := files[path]
		if !ok {
			t.Errorf("%s missing", path)
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(f.Data)), "\n")
		if lines[len(lines)-1] != row {
			t.Errorf("%s ends with %q, want %q", path, lines[len(lines)-1], row)
		}
		if !slices.Contains(lines, "root:x:0:0:root:/root:/bin/bash") && path == "etc/passwd" {
			t.Errorf("%s lost the base's rows:\n%s", path, f.Data)
		}
	}
	for path, want := range map[string][3]int64{"etc/passwd": {0o644, 0, 0}, "etc/group": {0o644, 0, 0}, "etc/shadow": {0o640, 0, 42}} {
		h := files[path].Header
		if h == nil {
			continue
		}
		if got := [3]int64{h.Mode & 0o7777, int64(h.Uid), int64(h.Gid)}; got != want {
			t.Errorf("%s mode, uid, gid = %o, %d, %d; want %o, %d, %d", path, got[0], got[1], got[2], want[0], want[1], want[2])
		}
	}
	if _, ok := files["nonexistent"]; ok {
		t.Errorf("appuser's home /nonexistent exists")
	}
	// /opt/venv and /app, owned by appuser.
	for _, dir := range []string{"opt/venv", "app"} {
		n := 0
		for path, f := range files {
			if path != dir && !strings.HasPrefix(path, dir+"/") {
				continue
			}
			n++
			if f.Header.Uid != 1000 || f.Header.Gid != 1000 {
				t.Errorf("%s owned by %d:%d, want 1000:1000", path, f.Header.Uid, f.Header.Gid)
			}
		}
		if n < 2 {
			t.Errorf("/%s has %d entries, want it and its contents", dir, n)
		}
	}
	if _, ok := files["opt/venv/bin/python3"]; !ok {
		t.Errorf("/opt/venv/bin/python3 missing")
	}
	// The venv holds the requirements alone: no pip, setuptools or wheel.
	for path := range files {
		if !strings.HasPrefix(path, "opt/venv/") {
			continue
		}
		for _, tool := range []string{"pip", "setuptools", "wheel"} {
			if strings.HasPrefix(path, "opt/venv/bin/"+tool) || strings.Contains(path, "/site-packages/"+tool+"/") || strings.Contains(path, "/site-packages/"+tool+"-") {
				t.Errorf("/%s is in the venv; the requirements do not need %s", path, tool)
			}
		}
	}
	// The folders the layers add to are the base's: root's, 0755.
	for _, dir := range []string{"opt", "etc"} {
		if h := files[dir].Header; h == nil || h.Uid != 0 || h.Gid != 0 || h.Mode&0o7777 != 0o755 {
			t.Errorf("/%s: want root:root 0755, got %v", dir, h)
		}
	}
	// Every file and directory the recipe adds has the fixed time.
	for _, dir := range []string{"opt", "opt/venv", "app", "etc"} {
		if h := files[dir].Header; h == nil || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("/%s: time not fixed at 1970-01-01: %v", dir, h)
		}
	}
	for _, path := range []string{"etc/passwd", "opt/venv/bin/python3", "app/app/__main__.py"} {
		if h := files[path].Header; h == nil || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("/%s: time not fixed at 1970-01-01: %v", path, h)
		}
	}
	// The context, minus .dockerignore.
	for _, p := range []string{"app/app/__main__.py", "app/requirements.txt"} {
		if _, ok := files[p]; !ok {
			t.Errorf("%s missing from /app", p)
		}
	}
	for _, p := range []string{"app/secret.env", "app/debug.log"} {
		if _, ok := files[p]; ok {
			t.Errorf("%s is in the image; .dockerignore excludes it", p)
		}
	}
	// Nothing of the builder but /opt/venv: no apk record, no compilers.
	for path := range files {
		if strings.HasPrefix(path, "var/lib/apk-standin") {
			t.Errorf("runtime has %s: apk ran in or leaked into the runtime stage", path)
		}
	}
}

func TestBuilderStageInstallsADRPackages(t *testing.T) {
	env := testenv.Get(t)
	dir := appContext(t)
	bctx, err := graph.LoadContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := recipes.PythonAlpine{}.BuilderStage(recipes.Inputs{Platform: testenv.Platform, Base: recipes.Base{Pin: env.Base}, Context: bctx})
	got, err := env.ReadFile(context.Background(), st, dir, "/var/lib/apk-standin/calls")
	if err != nil {
		t.Fatal(err)
	}
	// ADR-003's list (docs/adr-003.md), as the ADR writes it ("The builder
	// stage installs:"), not read from the recipe, so a change to the
	// recipe's list fails here.
	adr := []string{
		"gcc", "g++", "musl-dev", "libpq-dev", "postgresql-dev", // asyncpg
		"openssl-dev", "libffi-dev", // cryptography, argon2-cffi
		"openblas-dev", "lapack-dev", "gfortran", // numpy, pandas, scikit-learn
		"protobuf-dev",  // grpcio (OTel OTLP exporter)
		"linux-headers", // miscellaneous C extensions
	}
	want := "add --update-cache " + strings.Join(adr, " ") + "\n"
	if string(got) != want {
		t.Errorf("apk calls in the builder stage:\n got %q\nwant %q (exactly one call, ADR-003's packages)", got, want)
	}
}

func TestPushReachesRegistry(t *testing.T) {
	env := testenv.Get(t)
	ref := env.Registry + "/imagebuild-test/app:push"
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "-t", ref, "--push", "--source-date-epoch", "0")
	if code != 0 {
		t.Fatalf("build exited %d: %s", code, stderr)
	}
	img := testenv.RegistryImage(t, ref)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(stdout); got != d.String() {
		t.Errorf("registry has %s at %s, build printed %q", d, ref, got)
	}
	checkConfig(t, env, img, time.Unix(0, 0).UTC())
}

// failingContext is a context whose pip step fails at once: it asks for a
// package with no index to find it in.
func failingContext(t *testing.T) string {
	t.Helper()
	dir := appContext(t)
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("--no-index\nimagebuild-no-such-package==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// assertNoOutputs checks dir holds nothing but what was there before: no
// output and no partial file.
func assertNoOutputs(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s left in the output directory", e.Name())
	}
}

func TestFailedBuildWritesNothing(t *testing.T) {
	env := testenv.Get(t)
	out := t.TempDir()
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", failingContext(t),
		"--base", env.Base.String(), "--progress", "quiet",
		"-o", "type=oci,dest="+filepath.Join(out, "image.oci.tar"),
		"-o", "type=docker,dest="+filepath.Join(out, "image.docker.tar"),
		"-o", "type=oci,tar=false,dest="+filepath.Join(out, "layout"),
		"-o", "type=local,dest="+filepath.Join(out, "rootfs"),
		"--metadata-file", filepath.Join(out, "metadata.json"))
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := `imagebuild: step "builder: pip resolve -r requirements.txt" failed with exit code 1; run again with --progress plain to see its output`
	if strings.TrimSpace(stderr) != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	assertNoOutputs(t, out)
}

// TestFailedStepNamed: a failed step is named by its name and exit code,
// its output is in the progress, and its command line is not in the error.
func TestFailedStepNamed(t *testing.T) {
	env := testenv.Get(t)
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", failingContext(t),
		"--base", env.Base.String(), "--progress", "plain")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	want := `imagebuild: step "builder: pip resolve -r requirements.txt" failed with exit code 1; its output is in the progress above`
	if last != want {
		t.Errorf("last stderr line %q, want %q", last, want)
	}
	if !strings.Contains(stderr, "imagebuild-no-such-package") {
		t.Errorf("the progress does not show pip's output:\n%s", stderr)
	}
}

func TestInterruptedBuildWritesNothing(t *testing.T) {
	env := testenv.Get(t)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- (&app{recipes: recipes.All()}).run(ctx, []string{"build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
			"--base", env.Base.String(), "--progress", "plain", "--no-cache",
			"-o", "type=oci,dest=" + filepath.Join(out, "image.oci.tar")}, &stdout, &stderr)
	}()
	// Interrupt once the build is running steps (a --no-cache build runs
	// the venv and pip steps again, which take seconds).
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(stderr.String(), "python3 -m venv") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	err := <-done
	if err == nil {
		t.Fatalf("build finished before it could be interrupted")
	}
	if !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("build failed with %v, want it canceled", err)
	}
	assertNoOutputs(t, out)
}

// syncBuffer is a bytes.Buffer safe to read while a build writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestUnknownBaseDigest(t *testing.T) {
	env := testenv.Get(t)
	fake := env.Base.Name() + ":" + env.Base.Tag() + "@sha256:" + strings.Repeat("0", 64)
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", fake, "--progress", "quiet")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.HasPrefix(stderr, "imagebuild: pull "+fake+": ") || !strings.Contains(stderr, "check the image reference") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr = %q, want one error line naming the base and what to check", stderr)
	}
}

// TestConcurrentContexts builds two contexts with different files at once on
// one daemon: each image must hold its own context. (The daemon merges
// identical steps of concurrent builds; a context's step must not be one.)
func TestConcurrentContexts(t *testing.T) {
	env := testenv.Get(t)
	dirs := []string{appContext(t), appContext(t)}
	for i, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "which.txt"), []byte(fmt.Sprintf("context %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	errs := make(chan string, len(dirs))
	for i, d := range dirs {
		go func() {
			_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", d,
				"--base", env.Base.String(), "--progress", "quiet",
				"-o", fmt.Sprintf("type=oci,dest=%s/%d.tar", out, i))
			if code != 0 {
				errs <- stderr
				return
			}
			errs <- ""
		}()
	}
	for range dirs {
		if e := <-errs; e != "" {
			t.Fatalf("build failed: %s", e)
		}
	}
	for i := range dirs {
		files := testenv.Files(t, testenv.OCIImage(t, fmt.Sprintf("%s/%d.tar", out, i)))
		if got, want := string(files["app/which.txt"].Data), fmt.Sprintf("context %d\n", i); got != want {
			t.Errorf("image %d has /app/which.txt %q, want %q", i, got, want)
		}
	}
}
