package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/verify"
	"github.com/moby/buildkit/client"
)

// These tests build linux/arm64 images on this amd64 machine with the
// python-slim recipe on the Debian test base: the venv's steps run on
// amd64, with Debian's cross compiler and the arm64 libraries and Python
// headers installed through multiarch; QEMU runs only what cannot be
// cross-built, and the image itself, in the test.

// realLocked is a requirements file that pins asyncpg 0.30.0 and hiredis
// 2.3.2 with the sha256 of their sdists (shared/real-sdists): a locked
// build.
func realLocked(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, f := range []struct{ name, file string }{{"asyncpg==0.30.0", "asyncpg-0.30.0.tar.gz"}, {"hiredis==2.3.2", "hiredis-2.3.2.tar.gz"}} {
		dt, err := os.ReadFile(filepath.Join(testenv.RealSdistsDir(), f.file))
		if err != nil {
			testenv.Unavailable(t, "the real sdists: %v", err)
		}
		sum := sha256.Sum256(dt)
		fmt.Fprintf(&b, "%s --hash=sha256:%s\n", f.name, hex.EncodeToString(sum[:]))
	}
	return b.String()
}

// machineOf is the e_machine of a little-endian ELF file's header, 0 for
// anything else.
func machineOf(dt []byte) uint16 {
	if len(dt) < 20 || string(dt[:4]) != "\x7fELF" || dt[5] != 1 {
		return 0
	}
	return uint16(dt[18]) | uint16(dt[19])<<8
}

var elfAarch64 = elfMachine["arm64"]

// TestCrossBuild compiles asyncpg and hiredis from their sdists for
// linux/arm64, locked, on a daemon of the test's own: cross-compiled, no
// step of the venv run under emulation. Two cold builds (the daemon's
// whole cache pruned in between) give one digest; the extensions are
// aarch64 code, the image passes verify (its shared-library closure) and,
// run under QEMU as its own user, imports both.
func TestCrossBuild(t *testing.T) {
	env := testenv.Get(t)
	env.NeedArm64(t)
	d := testenv.StartTLSDaemon(t)
	addr := "unix://" + d.Socket
	pipconf := testenv.PipConf(t, testenv.RealIndex(t))
	ctxDir := testenv.ExampleContext(t, realLocked(t))
	out := t.TempDir()
	ref := env.Registry + "/imagebuild-test/cross:1"

	first := filepath.Join(out, "first.oci.tar")
	stdout, stderr, code := buildCompiled(t, env, addr, ctxDir, pipconf, first, "--platform", "linux/arm64", "--progress", "rawjson")
	if code != 0 {
		t.Fatalf("first cold build exited %d\n%s", code, lastLines(stderr, 30))
	}
	steps := slices.Sorted(maps.Keys(progressSteps(t, stderr)))
	for _, want := range []string{
		"builder: install build dependencies for linux/arm64 on linux/amd64, cross",
		"builder: pip wheel and install asyncpg 0.30.0 for linux/arm64, cross",
		"builder: pip wheel and install hiredis 2.3.2 for linux/arm64, cross",
	} {
		if !slices.Contains(steps, want) {
			t.Errorf("the progress shows no step %q:\n%s", want, strings.Join(steps, "\n"))
		}
	}
	for _, s := range steps {
		if s == "builder: install build dependencies" || strings.HasPrefix(s, "builder: pip wheel and install") && !strings.HasSuffix(s, ", cross") {
			t.Errorf("the step %q ran under emulation", s)
		}
	}
	digest1 := strings.TrimSpace(stdout)

	prune(t, addr)
	second := filepath.Join(out, "second.oci.tar")
	stdout, stderr, code = buildCompiled(t, env, addr, ctxDir, pipconf, second, "--platform", "linux/arm64", "-t", ref, "--push")
	if code != 0 {
		t.Fatalf("second cold build exited %d\n%s", code, lastLines(stderr, 30))
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if digest2 := lines[len(lines)-1]; digest2 != digest1 {
		t.Errorf("two cold cross builds on a pruned daemon: %s and %s, want one digest", digest1, digest2)
	}

	img := testenv.OCIImage(t, second)
	files := testenv.Files(t, img)
	const site = "opt/venv/lib/python3.11/site-packages/"
	for _, so := range []string{"asyncpg/protocol/protocol.cpython-311-aarch64-linux-gnu.so", "hiredis/hiredis.cpython-311-aarch64-linux-gnu.so"} {
		f, ok := files[site+so]
		// Files holds the content of files up to 1 MiB only.
		if !ok || f.Header.Size == 0 || (f.Data != nil && machineOf(f.Data) != elfAarch64) {
			t.Errorf("the image has no aarch64 /%s%s", site, so)
		}
	}
	if f := files[site+"hiredis/hiredis.cpython-311-aarch64-linux-gnu.so"]; f.Data == nil {
		t.Error("hiredis's extension is not read: its machine is not checked")
	}
	report, err := verify.Image(context.Background(), img, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	report.WriteText(&b)
	if text := b.String(); !report.Passed() || !strings.Contains(text, "pass shared libraries") {
		t.Errorf("verify on the cross-built extensions (want every check passed, the shared-library check on ELF files):\n%s", text)
	}

	got, err := env.RunOn(context.Background(), ref, testenv.Arm64, "python", "-c",
		"import os, platform, asyncpg, asyncpg.protocol.protocol, hiredis; r = hiredis.Reader(); r.feed(b'+ok\\r\\n'); print(os.getuid(), platform.machine(), asyncpg.__version__, r.gets())")
	if err != nil {
		t.Fatalf("run under QEMU: %v", err)
	}
	if want := "1000 aarch64 0.30.0 b'ok'"; strings.TrimSpace(got) != want {
		t.Errorf("the arm64 image printed %q, want %q", got, want)
	}
}

// TestCrossFallsBackToEmulation: an sdist whose build ignores the cross
// compiler (its setup.py calls gcc, the builder's own, which the cross
// stage does not install) cannot be cross-built; the build takes that
// distribution alone under emulation, saying so and why. The image holds
// its arm64 extension, and the other distribution's cross-built files.
// (A build that gives the builder's machine code instead is refused by
// the script's check_machine: test_imagebuild_pip.py.)
func TestCrossFallsBackToEmulation(t *testing.T) {
	env := testenv.Get(t)
	env.NeedArm64(t)
	src := t.TempDir()
	for name, content := range map[string]string{
		"setup.py": `from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class native_gcc(build_ext):
    # The builder's own compiler, whatever CC says: not cross-buildable.
    def build_extensions(self):
        self.compiler.set_executables(compiler_so="gcc -fPIC", linker_so="gcc -shared")
        super().build_extensions()


setup(name="imagebuild-nocross", version="1.0", cmdclass={"build_ext": native_gcc},
      ext_modules=[Extension("imagebuild_nocross", sources=["nocross.c"])])
`,
		// A new sdist each run, so that its steps run and print.
		"nocross.c": "/* " + t.Name() + " " + time.Now().Format(time.RFC3339Nano) + " */\n" + `#include <Python.h>
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "imagebuild_nocross", 0, -1, 0};
PyMODINIT_FUNC PyInit_imagebuild_nocross(void) { return PyModule_Create(&module); }
`,
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name, sdist := testenv.Sdist(t, src, "imagebuild-nocross", "1.0", nil)
	files := testenv.BuildBackend(t)
	files[name] = sdist
	sum := sha256.Sum256(sdist)
	hiredis, err := os.ReadFile(filepath.Join(testenv.RealSdistsDir(), "hiredis-2.3.2.tar.gz"))
	if err != nil {
		testenv.Unavailable(t, "the real sdists: %v", err)
	}
	files["hiredis-2.3.2.tar.gz"] = hiredis
	hsum := sha256.Sum256(hiredis)
	pipconf := testenv.PipConf(t, []byte("[global]\nindex-url = http://ci:nocross@"+testenv.PrivateIndex(t, "nocross", files)+"/simple/\n"))
	ctxDir := testenv.ExampleContext(t, fmt.Sprintf("hiredis==2.3.2 --hash=sha256:%s\nimagebuild-nocross==1.0 --hash=sha256:%s\n",
		hex.EncodeToString(hsum[:]), hex.EncodeToString(sum[:])))
	tarball := filepath.Join(t.TempDir(), "image.oci.tar")
	_, stderr, code := buildCompiled(t, env, env.Addr, ctxDir, pipconf, tarball, "--platform", "linux/arm64", "--progress", "rawjson")
	if code != 0 {
		t.Fatalf("build exited %d\n%s", code, lastLines(stderr, 30))
	}
	steps := progressSteps(t, stderr)
	for _, want := range []string{
		"builder: pip wheel and install hiredis 2.3.2 for linux/arm64, cross",
		"builder: pip wheel and install imagebuild-nocross 1.0 for linux/arm64, cross",
		"builder: install build dependencies",
		"builder: pip wheel and install imagebuild-nocross 1.0, under emulation: it cannot be cross-built",
	} {
		if _, ok := steps[want]; !ok {
			t.Errorf("the progress shows no step %q: %v", want, slices.Sorted(maps.Keys(steps)))
		}
	}
	if _, ok := steps["builder: pip wheel and install hiredis 2.3.2"]; ok {
		t.Error("hiredis, which cross-builds, was built under emulation too")
	}
	if logs := progressLogs(t, stderr); !regexp.MustCompile(`(?m)^imagebuild: imagebuild-nocross==1\.0 cannot be cross-built \(.+\); the build takes it under emulation$`).MatchString(logs) {
		var said []string
		for line := range strings.Lines(logs) {
			if strings.HasPrefix(line, "imagebuild: ") {
				said = append(said, line)
			}
		}
		t.Errorf("the build does not say which distribution it took under emulation, and why:\n%s", strings.Join(said, ""))
	}
	got := testenv.Files(t, testenv.OCIImage(t, tarball))
	const site = "opt/venv/lib/python3.11/site-packages/"
	for _, so := range []string{"imagebuild_nocross.cpython-311-aarch64-linux-gnu.so", "hiredis/hiredis.cpython-311-aarch64-linux-gnu.so"} {
		if m := machineOf(got[site+so].Data); m != elfAarch64 {
			t.Errorf("/%s%s: ELF machine %d, want aarch64's %d", site, so, m, elfAarch64)
		}
	}
}

// progressLogs is what the steps printed, from rawjson progress.
func progressLogs(t *testing.T, stderr string) string {
	t.Helper()
	var b strings.Builder
	for line := range strings.Lines(stderr) {
		var s client.SolveStatus
		if json.Unmarshal([]byte(line), &s) != nil {
			continue
		}
		for _, l := range s.Logs {
			b.Write(l.Data)
		}
	}
	return b.String()
}

// TestCrossFromTheDaemonsMachine: the machine a build cross-compiles from
// is the daemon's, asked once the build connects, not the client's. A
// daemon whose own platform is linux/arm64 (its worker given that one
// platform; its steps run under QEMU here) builds an arm64 image of a
// lock of wheels on arm64, nothing cross; this machine's amd64 daemon
// cross-builds the same lock, the wheels chosen by arm64's tags. Both
// images hold arm64's wheel.
func TestCrossFromTheDaemonsMachine(t *testing.T) {
	env := testenv.Get(t)
	env.NeedArm64(t)
	arm := testenv.StartTLSDaemon(t, "--oci-worker-platform", "linux/arm64")
	pipconf := testenv.PipConf(t, lockIndex(t).PipConf())
	ctxDir := wheelsOnlyPylock(t)
	for _, tt := range []struct {
		name, addr string
		cross      bool
	}{
		{"an arm64 daemon", "unix://" + arm.Socket, false},
		{"this machine's daemon", env.Addr, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tarball := filepath.Join(t.TempDir(), "image.oci.tar")
			_, stderr, code := cli(t, "build", "python-slim", "--addr", tt.addr, "--context", ctxDir,
				"--base", env.Base.String(), "--progress", "rawjson", "--secret", "id=pipconf,src="+pipconf,
				"--platform", "linux/arm64", "-o", "type=oci,dest="+tarball)
			if code != 0 {
				t.Fatalf("build exited %d\n%s", code, lastLines(stderr, 20))
			}
			steps := progressSteps(t, stderr)
			want := "builder: pip wheel and install ibdemo-native 1.0"
			if tt.cross {
				want += " for linux/arm64, cross"
			}
			if _, ok := steps[want]; !ok {
				t.Errorf("the progress shows no step %q: %v", want, slices.Sorted(maps.Keys(steps)))
			}
			for name := range steps {
				if strings.HasSuffix(name, ", cross") != tt.cross && strings.HasPrefix(name, "builder: pip wheel and install") {
					t.Errorf("the step %q ran on %s", name, tt.name)
				}
			}
			files := testenv.Files(t, testenv.OCIImage(t, tarball))
			if got := string(files["opt/venv/lib/python3.11/site-packages/ibdemo_native/__init__.py"].Data); got != "ARCH = 'aarch64'\n" {
				t.Errorf("ibdemo_native/__init__.py = %q, want arm64's wheel", got)
			}
		})
	}
}
