package pins

import (
	"go/format"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/ref"
)

var (
	hex1 = strings.Repeat("1", 64)
	hex2 = strings.Repeat("2", 64)
	hex3 = strings.Repeat("3", 64)
)

const src = `package recipes

import "github.com/imagebuild/imagebuild/ref"

const (
	// A is one pin.
	A ref.Pin = "docker.io/library/python:3.12-alpine@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	// B is another.
	B ref.Pin = "docker.io/library/python:3.12-slim@sha256:2222222222222222222222222222222222222222222222222222222222222222"
	other = "docker.io/library/python:3.12-alpine@sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

var V ref.Pin = "docker.io/library/python:3.12-alpine@sha256:1111111111111111111111111111111111111111111111111111111111111111"
`

func TestReadAndReplace(t *testing.T) {
	formatted, err := format.Source([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	src := string(formatted)
	decls, err := Read("pins.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range decls {
		names = append(names, d.Name)
	}
	if diff := cmp.Diff([]string{"A", "B"}, names); diff != "" {
		t.Errorf("pins read (-want +got):\n%s", diff)
	}
	if decls[0].Line != 7 || decls[0].File != "pins.go" {
		t.Errorf("A read at %s:%d, want pins.go:7", decls[0].File, decls[0].Line)
	}
	old := decls[0].Value
	to := ref.Pin(strings.Replace(string(old), hex1, hex3, 1))
	out, err := Replace("pins.go", []byte(src), map[ref.Pin]ref.Pin{old: to})
	if err != nil {
		t.Fatal(err)
	}
	// The constant is rewritten; the untyped constant and the variable of
	// the same value are not pin constants and stay.
	want := strings.Replace(src, string(old), string(to), 1)
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("Replace (-want +got):\n%s", diff)
	}
}

// TestReplaceKeepsShortForm: a pin written short is found by its
// normalized value and keeps its form; only the digest changes.
func TestReplaceKeepsShortForm(t *testing.T) {
	short := "package p\n\nimport ib \"github.com/imagebuild/imagebuild/ref\"\n\nconst Base ib.Pin = \"python:3.12-alpine@sha256:" + hex1 + "\"\n"
	from := ref.Pin("docker.io/library/python:3.12-alpine@sha256:" + hex1)
	to := ref.Pin("docker.io/library/python:3.12-alpine@sha256:" + hex2)
	out, err := Replace("p.go", []byte(short), map[ref.Pin]ref.Pin{from: to})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.Replace(short, hex1, hex2, 1), string(out)); diff != "" {
		t.Errorf("Replace (-want +got):\n%s", diff)
	}
}

func TestReadRejectsNonLiteralPins(t *testing.T) {
	bad := "package recipes\n\nimport \"github.com/imagebuild/imagebuild/ref\"\n\nconst x = \"a\"\n\nconst A ref.Pin = x\n"
	if _, err := Read("pins.go", []byte(bad)); err == nil {
		t.Error("Read accepted a pin that is not a string literal")
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func pinFile(pkg, name, pin string) string {
	return "package " + pkg + "\n\nimport \"github.com/imagebuild/imagebuild/ref\"\n\n// " + name + " is a pin.\nconst " + name + " ref.Pin = \"" + pin + "\"\n"
}

// TestFind: the module's pin declarations, from its root down, without
// testdata, vendor, hidden folders and nested modules.
func TestFind(t *testing.T) {
	root := t.TempDir()
	pin := "docker.io/library/python:3.12-alpine@sha256:" + hex1
	writeFiles(t, root, map[string]string{
		"go.mod":                  "module example.com/team\n",
		"pins.go":                 pinFile("team", "Base", pin),
		"deploy/images/images.go": pinFile("images", "Other", "docker.io/library/alpine:3.20@sha256:"+hex2),
		"deploy/README.md":        "const X ref.Pin = \"not go\"\n",
		"testdata/pins.go":        pinFile("testdata", "T", pin),
		"vendor/x/pins.go":        pinFile("x", "V", pin),
		".hidden/pins.go":         pinFile("hidden", "H", pin),
		"_old/pins.go":            pinFile("old", "O", pin),
		"nested/go.mod":           "module example.com/nested\n",
		"nested/pins.go":          pinFile("nested", "N", pin),
	})
	sub := filepath.Join(root, "deploy", "images")
	got, err := ModuleRoot(sub)
	if err != nil || got != root {
		t.Fatalf("ModuleRoot(%s) = %q, %v, want %s", sub, got, err, root)
	}
	decls, err := Find(root)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, d := range decls {
		rel, _ := filepath.Rel(root, d.File)
		found = append(found, rel+":"+d.Name)
	}
	if diff := cmp.Diff([]string{"deploy/images/images.go:Other", "pins.go:Base"}, found); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
	if _, err := ModuleRoot(t.TempDir()); err == nil {
		t.Error("ModuleRoot found a module in a folder outside any")
	}
}

// TestRewrite: the files that declare a stale pin are rewritten, the
// others left alone; a file that cannot be rewritten leaves every file as
// it was.
func TestRewrite(t *testing.T) {
	root := t.TempDir()
	from := ref.Pin("docker.io/library/python:3.12-alpine@sha256:" + hex1)
	to := ref.Pin("docker.io/library/python:3.12-alpine@sha256:" + hex3)
	files := map[string]string{
		"a.go": pinFile("p", "A", string(from)),
		"b.go": pinFile("p", "B", "python:3.12-alpine@sha256:"+hex1),
		"c.go": pinFile("p", "C", "docker.io/library/python:3.12-slim@sha256:"+hex2),
	}
	writeFiles(t, root, files)
	var paths []string
	for _, f := range []string{"a.go", "b.go", "c.go"} {
		paths = append(paths, filepath.Join(root, f))
	}
	changed, err := Rewrite(paths, map[ref.Pin]ref.Pin{from: to})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(paths[:2], changed); diff != "" {
		t.Errorf("files changed (-want +got):\n%s", diff)
	}
	for name, before := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		want := before
		if name != "c.go" {
			want = strings.Replace(before, hex1, hex3, 1)
		}
		if string(got) != want {
			t.Errorf("%s after Rewrite:\n%s\nwant:\n%s", name, got, want)
		}
	}

	// A file that does not parse: nothing is rewritten, nothing is left beside.
	writeFiles(t, root, map[string]string{"a.go": pinFile("p", "A", string(to)), "z.go": "package p\n\nconst Z ref.Pin = \n"})
	back := map[ref.Pin]ref.Pin{to: from}
	if _, err := Rewrite([]string{filepath.Join(root, "a.go"), filepath.Join(root, "z.go")}, back); err == nil {
		t.Fatal("Rewrite of a file that does not parse succeeded")
	}
	if got, _ := os.ReadFile(filepath.Join(root, "a.go")); string(got) != pinFile("p", "A", string(to)) {
		t.Errorf("a.go was rewritten though another file failed:\n%s", got)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s left beside the files", e.Name())
		}
	}
}

// TestBumpStale: a stale pin is rewritten where declared, a current one
// and a missing one are left, and a stale one no file declares is returned
// without files.
func TestBumpStale(t *testing.T) {
	root := t.TempDir()
	stale := ref.Pin("docker.io/library/python:3.12-alpine@sha256:" + hex1)
	current := ref.Pin("docker.io/library/python:3.12-slim@sha256:" + hex2)
	undeclared := ref.Pin("docker.io/library/alpine:3.20@sha256:" + hex1)
	missing := ref.Pin("docker.io/library/debian:12@sha256:" + hex2)
	writeFiles(t, root, map[string]string{
		"a.go": pinFile("p", "A", stale.String()),
		"b.go": pinFile("p", "B", current.String()),
		"c.go": pinFile("p", "C", missing.String()),
	})
	decls, err := Find(root)
	if err != nil {
		t.Fatal(err)
	}
	sts := []Status{
		{Pin: stale, Current: "sha256:" + hex3, State: Stale},
		{Pin: current, Current: "sha256:" + hex2, State: Current},
		{Pin: undeclared, Current: "sha256:" + hex3, State: Stale},
		{Pin: missing, Current: "sha256:" + hex3, State: Missing},
	}
	bumps, err := BumpStale(sts, decls)
	if err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(root, "a.go")
	if len(bumps) != 4 || !slices.Equal(bumps[0].Files, []string{a}) || bumps[0].To.Digest().Encoded() != hex3 {
		t.Fatalf("bumps = %+v, want the stale pin rewritten in a.go to %s", bumps, hex3)
	}
	if len(bumps[1].Files)+len(bumps[3].Files) != 0 || bumps[2].To == "" || len(bumps[2].Files) != 0 {
		t.Errorf("bumps = %+v, want no files for the current, missing and undeclared pins, a target for the undeclared stale one", bumps)
	}
	dt, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dt), hex3) || strings.Contains(string(dt), hex1) {
		t.Errorf("a.go after the bump:\n%s", dt)
	}
	for _, f := range []string{"b.go", "c.go"} {
		dt, _ := os.ReadFile(filepath.Join(root, f))
		if strings.Contains(string(dt), hex3) {
			t.Errorf("%s was rewritten:\n%s", f, dt)
		}
	}
}
