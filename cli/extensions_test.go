package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/verify"
	"github.com/moby/buildkit/client"
)

// These tests compile real C extensions from their upstream sdists
// (asyncpg 0.30.0 and hiredis 2.3.2, shared/real-sdists) with the
// python-slim recipe on the Debian test base, whose builder stage installs
// gcc and Debian's Python headers with apt-get. The python-alpine recipe's
// stand-in apk installs nothing, so compiling is tested on Debian only.

// slimCompile is python-slim with a compiler and the Python headers of the
// Debian test base, as a team registers such a recipe.
var slimCompile = recipes.Named("slim-compile", "python-slim with gcc and Debian's Python headers",
	recipes.PythonSlim{Packages: []string{"gcc", "libc6-dev", "python3-dev"}})

// buildCompiled runs `imagebuild build slim-compile` of ctxDir on the daemon
// at addr with the pip config pipconf, into the OCI tarball dest, with more
// flags, and returns stdout, stderr and the exit code.
func buildCompiled(t *testing.T, env *testenv.Env, addr, ctxDir, pipconf, dest string, flags ...string) (string, string, int) {
	t.Helper()
	args := append([]string{"build", "slim-compile", "--addr", addr, "--context", ctxDir, "--base", env.Base.String(),
		"--secret", "id=pipconf,src=" + pipconf, "--progress", "quiet", "--source-date-epoch", "1700000000",
		"-o", "type=oci,dest=" + dest}, flags...)
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, &stdout, &stderr, slimCompile)
	return stdout.String(), stderr.String(), code
}

// prune empties the whole cache of the daemon at addr, as a fresh CI
// runner's daemon starts.
func prune(t *testing.T, addr string) {
	t.Helper()
	c, err := client.New(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testenv.Prune(t, c)
}

// TestRealExtensionsReproducible compiles asyncpg and hiredis from their
// sdists twice, cold, on a daemon of the test's own whose whole cache is
// pruned in between (as two CI runners would): one digest, and
// --check-reproducible passes on the second. The image imports both as its
// own user and passes verify, its shared-library check on real ELF files.
func TestRealExtensionsReproducible(t *testing.T) {
	env := testenv.Get(t)
	d := testenv.StartTLSDaemon(t)
	addr := "unix://" + d.Socket
	pipconf := testenv.PipConf(t, testenv.RealIndex(t))
	ctxDir := testenv.ExampleContext(t, "asyncpg==0.30.0\nhiredis==2.3.2\n")
	out := t.TempDir()

	first := filepath.Join(out, "first.oci.tar")
	stdout, stderr, code := buildCompiled(t, env, addr, ctxDir, pipconf, first)
	if code != 0 {
		t.Fatalf("first cold build exited %d\n%s", code, stderr)
	}
	digest1 := strings.TrimSpace(stdout)

	prune(t, addr)
	second := filepath.Join(out, "second.oci.tar")
	ref := env.Registry + "/imagebuild-test/real-extensions:1"
	stdout, stderr, code = buildCompiled(t, env, addr, ctxDir, pipconf, second, "--check-reproducible", "-t", ref, "--push")
	if code != 0 {
		t.Fatalf("second cold build with --check-reproducible exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if digest2 := lines[len(lines)-1]; digest2 != digest1 {
		t.Errorf("two cold builds on a pruned daemon: %s and %s, want one digest", digest1, digest2)
	}

	img := testenv.OCIImage(t, second)
	files := testenv.Files(t, img)
	for _, want := range []string{"asyncpg/protocol/protocol.cpython-311-x86_64-linux-gnu.so", "hiredis/hiredis.cpython-311-x86_64-linux-gnu.so"} {
		p := "opt/venv/lib/python3.11/site-packages/" + want
		f, ok := files[p]
		// Files holds the content of files up to 1 MiB only.
		if !ok || f.Header.Size == 0 || (f.Data != nil && !strings.HasPrefix(string(f.Data), "\x7fELF")) {
			t.Errorf("the image has no compiled /%s", p)
		}
	}
	for p, f := range files {
		if strings.HasSuffix(p, "direct_url.json") {
			t.Errorf("/%s records where pip installed from: %s", p, f.Data)
		}
	}
	report, err := verify.Image(context.Background(), testenv.OCIImage(t, second), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	report.WriteText(&b)
	text := b.String()
	if !report.Passed() || !strings.Contains(text, "pass shared libraries") {
		t.Errorf("verify on the compiled extensions (want every check passed, the shared-library check on ELF files):\n%s", text)
	}
	for _, want := range []string{"pass venv layers", "pip: asyncpg 0.30.0: ", "pip: hiredis 2.3.2: "} {
		if !strings.Contains(text, want) {
			t.Errorf("verify does not show %q: the venv's layers by name\n%s", want, text)
		}
	}

	got, err := env.Run(context.Background(), ref, "python", "-c",
		"import os, asyncpg, asyncpg.protocol.protocol, hiredis; r = hiredis.Reader(); r.feed(b'+ok\\r\\n'); print(os.getuid(), asyncpg.__version__, r.gets())")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := "1000 0.30.0 b'ok'"; strings.TrimSpace(got) != want {
		t.Errorf("the image printed %q, want %q", got, want)
	}
}

// TestCheckReproducibleRebuildsCompiles: a compile that is not
// reproducible (this sdist writes random bytes into the extension) is
// caught by --check-reproducible even though the first build left its
// downloads in pip's cache: the second build compiles again.
func TestCheckReproducibleRebuildsCompiles(t *testing.T) {
	env := testenv.Get(t)
	src := t.TempDir()
	for name, content := range map[string]string{
		"setup.py": `import os
from setuptools import Extension, setup

with open("salt.h", "w") as f:
    f.write('#define SALT "%s"\n' % os.urandom(8).hex())
setup(name="imagebuild-salted", version="1.0", ext_modules=[Extension("imagebuild_salted", sources=["salted.c"])])
`,
		"salted.c": `#include <Python.h>
#include "salt.h"
static PyObject *salt(PyObject *self, PyObject *args) { return PyUnicode_FromString(SALT); }
static PyMethodDef methods[] = {{"salt", salt, METH_NOARGS, ""}, {0}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "imagebuild_salted", 0, -1, methods};
PyMODINIT_FUNC PyInit_imagebuild_salted(void) { return PyModule_Create(&module); }
`,
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name, sdist := testenv.Sdist(t, src, "imagebuild-salted", "1.0", nil)
	files := testenv.BuildBackend(t)
	files[name] = sdist
	pipconf := testenv.PipConf(t, []byte("[global]\nindex-url = http://ci:salt@"+testenv.PrivateIndex(t, "salt", files)+"/simple/\n"))
	ctxDir := testenv.ExampleContext(t, "imagebuild-salted==1.0\n")
	out := t.TempDir()
	stdout, stderr, code := buildCompiled(t, env, env.Addr, ctxDir, pipconf, filepath.Join(out, "image.oci.tar"), "--check-reproducible")
	if code != 1 {
		t.Fatalf("exit code %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "imagebuild_salted.cpython-311-x86_64-linux-gnu.so") || !strings.Contains(stderr, "not reproducible") {
		t.Errorf("the check does not name the extension that differs\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	assertNoOutputs(t, out)
}
