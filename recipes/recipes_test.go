package recipes

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/pins"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}

// op is one LLB op as `buildctl debug dump-llb` prints it.
type op struct {
	Digest   digest.Digest  `json:"digest"`
	Op       *pb.Op         `json:"op"`
	Metadata *pb.OpMetadata `json:"metadata"`
}

// testDists are the distributions the tests' requirements resolve to.
var testDists = []Distribution{
	{Name: "asyncpg", Version: "0.30.0", Hashes: []string{strings.Repeat("a1", 32)}},
	{Name: "hiredis", Version: "2.3.2", Hashes: []string{strings.Repeat("b2", 32)}},
}

// lockJSON is what the resolve step writes for dists.
func lockJSON(t *testing.T, dists []Distribution) []byte {
	t.Helper()
	var lf lockFile
	for _, d := range dists {
		lf = append(lf, lockEntry{d.Name, d.Version, d.Hashes[0]})
	}
	dt, err := json.Marshal(lf)
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

// expanded returns img with its expansion made as the build makes it,
// from the resolve step's output for testDists.
func expanded(t *testing.T, img graph.Image) graph.Image {
	t.Helper()
	if img.Expand == nil {
		return img
	}
	files := map[string][]byte{}
	for _, f := range img.Expand.Files {
		files[f] = lockJSON(t, testDists)
	}
	root, err := img.Expand.Root(files, make([][]byte, len(img.Expand.Ahead)))
	if err != nil {
		t.Fatal(err)
	}
	img.Root, img.Expand = root.Root, nil
	return img
}

// recipeGraph marshals r's image for the platform, its expansion made as for
// requirements that resolve to testDists, and returns its ops in order,
// and the ops by digest.
func recipeGraph(t *testing.T, r Recipe, in Inputs) ([]op, map[digest.Digest]*pb.Op, digest.Digest) {
	t.Helper()
	img, err := r.Image(in)
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, expanded(t, img))
}

// marshal is recipeGraph for an image.
func marshal(t *testing.T, img graph.Image) ([]op, map[digest.Digest]*pb.Op, digest.Digest) {
	t.Helper()
	def, err := img.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Decode(def)
	if err != nil {
		t.Fatal(err)
	}
	var ops []op
	byDigest := map[digest.Digest]*pb.Op{}
	for d, o := range g.All() {
		ops = append(ops, op{Digest: d, Op: o, Metadata: def.Metadata[d].ToPB()})
		byDigest[d] = o
	}
	// The last op is the terminal one; its only input is the image's root.
	last := ops[len(ops)-1].Op
	return ops, byDigest, digest.Digest(last.Inputs[0].Digest)
}

// TestGolden compares each recipe's graph with its golden: before the
// build resolves the requirements (what `imagebuild llb` shows for a file
// that is not locked: the resolve step), and after, for requirements that
// resolve to testDists.
func TestGolden(t *testing.T) {
	for _, r := range All() {
		for _, stage := range []string{"resolve", "resolved"} {
			t.Run(r.Name()+"/"+stage, func(t *testing.T) {
				img, err := r.Image(Inputs{Platform: amd64})
				if err != nil {
					t.Fatal(err)
				}
				name := r.Name() + ".resolve.linux-amd64.llb.json"
				if stage == "resolved" {
					img, name = expanded(t, img), r.Name()+".linux-amd64.llb.json"
				}
				ops, _, _ := marshal(t, img)
				golden(t, ops, filepath.Join("testdata", name))
			})
		}
	}
}

// golden compares ops with the golden file path, or with -update writes it.
func golden(t *testing.T, ops []op, path string) {
	t.Helper()
	got, err := json.MarshalIndent(ops, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./recipes -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("graph differs from %s; if the change is meant, run `make golden` (-want +got):\n%s", path, diff)
	}
}

// runtime returns the runtime's merge, the op the image's root is: its
// first input, the base, and each layer merged over it as the chain of file
// ops that makes it, top first, down to the empty tree.
func runtime(t *testing.T, ops map[digest.Digest]*pb.Op, root digest.Digest) (*pb.Op, [][]*pb.FileOp) {
	t.Helper()
	m := ops[root]
	if m.GetMerge() == nil {
		t.Fatalf("the image's root is not a merge of layers over the base: %v", m)
	}
	base := ops[digest.Digest(m.Inputs[0].Digest)]
	var layers [][]*pb.FileOp
	for _, in := range m.Inputs[1:] {
		var chain []*pb.FileOp
		for d := digest.Digest(in.Digest); d != ""; {
			o := ops[d]
			f := o.GetFile()
			if f == nil {
				t.Fatalf("a runtime layer is made by %v, want only file ops", o)
			}
			chain = append(chain, f)
			d = ""
			if in := f.Actions[0].Input; in >= 0 {
				d = digest.Digest(o.Inputs[in].Digest)
			}
		}
		layers = append(layers, chain)
	}
	return base, layers
}

// copies returns the copy actions of a runtime layer.
func copies(layer []*pb.FileOp) []*pb.FileActionCopy {
	var out []*pb.FileActionCopy
	for _, f := range layer {
		for _, a := range f.Actions {
			if cp := a.GetCopy(); cp != nil {
				out = append(out, cp)
			}
		}
	}
	return out
}

func execs(ops map[digest.Digest]*pb.Op) []*pb.ExecOp {
	var out []*pb.ExecOp
	for _, o := range ops {
		if e, ok := o.Op.(*pb.Op_Exec); ok {
			out = append(out, e.Exec)
		}
	}
	return out
}

func TestPythonGraphs(t *testing.T) {
	for _, tt := range []struct {
		r       Recipe
		pin     ref.Pin
		install []string
	}{
		{PythonAlpine{}, PythonAlpineBase, Alpine.InstallCommand(AlpineBuildPackages())},
		{PythonSlim{}, PythonSlimBase, Debian.InstallCommand(DebianBuildPackages())},
	} {
		t.Run(tt.r.Name(), func(t *testing.T) { testPythonGraph(t, tt.r, tt.pin, tt.install) })
	}
}

func testPythonGraph(t *testing.T, r Recipe, pin ref.Pin, install []string) {
	bctx, err := graph.LoadContext(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, ops, root := recipeGraph(t, r, Inputs{Platform: amd64, Context: bctx})

	t.Run("every image source carries the pin", func(t *testing.T) {
		srcs := imageSources(ops)
		for _, got := range srcs {
			if want := "docker-image://" + pin.String(); got != want {
				t.Errorf("image source %q, want %q", got, want)
			}
		}
		if len(srcs) == 0 {
			t.Error("no image source in the graph")
		}
	})

	t.Run("the runtime is layers merged over the pinned base, made without a process", func(t *testing.T) {
		base, layers := runtime(t, ops, root)
		src, ok := base.Op.(*pb.Op_Source)
		if !ok || src.Source.Identifier != "docker-image://"+pin.String() {
			t.Errorf("runtime does not start from the pinned base: %v", base)
		}
		// runtime fails the test for a layer made by anything but file ops.
		if len(layers) != 5 {
			t.Errorf("%d layers over the base, want 5 (account, empty venv, asyncpg, hiredis, app)", len(layers))
		}
	})

	t.Run("every file the layers copy has the fixed time", func(t *testing.T) {
		_, layers := runtime(t, ops, root)
		n := 0
		for _, l := range layers {
			for _, cp := range copies(l) {
				n++
				if cp.Timestamp != FixedTime().UnixNano() {
					t.Errorf("copy to %s sets time %d, want %d", cp.Dest, cp.Timestamp, FixedTime().UnixNano())
				}
			}
		}
		// passwd, group, shadow and /etc; the venv and /opt, for the empty
		// venv and each distribution; the app.
		if n != 11 {
			t.Errorf("%d copies in the runtime layers, want 11", n)
		}
	})

	t.Run("exactly one package-manager step, in the builder", func(t *testing.T) {
		var installs []*pb.ExecOp
		for _, e := range execs(ops) {
			if slices.ContainsFunc(e.Meta.Args, func(a string) bool { return a == "apk" || strings.Contains(a, "apt-get") }) {
				installs = append(installs, e)
			}
		}
		if len(installs) != 1 {
			t.Fatalf("%d package-manager steps, want 1", len(installs))
		}
		if diff := cmp.Diff(install, installs[0].Meta.Args); diff != "" {
			t.Errorf("install step (-want +got):\n%s", diff)
		}
	})

	t.Run("no builder step reads the context", func(t *testing.T) {
		for _, o := range ops {
			e := o.GetExec()
			if e == nil {
				continue
			}
			for _, m := range e.Mounts {
				if m.Input < 0 {
					continue
				}
				if src, ok := ops[digest.Digest(o.Inputs[m.Input].Digest)].Op.(*pb.Op_Source); ok && strings.HasPrefix(src.Source.Identifier, "local://") {
					t.Errorf("step %q mounts the context at %s", e.Meta.Args, m.Dest)
				}
			}
		}
	})

	t.Run("one step per distribution, each on the builder stage alone", func(t *testing.T) {
		checkDistributionSteps(t, ops, testDists)
	})

	t.Run("copies into the runtime are owned by appuser", func(t *testing.T) {
		_, layers := runtime(t, ops, root)
		n := map[string]int{}
		for _, l := range layers {
			for _, cp := range copies(l) {
				if !slices.Contains([]string{venvDir, appDir}, cp.Dest) {
					continue
				}
				n[cp.Dest]++
				u, g := cp.Owner.GetUser().GetByID(), cp.Owner.GetGroup().GetByID()
				if u != 1000 || g != 1000 {
					t.Errorf("copy to %s owned by %d:%d, want 1000:1000", cp.Dest, u, g)
				}
			}
		}
		if diff := cmp.Diff(map[string]int{venvDir: 3, appDir: 1}, n); diff != "" {
			t.Errorf("copies into the runtime by destination (-want +got):\n%s", diff)
		}
	})
}

// checkDistributionSteps checks the graph has, for each of dists, one step
// that fetches or builds its wheel and installs it, given its name, version
// and every hash and nothing of another distribution's; that no such step
// depends on another distribution's; and that the pip config secret is
// mounted, never named in a command line.
func checkDistributionSteps(t *testing.T, ops map[digest.Digest]*pb.Op, dists []Distribution) {
	t.Helper()
	steps := map[string]digest.Digest{}
	for d, o := range ops {
		e := o.GetExec()
		if e == nil {
			continue
		}
		for _, a := range e.Meta.Args {
			if strings.Contains(a, PipConfSecret) || strings.Contains(a, pipConfPath) {
				t.Errorf("step %q names the pip config in its command line", e.Meta.Args)
			}
		}
		for _, dist := range dists {
			args := e.Meta.Args
			if !slices.Equal(args[1:3], []string{toolPath, "install"}) || !slices.Contains(args, dist.Name+"=="+dist.Version) {
				continue
			}
			if !slices.Contains(args, dist.requirement()+"\n") && !slices.ContainsFunc(args, func(a string) bool { return strings.HasSuffix(a, "\n"+dist.requirement()+"\n") }) {
				t.Errorf("the step of %s does not fetch %q: %q", dist.Name, dist.requirement(), args)
			}
			if _, dup := steps[dist.Key()]; dup {
				t.Errorf("two steps for %s", dist.Name)
			}
			steps[dist.Key()] = d
			secret := false
			for _, m := range e.Mounts {
				secret = secret || (m.MountType == pb.MountType_SECRET && m.SecretOpt.GetID() == PipConfSecret && m.Dest == pipConfPath)
			}
			if !secret {
				t.Errorf("the step of %s does not mount the %s secret at %s", dist.Name, PipConfSecret, pipConfPath)
			}
		}
	}
	for _, dist := range dists {
		w, ok := steps[dist.Key()]
		if !ok {
			t.Errorf("no step for %s %s with its hashes", dist.Name, dist.Version)
			continue
		}
		// No step of one distribution is an input of another's.
		for _, other := range dists {
			if other.Key() != dist.Key() && dependsOn(ops, w, steps[other.Key()]) {
				t.Errorf("the step of %s depends on %s's", dist.Name, other.Name)
			}
		}
	}
}

// dependsOn tells whether the op d has the op on among its inputs, at any depth.
func dependsOn(ops map[digest.Digest]*pb.Op, d, on digest.Digest) bool {
	for _, in := range ops[d].Inputs {
		if digest.Digest(in.Digest) == on || dependsOn(ops, digest.Digest(in.Digest), on) {
			return true
		}
	}
	return false
}

func TestRuntimePackages(t *testing.T) {
	r := PythonSlim{RuntimePackages: []string{"libpq5"}}
	_, ops, root := recipeGraph(t, r, Inputs{Platform: amd64})
	_, layers := runtime(t, ops, root)
	if len(layers) != 6 {
		t.Fatalf("%d layers over the base, want 6 (account, runtime packages, empty venv, asyncpg, hiredis, app)", len(layers))
	}
	// The packages' layer copies, with the fixed time, what the install
	// changed on the base.
	cps := copies(layers[1])
	if len(cps) != 1 || cps[0].Timestamp != FixedTime().UnixNano() {
		t.Fatalf("runtime packages layer copies %v, want one copy with the fixed time", cps)
	}
	var diff *pb.DiffOp
	for _, o := range ops {
		if d := o.GetDiff(); d != nil {
			diff = d
		}
	}
	if diff == nil {
		t.Fatal("no diff of the runtime packages' install")
	}
	var installs [][]string
	for _, e := range execs(ops) {
		if slices.Contains(e.Meta.Args, "libpq5") {
			installs = append(installs, e.Meta.Args)
		}
	}
	if diff := cmp.Diff([][]string{Debian.InstallCommand([]string{"libpq5"})}, installs); diff != "" {
		t.Errorf("runtime package installs (-want +got):\n%s", diff)
	}
	if err := (PythonSlim{RuntimePackages: []string{"libpq5; rm -rf /"}}).Validate(); err == nil {
		t.Error("a runtime package with shell in it validated")
	}
}

func TestPythonAlpineBaseOverride(t *testing.T) {
	base := ref.Pin("127.0.0.1:5000/test/debian:bookworm@sha256:" + strings.Repeat("ab", 32))
	_, defaults, _ := recipeGraph(t, PythonAlpine{}, Inputs{Platform: amd64})
	for _, tt := range []struct {
		name    string
		base    Base
		install []string
		shell   string
	}{
		{"the recipe's distribution", Base{Pin: base}, Alpine.InstallCommand(AlpineBuildPackages()), Alpine.NoLogin},
		{"a Debian base", Base{Pin: base, Distro: Debian}, Debian.InstallCommand(DebianBuildPackages()), Debian.NoLogin},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, ops, _ := recipeGraph(t, PythonAlpine{}, Inputs{Platform: amd64, Base: tt.base})
			srcs := imageSources(ops)
			for _, got := range srcs {
				if want := "docker-image://" + base.String(); got != want {
					t.Errorf("image source %q, want the override %q", got, want)
				}
			}
			if n, want := len(srcs), len(imageSources(defaults)); n == 0 || n != want {
				t.Errorf("%d image sources with the override, want %d (as many as the default graph has), at least one", n, want)
			}
			var installs, accounts int
			for _, e := range execs(ops) {
				if slices.Equal(e.Meta.Args, tt.install) {
					installs++
				}
				if slices.Contains(e.Meta.Args, userFilesScript) && e.Meta.Args[len(e.Meta.Args)-1] == tt.shell {
					accounts++
				}
			}
			if installs != 1 || accounts != 1 {
				t.Errorf("%d steps %q and %d account steps with shell %s, want one of each", installs, tt.install, accounts, tt.shell)
			}
		})
	}
}

func TestRecipeBaseField(t *testing.T) {
	own := ref.Pin("registry.example.com/platform/python:3.12-alpine@sha256:" + strings.Repeat("cd", 32))
	_, ops, _ := recipeGraph(t, PythonAlpine{Base: own}, Inputs{Platform: amd64})
	srcs := imageSources(ops)
	for _, got := range srcs {
		if want := "docker-image://" + own.String(); got != want {
			t.Errorf("image source %q, want the recipe's Base %q", got, want)
		}
	}
	if len(srcs) == 0 {
		t.Error("no image source")
	}
}

// imageSources returns the identifiers of the graph's image sources.
func imageSources(ops map[digest.Digest]*pb.Op) []string {
	var out []string
	for _, o := range ops {
		if src, ok := o.Op.(*pb.Op_Source); ok && strings.HasPrefix(src.Source.Identifier, "docker-image://") {
			out = append(out, src.Source.Identifier)
		}
	}
	return out
}

func TestPythonAlpineValidate(t *testing.T) {
	tests := []struct {
		name  string
		r     PythonAlpine
		ok    bool
		field string
	}{
		{name: "zero value", ok: true},
		{name: "numeric user", r: PythonAlpine{User: "1000:1000"}, ok: true},
		{name: "root user", r: PythonAlpine{User: "root"}, field: "User"},
		{name: "other uid", r: PythonAlpine{User: "0"}, field: "User"},
		{name: "requirements outside the context", r: PythonAlpine{Requirements: "../requirements.txt"}, field: "Requirements"},
		{name: "absolute requirements", r: PythonAlpine{Requirements: "/requirements.txt"}, field: "Requirements"},
		{name: "package looks like a flag", r: PythonAlpine{Packages: []string{"--allow-untrusted"}}, field: "Packages"},
		{name: "package with a space", r: PythonAlpine{Packages: []string{"lib pq"}}, field: "Packages"},
		{name: "runtime package with a space", r: PythonAlpine{RuntimePackages: []string{"lib pq"}}, field: "RuntimePackages"},
		{name: "env without =", r: PythonAlpine{Env: []string{"APP_ENV"}}, field: "Env"},
		{name: "env sets PATH", r: PythonAlpine{Env: []string{"PATH=/bin"}}, field: "Env"},
		{name: "env", r: PythonAlpine{Env: []string{"APP_ENV=prod"}}, ok: true},
		{name: "empty command", r: PythonAlpine{Cmd: []string{}}, field: "Cmd"},
		{name: "base not pinned by digest", r: PythonAlpine{Base: "python:3.12-alpine"}, field: "Base"},
		{name: "runtime base not pinned by digest", r: PythonAlpine{RuntimeBase: "python:3.12-alpine"}, field: "RuntimeBase"},
		{name: "runtime base", r: PythonAlpine{RuntimeBase: ref.Pin("registry.example.com/python:3.12-alpine@sha256:" + strings.Repeat("ef", 32))}, ok: true},
		{name: "healthcheck without CMD", r: PythonAlpine{Healthcheck: &graph.Healthcheck{Test: []string{"curl"}}}, field: "Healthcheck"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), tt.field) {
				t.Errorf("Validate() = %q, want it to name the field %s first", err, tt.field)
			}
			if _, err := tt.r.Image(Inputs{Platform: amd64}); (err == nil) != tt.ok {
				t.Errorf("Image() error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPythonAlpineGraphIsPlatformExplicit(t *testing.T) {
	arm := ocispecs.Platform{OS: "linux", Architecture: "arm64"}
	_, ops, _ := recipeGraph(t, PythonAlpine{}, Inputs{Platform: arm})
	// Processes and image sources are what a platform chooses; BuildKit
	// marshals file ops and local sources without one.
	n := 0
	for d, o := range ops {
		switch x := o.Op.(type) {
		case *pb.Op_Exec:
		case *pb.Op_Source:
			if !strings.HasPrefix(x.Source.Identifier, "docker-image://") {
				continue
			}
		default:
			continue
		}
		n++
		if o.Platform == nil {
			t.Errorf("op %s has no platform, want linux/arm64", d)
		} else if o.Platform.OS != "linux" || o.Platform.Architecture != "arm64" {
			t.Errorf("op %s is for %s/%s, want linux/arm64", d, o.Platform.OS, o.Platform.Architecture)
		}
	}
	if n == 0 {
		t.Error("no process or image source in the graph")
	}
}

// TestPins checks every ref.Pin constant declared in pins.go is a valid
// pin and is pulled by a recipe of All, and every image a recipe pulls is
// pinned, so a malformed, forgotten or unpinned base fails here.
func TestPins(t *testing.T) {
	src, err := os.ReadFile("pins.go")
	if err != nil {
		t.Fatal(err)
	}
	decls, err := pins.Read("pins.go", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(decls) == 0 {
		t.Fatal("no ref.Pin constants found in pins.go")
	}
	var pulled []string
	for _, r := range All() {
		img, err := r.Image(Inputs{Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}})
		if err != nil {
			t.Fatal(err)
		}
		refs, err := img.Refs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range refs {
			if err := ref.Pin(s).Validate(); err != nil {
				t.Errorf("recipe %s pulls %s: %v", r.Name(), s, err)
			}
		}
		pulled = append(pulled, refs...)
	}
	for _, d := range decls {
		if err := d.Value.Validate(); err != nil {
			t.Errorf("pin %s: %v", d.Name, err)
		}
		if !slices.Contains(pulled, d.Value.String()) {
			t.Errorf("pin %s is pulled by no recipe of All()", d.Name)
		}
	}
}

func TestNamed(t *testing.T) {
	r := Named("tracker-api", "the tracker's API", PythonAlpine{Cmd: []string{"gunicorn", "tracker.wsgi"}})
	if r.Name() != "tracker-api" || r.Description() != "the tracker's API" {
		t.Errorf("Named recipe is %q, %q", r.Name(), r.Description())
	}
	img, err := r.Image(Inputs{Platform: amd64})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"gunicorn", "tracker.wsgi"}, img.Config.Cmd); diff != "" {
		t.Errorf("named recipe's command (-want +got):\n%s", diff)
	}
	if err := Named("bad", "", PythonAlpine{Env: []string{"X"}}).Validate(); err == nil {
		t.Error("Named hides the recipe's Validate")
	}
	for _, r := range All() {
		if err := r.Validate(); err != nil {
			t.Errorf("%s's defaults do not validate: %v", r.Name(), err)
		}
	}
}

func TestVenvWithoutPip(t *testing.T) {
	for _, tt := range []struct {
		name     string
		r        Recipe
		venvArgs []string
		python   string // runs pip, which installs into the venv under venvPython
	}{
		{"default", PythonAlpine{}, []string{"/bin/sh", "-c", venvsScript, "sh", pipToolDir, venvDir}, pipToolDir + "/bin/python"},
		{"KeepPip", PythonAlpine{KeepPip: true}, []string{"python3", "-m", "venv", venvDir}, venvDir + "/bin/python"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, ops, _ := recipeGraph(t, tt.r, Inputs{Platform: amd64})
			var venvs, dists int
			for _, e := range execs(ops) {
				args := e.Meta.Args
				switch {
				case slices.Equal(args, tt.venvArgs):
					venvs++
				case slices.Equal(args[1:3], []string{toolPath, "install"}) && args[0] == tt.python && args[len(args)-1] == venvPython:
					dists++
				}
			}
			if venvs != 1 || dists != len(testDists) {
				t.Errorf("%d steps %q and %d distribution steps run by %s; want one venv step, and one per distribution", venvs, tt.venvArgs, dists, tt.python)
			}
		})
	}
}

func TestCachesKeyedByDistroAndPlatform(t *testing.T) {
	ids := func(r Recipe, p ocispecs.Platform) []string {
		_, ops, _ := recipeGraph(t, r, Inputs{Platform: p})
		var out []string
		for _, e := range execs(ops) {
			for _, m := range e.Mounts {
				if m.MountType == pb.MountType_CACHE {
					out = append(out, m.CacheOpt.ID)
				}
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	arm := ocispecs.Platform{OS: "linux", Architecture: "arm64"}
	want := []string{"imagebuild-packages-alpine-linux-amd64", "imagebuild-pip-alpine-linux-amd64"}
	if diff := cmp.Diff(want, ids(PythonAlpine{}, amd64)); diff != "" {
		t.Errorf("python-alpine caches (-want +got):\n%s", diff)
	}
	want = []string{"imagebuild-packages-debian-linux-arm64", "imagebuild-pip-debian-linux-arm64"}
	if diff := cmp.Diff(want, ids(PythonSlim{}, arm)); diff != "" {
		t.Errorf("python-slim arm64 caches (-want +got):\n%s", diff)
	}
}
