package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
)

// pullsRecipe is a recipe whose graph starts from its first ref and copies
// a file out of each other one.
type pullsRecipe struct {
	name string
	refs []string
}

func (r pullsRecipe) Name() string        { return r.name }
func (r pullsRecipe) Description() string { return "pulls " + strings.Join(r.refs, ", ") }
func (r pullsRecipe) Validate() error     { return nil }
func (r pullsRecipe) Image(in recipes.Inputs) (graph.Image, error) {
	root := llb.Image(r.refs[0])
	for _, ref := range r.refs[1:] {
		root = root.File(llb.Copy(llb.Image(ref), "/bin/tool", "/bin/tool"))
	}
	return graph.Image{Platform: in.Platform, Root: root}, nil
}

// pinsRegistry is an in-process registry that serves as docker.io's mirror.
type pinsRegistry struct {
	t    *testing.T
	host string
	// pythonHeads counts the HEAD requests for python:3.12-alpine's tag.
	pythonHeads atomic.Int32
}

func newPinsRegistry(t *testing.T) *pinsRegistry {
	r := &pinsRegistry{t: t}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodHead && req.URL.Path == "/v2/library/python/manifests/3.12-alpine" {
			r.pythonHeads.Add(1)
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// push puts a new image at repo:tag and returns its pin as docker.io's.
func (r *pinsRegistry) push(repoTag string) ref.Pin {
	r.t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		r.t.Fatal(err)
	}
	d := testenv.PushImage(r.t, r.host+"/"+repoTag, img)
	return ref.Pin("docker.io/" + repoTag + "@" + d)
}

func runPinsCLI(t *testing.T, rs []recipes.Recipe, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, &stdout, &stderr, rs...)
	return stdout.String(), stderr.String(), code
}

func pinRows(t *testing.T, out string) []statusRow {
	t.Helper()
	var rows []statusRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("json rows: %v\n%s", err, out)
	}
	return rows
}

// TestPinsCheckPerRecipe: pins check lists each recipe's pins, found in
// its graph, a pin two recipes share checked once and listed for both.
func TestPinsCheckPerRecipe(t *testing.T) {
	reg := newPinsRegistry(t)
	python := reg.push("library/python:3.12-alpine")
	tool := reg.push("team/tool:1")
	// Written short in the recipe, as llb normalizes it.
	short := strings.TrimPrefix(python.String(), "docker.io/library/")
	rs := []recipes.Recipe{
		pullsRecipe{"api", []string{short}},
		pullsRecipe{"worker", []string{python.String(), tool.String()}},
	}
	mirror := "docker.io=" + reg.host

	reg.pythonHeads.Store(0)
	out, stderr, code := runPinsCLI(t, rs, "pins", "check", "--registry-mirror", mirror, "--format", "json")
	if code != 0 {
		t.Fatalf("pins check exited %d: %s", code, stderr)
	}
	// These recipes name no base: each pin is an image the graph pulls.
	image, rebuild := roleImage, rebuildOf(roleImage)
	want := []statusRow{
		{Recipe: "api", Name: python.Name(), Tag: "3.12-alpine", Pinned: python.Digest().String(), Current: python.Digest().String(), Status: "current", Role: image, Rebuild: rebuild},
		{Recipe: "worker", Name: python.Name(), Tag: "3.12-alpine", Pinned: python.Digest().String(), Current: python.Digest().String(), Status: "current", Role: image, Rebuild: rebuild},
		{Recipe: "worker", Name: tool.Name(), Tag: "1", Pinned: tool.Digest().String(), Current: tool.Digest().String(), Status: "current", Role: image, Rebuild: rebuild},
	}
	if diff := cmp.Diff(want, pinRows(t, out)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if n := reg.pythonHeads.Load(); n != 1 {
		t.Errorf("python:3.12-alpine's tag asked %d times, want once for both recipes", n)
	}

	moved := reg.push("library/python:3.12-alpine")
	out, stderr, code = runPinsCLI(t, rs, "pins", "check", "--registry-mirror", mirror)
	if code != 1 {
		t.Errorf("pins check with a stale pin exited %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "RECIPE") {
		t.Fatalf("text output, want a header and three rows:\n%s", out)
	}
	for _, l := range lines[1:3] {
		if f := strings.Fields(l); f[1] != python.Name() || f[4] != moved.Digest().String() || f[5] != "stale" {
			t.Errorf("row %q: want python's pin stale, current %s", l, moved.Digest())
		}
	}
	if !strings.Contains(stderr, "1 of 2 pins are stale or missing") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q: want one line counting the stale pin once", stderr)
	}
}

// TestPinsCheckUnpinned: an image a recipe pulls by tag alone is reported
// and fails the check, without asking its registry.
func TestPinsCheckUnpinned(t *testing.T) {
	reg := newPinsRegistry(t)
	python := reg.push("library/python:3.12-alpine")
	rs := []recipes.Recipe{pullsRecipe{"api", []string{python.String(), "alpine:3.20"}}}
	out, stderr, code := runPinsCLI(t, rs, "pins", "check", "--registry-mirror", "docker.io="+reg.host, "--format", "json")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	rows := pinRows(t, out)
	if len(rows) != 2 || rows[1].Status != "unpinned" || rows[1].Name != "docker.io/library/alpine" || rows[1].Tag != "3.20" || rows[0].Status != "current" {
		t.Errorf("rows %+v: want python's current, then alpine:3.20 unpinned", rows)
	}
	if !strings.Contains(stderr, "docker.io/library/alpine:3.20 (recipe api) not pinned") {
		t.Errorf("stderr %q does not name the unpinned image and its recipe", stderr)
	}
}

// bumpModule writes a module of files into a temporary directory and
// returns it.
func bumpModule(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for n, body := range files {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func pinDecl(pkg, constName string, pin string) string {
	return "package " + pkg + "\n\nimport \"github.com/imagebuild/imagebuild/builder\"\n\n// " + constName + " is a base.\nconst " + constName + " ref.Pin = \"" + pin + "\"\n"
}

// checkFiles fails unless each file of root has the content want gives.
func checkFiles(t *testing.T, root string, want map[string]string) {
	t.Helper()
	for n, body := range want {
		got, err := os.ReadFile(filepath.Join(root, n))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != body {
			t.Errorf("%s:\n%s\nwant:\n%s", n, got, body)
		}
	}
}

// TestPinsBumpFindsTheDeclaration: bump rewrites the file of the module
// that declares the stale pin, found from a subfolder, and leaves the
// others (another pin, testdata, a nested module) alone; --file restricts
// it to one file; a stale pin no file declares fails in one line.
func TestPinsBumpFindsTheDeclaration(t *testing.T) {
	reg := newPinsRegistry(t)
	python := reg.push("library/python:3.12-alpine")
	tool := reg.push("team/tool:1")
	moved := reg.push("library/python:3.12-alpine")
	short := strings.TrimPrefix(python.String(), "docker.io/library/")
	rs := []recipes.Recipe{pullsRecipe{"api", []string{python.String(), tool.String()}}}
	mirror := "docker.io=" + reg.host
	newDigest := func(s string) string { return strings.Replace(s, python.Digest().String(), moved.Digest().String(), 1) }

	files := map[string]string{
		"go.mod":                   "module example.com/team\n\ngo 1.26\n",
		"deploy/pins.go":           pinDecl("deploy", "Base", short),
		"deploy/tool.go":           pinDecl("deploy", "Tool", tool.String()),
		"cmd/api/main.go":          "package main\n\nfunc main() {}\n",
		"deploy/testdata/pins.go":  pinDecl("testdata", "Base", python.String()),
		"nested/go.mod":            "module example.com/nested\n",
		"nested/pins.go":           pinDecl("nested", "Base", python.String()),
		".git/pins.go":             pinDecl("git", "Base", python.String()),
		"vendor/example/x/pins.go": pinDecl("x", "Base", python.String()),
	}
	root := bumpModule(t, files)
	t.Chdir(filepath.Join(root, "cmd", "api"))
	out, stderr, code := runPinsCLI(t, rs, "pins", "bump", "--registry-mirror", mirror)
	if code != 0 {
		t.Fatalf("pins bump exited %d: %s", code, stderr)
	}
	if !strings.Contains(out, "bumped docker.io/library/python:3.12-alpine (api): "+python.Digest().String()+" -> "+moved.Digest().String()+" in ../../deploy/pins.go") {
		t.Errorf("bump output does not name the pin, both digests and the file:\n%s", out)
	}
	want := map[string]string{}
	for n, body := range files {
		want[n] = body
	}
	want["deploy/pins.go"] = newDigest(files["deploy/pins.go"])
	checkFiles(t, root, want)

	// --file restricts the search: of two files declaring the pin, only
	// the one named changes.
	two := map[string]string{
		"go.mod":  "module example.com/two\n",
		"a/a.go":  pinDecl("a", "Base", python.String()),
		"b/b.go":  pinDecl("b", "Base", python.String()),
		"tool.go": pinDecl("two", "Tool", tool.String()),
	}
	root = bumpModule(t, two)
	t.Chdir(root)
	if _, stderr, code := runPinsCLI(t, rs, "pins", "bump", "--registry-mirror", mirror, "--file", "b/b.go", "--format", "json"); code != 0 {
		t.Fatalf("pins bump --file exited %d: %s", code, stderr)
	}
	want = map[string]string{"a/a.go": two["a/a.go"], "b/b.go": newDigest(two["b/b.go"]), "tool.go": two["tool.go"]}
	checkFiles(t, root, want)

	// A stale pin that no file of the module declares: one line saying
	// where to bump it to what, exit 1, nothing changed.
	none := map[string]string{"go.mod": "module example.com/none\n", "tool.go": two["tool.go"]}
	root = bumpModule(t, none)
	t.Chdir(root)
	_, stderr, code = runPinsCLI(t, rs, "pins", "bump", "--registry-mirror", mirror)
	if code != 1 || strings.Count(stderr, "\n") != 1 ||
		!strings.Contains(stderr, "stale pin "+python.String()+" (recipe api) is not declared") || !strings.Contains(stderr, moved.String()) {
		t.Errorf("exit %d, stderr %q: want one line naming the stale pin, its recipe and the pin to bump it to", code, stderr)
	}
	checkFiles(t, root, none)
}

// TestPinsBumpOutsideAModule: without --file, bump needs a module to
// search; outside one it says so before asking any registry.
func TestPinsBumpOutsideAModule(t *testing.T) {
	t.Chdir(t.TempDir())
	rs := []recipes.Recipe{pullsRecipe{"api", []string{"docker.io/library/python:3.12-alpine@sha256:" + strings.Repeat("1", 64)}}}
	_, stderr, code := runPinsCLI(t, rs, "pins", "bump", "--registry-mirror", "docker.io=127.0.0.1:1")
	if code != 2 || !strings.Contains(stderr, "no go.mod") || !strings.Contains(stderr, "--file") {
		t.Errorf("exit %d, stderr %q: want a usage error naming the missing go.mod and --file", code, stderr)
	}
}

// TestPinsRoles: check and bump say of each pin whether it is a recipe's
// builder base, its runtime base or both, and what a bump rebuilds; bump
// --runtime rewrites the runtime bases alone (not a pin the builder
// shares, which would recompile), --builder the builders' bases, and
// neither flag every stale pin.
func TestPinsRoles(t *testing.T) {
	reg := newPinsRegistry(t)
	builder := reg.push("library/python:3.12-slim")
	runtime := reg.push("team/python-runtime:3.12-slim")
	shared := reg.push("library/python:3.12-bookworm")
	rs := []recipes.Recipe{
		recipes.Named("split", "two bases", recipes.PythonSlim{Base: builder, RuntimeBase: runtime}),
		recipes.Named("one", "one base", recipes.PythonSlim{Base: shared}),
	}
	mirror := "docker.io=" + reg.host

	out, stderr, code := runPinsCLI(t, rs, "pins", "check", "--registry-mirror", mirror, "--format", "json")
	if code != 0 {
		t.Fatalf("pins check exited %d: %s", code, stderr)
	}
	type role struct{ recipe, name, role, rebuild string }
	var got []role
	for _, r := range pinRows(t, out) {
		got = append(got, role{r.Recipe, r.Name, r.Role, r.Rebuild})
	}
	recompile := "every compiled distribution and the runtime"
	want := []role{
		{"split", builder.Name(), "builder", recompile},
		{"split", runtime.Name(), "runtime", "the runtime stage alone, no recompile"},
		{"one", shared.Name(), "builder+runtime", recompile},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(role{})); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	out, _, _ = runPinsCLI(t, rs, "pins", "check", "--registry-mirror", mirror)
	if lines := strings.Split(out, "\n"); !strings.Contains(lines[0], "BASE OF") || !strings.Contains(out, "runtime  ") || !strings.Contains(out, "the runtime stage alone, no recompile") {
		t.Errorf("text output does not give each pin's role and rebuild:\n%s", out)
	}

	movedBuilder := reg.push("library/python:3.12-slim")
	movedRuntime := reg.push("team/python-runtime:3.12-slim")
	movedShared := reg.push("library/python:3.12-bookworm")
	files := map[string]string{
		"go.mod":            "module example.com/team\n\ngo 1.26\n",
		"deploy/builder.go": pinDecl("deploy", "Builder", builder.String()),
		"deploy/runtime.go": pinDecl("deploy", "Runtime", runtime.String()),
		"deploy/shared.go":  pinDecl("deploy", "Shared", shared.String()),
	}
	bumped := func(old, moved ref.Pin, file string) string {
		return strings.Replace(files[file], old.Digest().String(), moved.Digest().String(), 1)
	}
	for _, tt := range []struct {
		name  string
		flags []string
		want  map[string]string
		says  []string
	}{
		{"--runtime", []string{"--runtime"},
			map[string]string{"deploy/builder.go": files["deploy/builder.go"], "deploy/runtime.go": bumped(runtime, movedRuntime, "deploy/runtime.go"), "deploy/shared.go": files["deploy/shared.go"]},
			[]string{
				"bumped " + runtime.Tagged() + " (split): " + runtime.Digest().String() + " -> " + movedRuntime.Digest().String() + " in deploy/runtime.go; the runtime's base, whose bump rebuilds the runtime stage alone, no recompile",
				"stale " + builder.Tagged() + " (split): " + builder.Digest().String() + " -> " + movedBuilder.Digest().String() + "; not bumped: --runtime bumps runtime bases alone",
				"stale " + shared.Tagged() + " (one): " + shared.Digest().String() + " -> " + movedShared.Digest().String() + "; not bumped: --runtime bumps runtime bases alone",
			}},
		{"--builder", []string{"--builder"},
			map[string]string{"deploy/builder.go": bumped(builder, movedBuilder, "deploy/builder.go"), "deploy/runtime.go": files["deploy/runtime.go"], "deploy/shared.go": bumped(shared, movedShared, "deploy/shared.go")},
			[]string{
				"bumped " + builder.Tagged() + " (split): " + builder.Digest().String() + " -> " + movedBuilder.Digest().String() + " in deploy/builder.go; the builder's base, whose bump rebuilds " + recompile,
				"bumped " + shared.Tagged() + " (one): " + shared.Digest().String() + " -> " + movedShared.Digest().String() + " in deploy/shared.go; the builder's and the runtime's base, whose bump rebuilds " + recompile,
				"stale " + runtime.Tagged() + " (split): " + runtime.Digest().String() + " -> " + movedRuntime.Digest().String() + "; not bumped: --builder bumps builder bases alone",
			}},
		{"both", []string{"--runtime", "--builder"},
			map[string]string{"deploy/builder.go": bumped(builder, movedBuilder, "deploy/builder.go"), "deploy/runtime.go": bumped(runtime, movedRuntime, "deploy/runtime.go"), "deploy/shared.go": bumped(shared, movedShared, "deploy/shared.go")},
			nil},
		{"neither", nil,
			map[string]string{"deploy/builder.go": bumped(builder, movedBuilder, "deploy/builder.go"), "deploy/runtime.go": bumped(runtime, movedRuntime, "deploy/runtime.go"), "deploy/shared.go": bumped(shared, movedShared, "deploy/shared.go")},
			nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := bumpModule(t, files)
			t.Chdir(root)
			out, stderr, code := runPinsCLI(t, rs, append([]string{"pins", "bump", "--registry-mirror", mirror}, tt.flags...)...)
			if code != 0 {
				t.Fatalf("pins bump %v exited %d: %s", tt.flags, code, stderr)
			}
			for _, line := range tt.says {
				if !strings.Contains(out, line) {
					t.Errorf("bump %v does not say %q:\n%s", tt.flags, line, out)
				}
			}
			checkFiles(t, root, tt.want)
		})
	}

	// JSON: the rows of bump carry the role, and the files of the pins
	// bumped alone.
	root := bumpModule(t, files)
	t.Chdir(root)
	out, stderr, code = runPinsCLI(t, rs, "pins", "bump", "--registry-mirror", mirror, "--runtime", "--format", "json")
	if code != 0 {
		t.Fatalf("pins bump --runtime --format json exited %d: %s", code, stderr)
	}
	for _, r := range pinRows(t, out) {
		if bumped := len(r.Files) > 0; bumped != (r.Role == roleRuntime) || r.Rebuild != rebuildOf(r.Role) {
			t.Errorf("row %+v: want files for the runtime base alone, and its rebuild", r)
		}
	}
}
