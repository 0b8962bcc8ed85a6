package recipes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/graph"
)

// TestHashCheckingMode: a --hash on any line has pip check every line, so
// a file with one is locked whole or refused in one line naming each line
// that is not pinned with == and hashed; an unlocked file would otherwise
// have the build take what the index serves for the other lines, and for the
// hashed ones too (their hashes dropped, the file's pins fetched ahead).
func TestHashCheckingMode(t *testing.T) {
	a := strings.Repeat("ab", 32)
	zero := strings.Repeat("0", 64)
	tests := []struct {
		name    string
		file    string
		wantErr []string // each in the one error line; none for a locked file
	}{
		{name: "a wrong hash and a line without", file: "smalldep==1.0 --hash=sha256:" + zero + "\notherdep==1.0\n",
			wantErr: []string{"line 1 gives a --hash", "line 2 (otherdep==1.0)"}},
		{name: "a range", file: "hiredis>=2 --hash=sha256:" + a + "\n", wantErr: []string{"line 1 (hiredis>=2)"}},
		{name: "a wildcard", file: "hiredis==2.* --hash=sha256:" + a + "\n", wantErr: []string{"line 1 (hiredis==2.*)"}},
		{name: "a name alone among hashed lines", file: "hiredis==2.3.2 --hash=sha256:" + a + "\n\n# web\nflask\nasyncpg==0.30.0 \\\n  --hash=sha256:" + a + "\n",
			wantErr: []string{"line 4 (flask)"}},
		{name: "an included file", file: "-r base.txt\nhiredis==2.3.2 --hash=sha256:" + a + "\n", wantErr: []string{"line 1 (-r base.txt)"}},
		{name: "a constraints file", file: "-c constraints.txt\nhiredis==2.3.2 --hash=sha256:" + a + "\n", wantErr: []string{"line 1 (-c constraints.txt)"}},
		{name: "an editable", file: "-e ./lib\nhiredis==2.3.2 --hash=sha256:" + a + "\n", wantErr: []string{"line 1 (-e ./lib)"}},
		{name: "a direct reference", file: "pkg @ https://example.com/pkg-1.0.tar.gz\nhiredis==2.3.2 --hash=sha256:" + a + "\n", wantErr: []string{"line 1 (pkg @ https://example.com/pkg-1.0.tar.gz)"}},
		{name: "require-hashes alone", file: "--require-hashes\nhiredis==2.3.2\n", wantErr: []string{"line 1 gives --require-hashes", "line 2 (hiredis==2.3.2)"}},
		{name: "md5", file: "hiredis==2.3.2 --hash=md5:" + a[:32] + "\n", wantErr: []string{"line 1: --hash=md5:" + a[:32] + " is not sha256:"}},
		{name: "short sha256", file: "hiredis==2.3.2 --hash=sha256:abcd\n", wantErr: []string{"line 1: --hash=sha256:abcd is not sha256:"}},
		{name: "not hex", file: "hiredis==2.3.2 --hash=sha256:" + strings.Repeat("zz", 32) + "\n", wantErr: []string{"is not sha256:"}},
		{name: "a hash with no value", file: "hiredis==2.3.2 --hash\n", wantErr: []string{"line 1: --hash"}},
		{name: "hashed, with a local project", file: "./native\nhiredis==2.3.2 --hash=sha256:" + a + "\n"},
		{name: "hashed, === and options", file: "--index-url https://pypi.example.com/simple\n--require-hashes\nhiredis===2.3.2 --hash=sha256:" + a + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequirements([]byte(tt.file))
			if len(tt.wantErr) == 0 {
				if err != nil || !got.Locked {
					t.Fatalf("ParseRequirements = %+v, %v; want a locked file", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseRequirements = %+v (locked %v, pinned only %v), want an error", got, got.Locked, got.PinnedOnly)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") {
				t.Errorf("error of more than one line: %q", msg)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestIndexUserInfo: an index URL with any user info is refused, a token
// alone included, since the options are the pip steps' arguments: the
// graph, the daemon's history and provenance hold them.
func TestIndexUserInfo(t *testing.T) {
	for _, line := range []string{
		"--index-url https://s3cr3ttoken@pypi.example.com/simple",
		"-i https://s3cr3ttoken@pypi.example.com/simple",
		"--extra-index-url=https://s3cr3ttoken@pypi.example.com/simple",
		"--find-links https://s3cr3ttoken:@pypi.example.com/wheels",
		"-f https://__token__:s3cr3ttoken@pypi.example.com/wheels",
		"--index-url https://${PIP_s3cr3ttoken}@pypi.example.com/simple",
		"--index-url https://s3cr3t|token@pypi.example.com/simple",
	} {
		t.Run(line, func(t *testing.T) {
			_, err := ParseRequirements([]byte(line + "\nflask\n"))
			if err == nil {
				t.Fatal("ParseRequirements accepted it")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "line 1: ") || !strings.Contains(msg, PipConfSecret+" secret") || strings.Contains(msg, "s3cr3ttoken") {
				t.Errorf("error %q: want one naming line 1 and the %s secret, without the token", msg, PipConfSecret)
			}
		})
	}
	if _, err := ParseRequirements([]byte("--index-url https://pypi.example.com/simple\n-f ./wheels\nflask\n")); err != nil {
		t.Errorf("an index URL without user info: %v", err)
	}
}

// TestAheadChecksTheFileHashes: a pinned requirement the file gives hashes
// for, in a file that is still resolved (one name pinned twice), is fetched
// ahead with those hashes, so the step checks what it fetches, and its
// record is the set's only where it names one of them.
func TestAheadChecksTheFileHashes(t *testing.T) {
	a := strings.Repeat("ab", 32)
	ctx := contextWith(t, "requirements.txt", "hiredis==2.3.2 --hash=sha256:"+a+"\nHiredis==2.3.2 --hash=sha256:"+a+"\n")
	img, err := PythonSlim{}.Image(Inputs{Platform: amd64, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	x := img.Expand
	if x == nil || len(x.Ahead) != 1 {
		t.Fatalf("want a resolve step and one step ahead of it, got %+v", x)
	}
	img.Root, img.Expand = x.Ahead[0].Step, nil
	_, ops, _ := marshal(t, img)
	var reqs []string
	for _, e := range execs(ops) {
		if args := e.Meta.Args; len(args) > 5 && args[2] == "install" && args[len(args)-1] == aheadFile {
			reqs = append(reqs, args[3])
		}
	}
	if len(reqs) != 1 || !strings.Contains(reqs[0], "--hash=sha256:"+a) {
		t.Errorf("the step ahead fetches %q, want hiredis with the file's hash", reqs)
	}
	rec := func(sha string) []byte { return []byte(`{"sha256": "` + sha + `", "requires": []}`) }
	ahead := []aheadStep{{dist: Distribution{Name: "hiredis", Version: "2.3.2", Hashes: []string{a}}}}
	if _, ok := closed(ahead, readRecords([][]byte{rec(strings.Repeat("0", 64))})); ok {
		t.Error("closed took a file whose sha256 is not among the hashes the requirements give")
	}
	if dists, ok := closed(ahead, readRecords([][]byte{rec(a)})); !ok || len(dists) != 1 || dists[0].Hashes[0] != a {
		t.Errorf("closed = %+v, %v; want hiredis with its hash", dists, ok)
	}
}

// TestProjectBuiltWithTheFileOptions: a local project's step is given the
// requirements file's global options, with which its build requirements
// are installed, as a distribution's step is in its requirement.
func TestProjectBuiltWithTheFileOptions(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"requirements.txt":      "--index-url https://pypi.internal.example/simple\n--trusted-host pypi.internal.example\n./native\n",
		"native/pyproject.toml": "[build-system]\nrequires = [\"setuptools\", \"acme-buildtools\"]\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, err := graph.LoadContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := PythonSlim{}.Image(Inputs{Platform: amd64, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	_, ops, _ := marshal(t, img)
	var got [][]string
	for _, e := range execs(ops) {
		if args := e.Meta.Args; len(args) > 2 && args[2] == "project" {
			got = append(got, args[3:])
		}
	}
	want := [][]string{{projectMount, venvPython, "--index-url https://pypi.internal.example/simple\n--trusted-host pypi.internal.example"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("project step arguments (-want +got):\n%s", diff)
	}
}
