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
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/pinsrc"
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

// graph marshals r's image for the platform and returns its ops in order,
// and the ops by digest.
func graph(t *testing.T, r Recipe, in Inputs) ([]op, map[digest.Digest]*pb.Op, digest.Digest) {
	t.Helper()
	img, err := r.Image(in)
	if err != nil {
		t.Fatal(err)
	}
	def, err := img.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ops []op
	byDigest := map[digest.Digest]*pb.Op{}
	for _, dt := range def.Def {
		var o pb.Op
		if err := o.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		d := digest.FromBytes(dt)
		ops = append(ops, op{Digest: d, Op: &o, Metadata: def.Metadata[d].ToPB()})
		byDigest[d] = &o
	}
	// The last op is the terminal one; its only input is the image's root.
	last := ops[len(ops)-1].Op
	return ops, byDigest, digest.Digest(last.Inputs[0].Digest)
}

func TestGolden(t *testing.T) {
	for _, r := range All() {
		t.Run(r.Name(), func(t *testing.T) {
			ops, _, _ := graph(t, r, Inputs{Platform: amd64})
			got, err := json.MarshalIndent(ops, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", r.Name()+".linux-amd64.llb.json")
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
		})
	}
}

// chain follows an image's main line from its root down to its base:
// through the file ops' first input and exec ops' root mount.
func chain(ops map[digest.Digest]*pb.Op, root digest.Digest) []*pb.Op {
	var out []*pb.Op
	for d := root; d != ""; {
		o := ops[d]
		out = append(out, o)
		d = ""
		switch x := o.Op.(type) {
		case *pb.Op_File:
			if in := x.File.Actions[0].Input; in >= 0 {
				d = digest.Digest(o.Inputs[in].Digest)
			}
		case *pb.Op_Exec:
			for _, m := range x.Exec.Mounts {
				if m.Dest == "/" && m.Input >= 0 {
					d = digest.Digest(o.Inputs[m.Input].Digest)
				}
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
		pin     builder.Pin
		install []string
	}{
		{PythonAlpine{}, PythonAlpineBase, alpine.install(AlpineBuildPackages())},
		{PythonSlim{}, PythonSlimBase, debian.install(DebianBuildPackages())},
	} {
		t.Run(tt.r.Name(), func(t *testing.T) { testPythonGraph(t, tt.r, tt.pin, tt.install) })
	}
}

func testPythonGraph(t *testing.T, r Recipe, pin builder.Pin, install []string) {
	_, ops, root := graph(t, r, Inputs{Platform: amd64})

	t.Run("every image source carries the pin", func(t *testing.T) {
		n := 0
		for _, o := range ops {
			src, ok := o.Op.(*pb.Op_Source)
			if !ok || !strings.HasPrefix(src.Source.Identifier, "docker-image://") {
				continue
			}
			n++
			if got, want := src.Source.Identifier, "docker-image://"+pin.String(); got != want {
				t.Errorf("image source %q, want %q", got, want)
			}
		}
		if n == 0 {
			t.Error("no image source in the graph")
		}
	})

	t.Run("the runtime's chain runs no process", func(t *testing.T) {
		c := chain(ops, root)
		for _, o := range c {
			if e, ok := o.Op.(*pb.Op_Exec); ok {
				t.Errorf("runtime stage runs %q", e.Exec.Meta.Args)
			}
		}
		src, ok := c[len(c)-1].Op.(*pb.Op_Source)
		if !ok || src.Source.Identifier != "docker-image://"+pin.String() {
			t.Errorf("runtime chain does not start from the pinned base: %v", c[len(c)-1])
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

	t.Run("pip reads only the requirements file from the context", func(t *testing.T) {
		var pip *pb.Op
		for _, o := range ops {
			if e, ok := o.Op.(*pb.Op_Exec); ok && e.Exec.Meta.Args[0] == "pip" {
				pip = o
			}
		}
		if pip == nil {
			t.Fatal("no pip step")
		}
		locals := 0
		for _, m := range pip.GetExec().Mounts {
			if m.Input < 0 {
				continue
			}
			src, ok := ops[digest.Digest(pip.Inputs[m.Input].Digest)].Op.(*pb.Op_Source)
			if !ok || !strings.HasPrefix(src.Source.Identifier, "local://") {
				continue
			}
			locals++
			if m.Selector != "requirements.txt" || !m.Readonly {
				t.Errorf("pip mounts %q of the context (readonly %v), want only requirements.txt, read-only", m.Selector, m.Readonly)
			}
		}
		if locals != 1 {
			t.Errorf("pip step mounts the context %d times, want 1", locals)
		}
	})

	t.Run("copies into the runtime are owned by appuser", func(t *testing.T) {
		for _, o := range chain(ops, root) {
			f, ok := o.Op.(*pb.Op_File)
			if !ok {
				continue
			}
			for _, a := range f.File.Actions {
				cp := a.GetCopy()
				if cp == nil || !slices.Contains([]string{venvDir, appDir}, cp.Dest) {
					continue
				}
				u, g := cp.Owner.GetUser().GetByID(), cp.Owner.GetGroup().GetByID()
				if u != 1000 || g != 1000 {
					t.Errorf("copy to %s owned by %d:%d, want 1000:1000", cp.Dest, u, g)
				}
			}
		}
	})
}

func TestRuntimePackages(t *testing.T) {
	r := PythonSlim{Python{RuntimePackages: []string{"libpq5"}}}
	_, ops, root := graph(t, r, Inputs{Platform: amd64})
	var runs [][]string
	for _, o := range chain(ops, root) {
		if e, ok := o.Op.(*pb.Op_Exec); ok {
			runs = append(runs, e.Exec.Meta.Args)
		}
	}
	if diff := cmp.Diff([][]string{debian.install([]string{"libpq5"})}, runs); diff != "" {
		t.Errorf("runtime processes (-want +got):\n%s", diff)
	}
	if err := (PythonSlim{Python{RuntimePackages: []string{"libpq5; rm -rf /"}}}).Validate(); err == nil {
		t.Error("a runtime package with shell in it validated")
	}
}

func TestPythonAlpineBaseOverride(t *testing.T) {
	base := builder.Pin("127.0.0.1:5000/test/debian:bookworm@sha256:" + strings.Repeat("ab", 32))
	_, ops, _ := graph(t, PythonAlpine{}, Inputs{Platform: amd64, Base: base})
	for _, o := range ops {
		if src, ok := o.Op.(*pb.Op_Source); ok && strings.HasPrefix(src.Source.Identifier, "docker-image://") {
			if got, want := src.Source.Identifier, "docker-image://"+base.String(); got != want {
				t.Errorf("image source %q, want the override %q", got, want)
			}
		}
	}
}

func TestPythonAlpineValidate(t *testing.T) {
	tests := []struct {
		name string
		r    PythonAlpine
		ok   bool
	}{
		{name: "zero value", ok: true},
		{name: "numeric user", r: PythonAlpine{Python{User: "1000:1000"}}, ok: true},
		{name: "root user", r: PythonAlpine{Python{User: "root"}}},
		{name: "other uid", r: PythonAlpine{Python{User: "0"}}},
		{name: "requirements outside the context", r: PythonAlpine{Python{Requirements: "../requirements.txt"}}},
		{name: "absolute requirements", r: PythonAlpine{Python{Requirements: "/requirements.txt"}}},
		{name: "package looks like a flag", r: PythonAlpine{Python{Packages: []string{"--allow-untrusted"}}}},
		{name: "env sets PATH", r: PythonAlpine{Python{Env: []string{"PATH=/bin"}}}},
		{name: "env", r: PythonAlpine{Python{Env: []string{"APP_ENV=prod"}}}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if _, err := tt.r.Image(Inputs{Platform: amd64}); (err == nil) != tt.ok {
				t.Errorf("Image() error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPythonAlpineGraphIsPlatformExplicit(t *testing.T) {
	arm := ocispecs.Platform{OS: "linux", Architecture: "arm64"}
	_, ops, _ := graph(t, PythonAlpine{}, Inputs{Platform: arm})
	for d, o := range ops {
		if o.Platform == nil {
			continue
		}
		if o.Platform.Architecture != "arm64" {
			t.Errorf("op %s is for %s, want arm64", d, o.Platform.Architecture)
		}
	}
}

// TestPins checks every builder.Pin constant declared in pins.go is a valid
// pin and is listed by Pins, so a malformed or forgotten pin fails here.
func TestPins(t *testing.T) {
	src, err := os.ReadFile("pins.go")
	if err != nil {
		t.Fatal(err)
	}
	lits, err := pinsrc.Read("pins.go", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(lits) == 0 {
		t.Fatal("no builder.Pin constants found in pins.go")
	}
	for _, l := range lits {
		if err := l.Value.Validate(); err != nil {
			t.Errorf("pin %s: %v", l.Name, err)
		}
		if !slices.Contains(Pins(), l.Value) {
			t.Errorf("pin %s is not listed by Pins()", l.Name)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, r := range All() {
		got, err := Lookup(r.Name())
		if err != nil || got.Name() != r.Name() {
			t.Errorf("Lookup(%q) = %v, %v", r.Name(), got, err)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s's defaults do not validate: %v", r.Name(), err)
		}
	}
	if _, err := Lookup("python-nonesuch"); err == nil || !strings.Contains(err.Error(), "python-alpine") {
		t.Errorf("Lookup of an unknown recipe = %v, want an error listing the recipes", err)
	}
}
