package cli

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// These tests build the app of recipes/testdata/lockfiles from its lock
// files (uv.lock, pylock.toml, and poetry.lock of Poetry 1.x and 2.1) and
// from the hashed requirements file `uv export --no-dev --no-emit-project`
// gives for it: hiredis 2.3.2 (an sdist, compiled), ibdemo-core 1.0 (a
// wheel and an sdist) and, under markers false on the test base (Python
// 3.11 on amd64), ibdemo-arm and ibdemo-old.

// lockFixtures is recipes/testdata/lockfiles.
var lockFixtures = filepath.Join("..", "recipes", "testdata", "lockfiles")

// lockedRequirements is the hashed requirements file equivalent to the
// fixtures' locks.
const lockedRequirements = `hiredis==2.3.2 \
    --hash=sha256:733e2456b68f3f126ddaf2cd500a33b25146c3676b97ea843665717bda0c5d43
ibdemo-arm==1.0 ; platform_machine == "aarch64" \
    --hash=sha256:b9bd5222e8e9871f41bef683d53a6818a6b073217151e9dabacbcc37770e1024
ibdemo-core==1.0 \
    --hash=sha256:4b11052c467cd2b0468b47b2f9c703f793ad385ef031f29f2123cd28b2ec2317 \
    --hash=sha256:f6a7f01dbef2e62112f0b607c0b44a4c58a73e1dc7fc5fb2d6694dc48e2df5e8
ibdemo-old==1.0 ; python_version < "3.10" \
    --hash=sha256:0e7151c86915ef461ed6034bb0ba80fc39bab81a84262cc4a44e326766adef69
`

// lockIndex serves the real sdists and the fixtures' distributions.
func lockIndex(t *testing.T) *testenv.RealIndexServer {
	t.Helper()
	idx := testenv.ServeRealIndex(t)
	entries, err := os.ReadDir(filepath.Join(lockFixtures, "index"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		dt, err := os.ReadFile(filepath.Join(lockFixtures, "index", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		idx.Add(e.Name(), dt)
	}
	return idx
}

// lockAppContext is the example's app with the files of the fixture dir
// (a lock and its pyproject.toml) in place of its requirements file, each
// through edit when given.
func lockAppContext(t *testing.T, dir string, edit func(name string, dt []byte) []byte) string {
	t.Helper()
	ctxDir := testenv.ExampleContext(t, "")
	if err := os.Remove(filepath.Join(ctxDir, "requirements.txt")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(lockFixtures, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		dt, err := os.ReadFile(filepath.Join(lockFixtures, dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			dt = edit(e.Name(), dt)
		}
		if err := os.WriteFile(filepath.Join(ctxDir, e.Name()), dt, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ctxDir
}

// venvFiles is /opt/venv of the OCI tarball at dest, each entry as its
// mode, owner, size and content's sha256.
func venvFiles(t *testing.T, dest string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p, f := range testenv.Files(t, testenv.OCIImage(t, dest)) {
		if !strings.HasPrefix(p, "opt/venv/") {
			continue
		}
		h := f.Header
		out[p] = fmt.Sprintf("%o %d:%d %d %x %s", h.Mode, h.Uid, h.Gid, h.Size, sha256.Sum256(f.Data), h.Linkname)
	}
	return out
}

// TestLockFilesBuildTheVenvOfTheirExport builds the app from each lock
// format and from the equivalent hashed requirements file, on the Debian
// test base: the same /opt/venv, file for file, with hiredis compiled and
// ibdemo-core's wheel installed, and nothing of what the markers exclude
// on this platform.
func TestLockFilesBuildTheVenvOfTheirExport(t *testing.T) {
	env := testenv.Get(t)
	pipconf := testenv.PipConf(t, lockIndex(t).PipConf())
	out := t.TempDir()

	build := func(t *testing.T, ctxDir, name string) map[string]string {
		t.Helper()
		dest := filepath.Join(out, name+".oci.tar")
		if _, stderr, code := buildCompiled(t, env, env.Addr, ctxDir, pipconf, dest); code != 0 {
			t.Fatalf("build from %s: exit %d\n%s", name, code, stderr)
		}
		return venvFiles(t, dest)
	}
	want := build(t, testenv.ExampleContext(t, lockedRequirements), "requirements")
	for _, p := range []string{
		"opt/venv/lib/python3.11/site-packages/hiredis/hiredis.cpython-311-x86_64-linux-gnu.so",
		"opt/venv/lib/python3.11/site-packages/ibdemo_core/__init__.py",
		"opt/venv/lib/python3.11/site-packages/ibdemo_core-1.0.dist-info/WHEEL",
	} {
		if _, ok := want[p]; !ok {
			t.Errorf("the venv from the requirements file has no /%s", p)
		}
	}
	for p := range want {
		if strings.Contains(p, "ibdemo_old") || strings.Contains(p, "ibdemo_arm") || strings.Contains(p, "ibdemo_dev") {
			t.Errorf("the venv holds /%s, which its marker or group excludes on linux/amd64 with Python 3.11", p)
		}
	}
	for _, dir := range []string{"uv", "pylock", "poetry", "poetry2"} {
		t.Run(dir, func(t *testing.T) {
			got := build(t, lockAppContext(t, dir, nil), dir)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("/opt/venv from %s and from the requirements file (-requirements +lock):\n%s", dir, diff)
			}
		})
	}
}

// TestLockThatLies: a lock whose hash of a file is not the file's fails
// the build in one line naming the distribution's step, and writes no
// image.
func TestLockThatLies(t *testing.T) {
	env := testenv.Get(t)
	pipconf := testenv.PipConf(t, lockIndex(t).PipConf())
	const coreWheel = "f6a7f01dbef2e62112f0b607c0b44a4c58a73e1dc7fc5fb2d6694dc48e2df5e8"
	const coreSdist = "4b11052c467cd2b0468b47b2f9c703f793ad385ef031f29f2123cd28b2ec2317"
	lie := strings.Repeat("ab", 32)
	ctxDir := lockAppContext(t, "uv", func(name string, dt []byte) []byte {
		if name != "uv.lock" {
			return dt
		}
		if !bytes.Contains(dt, []byte(coreWheel)) || !bytes.Contains(dt, []byte(coreSdist)) {
			t.Fatal("uv.lock does not lock ibdemo-core's files")
		}
		return bytes.ReplaceAll(bytes.ReplaceAll(dt, []byte(coreWheel), []byte(lie)), []byte(coreSdist), []byte(lie))
	})
	dest := filepath.Join(t.TempDir(), "image.oci.tar")
	stdout, stderr, code := buildCompiled(t, env, env.Addr, ctxDir, pipconf, dest)
	if code != 1 || !strings.Contains(stderr, "builder: pip wheel and install ibdemo-core 1.0") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stdout != "" {
		t.Errorf("a lock that lies: exit %d, want 1 and one line naming ibdemo-core's step\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("a failed build left %s (%v)", dest, err)
	}
	// The step's output says why: the file is not the one the lock names.
	_, stderr, _ = buildCompiled(t, env, env.Addr, ctxDir, pipconf, dest, "--progress", "plain")
	if !strings.Contains(stderr, "ibdemo_core-1.0-py3-none-any.whl has sha256 f6a7f01dbef2e62112f0b607c0b44a4c58a73e1dc7fc5fb2d6694dc48e2df5e8, not a hash the requirements give for it") {
		t.Errorf("the failed step's output does not say that the files do not match the lock's hashes:\n%s", stderr)
	}
}

// TestLockFileLLB: imagebuild llb on a context with a lock (found without
// naming it) prints the whole graph, a step for each distribution of the
// lock's default set, with no daemon.
func TestLockFileLLB(t *testing.T) {
	for _, dir := range []string{"uv", "pylock", "poetry", "poetry2"} {
		t.Run(dir, func(t *testing.T) {
			stdout, stderr, code := cliNoDaemon(t, "llb", "python-slim", "--context", lockAppContext(t, dir, nil), "--platform", "linux/amd64")
			if code != 0 {
				t.Fatalf("llb: exit %d\n%s", code, stderr)
			}
			def, err := llb.ReadFrom(strings.NewReader(stdout))
			if err != nil {
				t.Fatal(err)
			}
			g, err := graph.Decode(def)
			if err != nil {
				t.Fatal(err)
			}
			var steps []string
			for d := range g.All() {
				if name := g.Name(d); strings.HasPrefix(name, "builder: pip ") {
					steps = append(steps, name)
				}
			}
			slices.Sort(steps)
			want := []string{
				"builder: pip wheel and install hiredis 2.3.2",
				"builder: pip wheel and install ibdemo-arm 1.0",
				"builder: pip wheel and install ibdemo-core 1.0",
				"builder: pip wheel and install ibdemo-old 1.0",
			}
			if diff := cmp.Diff(want, steps); diff != "" {
				t.Errorf("the pip steps of the graph (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLockFileTwoPlatforms builds one pylock.toml for linux/amd64 and
// linux/arm64 (under emulation) from one index: each platform's image
// gets its own wheel of ibdemo-native (the lock lists one a platform),
// and ibdemo-arm, under platform_machine == "aarch64", only on arm64.
// The lock lists wheels alone (ibdemo-core's sdist taken out): nothing
// compiles, and neither builder stage installs build dependencies.
func TestLockFileTwoPlatforms(t *testing.T) {
	env := testenv.Get(t)
	env.NeedArm64(t)
	pipconf := testenv.PipConf(t, lockIndex(t).PipConf())
	ctxDir := wheelsOnlyPylock(t)
	tarball := filepath.Join(t.TempDir(), "image.oci.tar")
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "rawjson", "--secret", "id=pipconf,src="+pipconf,
		"--platform", "linux/amd64,linux/arm64", "-o", "type=oci,dest="+tarball)
	if code != 0 {
		t.Fatalf("two-platform build exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, lastLines(stderr, 10))
	}
	steps := progressSteps(t, stderr)
	if _, ok := steps["builder: pip wheel and install ibdemo-native 1.0"]; !ok {
		t.Errorf("the progress shows no step of ibdemo-native: %v", slices.Sorted(maps.Keys(steps)))
	}
	for name := range steps {
		if strings.Contains(name, "install build dependencies") {
			t.Errorf("the step %q ran, and nothing compiles", name)
		}
	}
	idx, err := oci.OpenTarball(tarball, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const site = "opt/venv/lib/python3.11/site-packages/"
	for _, tt := range []struct {
		p         ocispecs.Platform
		arch, tag string
		arm       bool
	}{
		{p: testenv.Platform, arch: "x86_64", tag: "py3-none-manylinux_2_17_x86_64"},
		{p: testenv.Arm64, arch: "aarch64", tag: "py3-none-manylinux_2_17_aarch64", arm: true},
	} {
		t.Run(tt.p.Architecture, func(t *testing.T) {
			img, err := oci.Image(idx, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			files := testenv.Files(t, img)
			if got, want := string(files[site+"ibdemo_native/__init__.py"].Data), "ARCH = '"+tt.arch+"'\n"; got != want {
				t.Errorf("ibdemo_native/__init__.py = %q, want %q: the other platform's wheel", got, want)
			}
			if wheel := string(files[site+"ibdemo_native-1.0.dist-info/WHEEL"].Data); !strings.Contains(wheel, "Tag: "+tt.tag+"\n") {
				t.Errorf("ibdemo_native's WHEEL:\n%s\nwant the tag %s", wheel, tt.tag)
			}
			if _, ok := files[site+"ibdemo_arm/__init__.py"]; ok != tt.arm {
				t.Errorf("ibdemo_arm installed: %v, want %v (its marker is platform_machine == \"aarch64\")", ok, tt.arm)
			}
			if _, ok := files[site+"ibdemo_core/__init__.py"]; !ok {
				t.Error("ibdemo_core is not installed")
			}
		})
	}
}

// TestStaleLockRefused: a lock out of date with pyproject.toml is a usage
// error in one line, before a daemon is contacted, for build and llb.
func TestStaleLockRefused(t *testing.T) {
	for _, tt := range []struct{ dir, old, new, want string }{
		{dir: "uv", old: `"hiredis==2.3.2"`, new: `"hiredis==2.3.3"`,
			want: "Requirements: uv.lock: out of date with pyproject.toml: pyproject.toml's dependencies has hiredis[]==2.3.3, which the lock does not record; run uv lock"},
		{dir: "poetry", old: `hiredis = "2.3.2"`, new: `hiredis = "2.3.3"`,
			want: "Requirements: poetry.lock: out of date with pyproject.toml: its content-hash is not that of pyproject.toml's dependencies; run poetry lock"},
	} {
		t.Run(tt.dir, func(t *testing.T) {
			ctxDir := lockAppContext(t, tt.dir, func(name string, dt []byte) []byte {
				if name != "pyproject.toml" {
					return dt
				}
				if !bytes.Contains(dt, []byte(tt.old)) {
					t.Fatalf("pyproject.toml has no %s", tt.old)
				}
				return bytes.Replace(dt, []byte(tt.old), []byte(tt.new), 1)
			})
			for _, args := range [][]string{
				{"build", "python-slim", "--addr", "{addr}", "--context", ctxDir, "-o", "type=oci,dest=" + filepath.Join(t.TempDir(), "image.oci.tar")},
				{"llb", "python-slim", "--context", ctxDir, "--platform", "linux/amd64"},
			} {
				stdout, stderr, code := cliNoDaemon(t, args...)
				if code != 2 || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
					t.Errorf("%s: exit %d, want 2 and one line with %q:\n%s", args[0], code, tt.want, stderr)
				}
			}
		})
	}
}

// wheelsOnlyPylock is the pylock fixture's app whose lock lists wheels
// alone: ibdemo-native in the default set, and hiredis out, which arm64
// would compile.
func wheelsOnlyPylock(t *testing.T) string {
	t.Helper()
	return lockAppContext(t, "pylock", func(name string, dt []byte) []byte {
		s := strings.Replace(string(dt), `marker = "'native' in extras and sys_platform == 'linux'"`, `marker = "sys_platform == 'linux'"`, 1)
		i := strings.Index(s, "[[packages]]\nname = \"hiredis\"")
		j := strings.Index(s, "[[packages]]\nname = \"ibdemo-arm\"")
		k := strings.Index(s, "sdist = { name = \"ibdemo_core-1.0.tar.gz\"")
		if i < 0 || j < i || k < 0 || s == string(dt) {
			t.Fatal("pylock.toml: not the fixture this test edits")
		}
		s = s[:k] + s[k+strings.Index(s[k:], "\n")+1:]
		i = strings.Index(s, "[[packages]]\nname = \"hiredis\"")
		j = strings.Index(s, "[[packages]]\nname = \"ibdemo-arm\"")
		return []byte(s[:i] + s[j:])
	})
}
