package recipes

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
)

// dependsOnImage tells whether the op d reads the image source ref, at any
// depth.
func dependsOnImage(ops map[digest.Digest]*pb.Op, d digest.Digest, ref ref.Pin) bool {
	if ops[d].GetSource().GetIdentifier() == "docker-image://"+ref.String() {
		return true
	}
	for _, in := range ops[d].Inputs {
		if dependsOnImage(ops, digest.Digest(in.Digest), ref) {
			return true
		}
	}
	return false
}

// TestRuntimeBase: a runtime base of its own, as the recipe's RuntimeBase
// or as Inputs.RuntimeBase, is the runtime's merge's first input and the
// image's Base; every builder step runs on the builder's base and nothing
// of the venv or the app reads the runtime base, so the layers over it are
// the same ops (the same digests) as on the builder's base, but for the
// account's, which is made from the runtime base's user files.
func TestRuntimeBase(t *testing.T) {
	builderBase := ref.Pin("127.0.0.1:5000/test/python:3.12-slim@sha256:" + strings.Repeat("ab", 32))
	patched := ref.Pin("127.0.0.1:5000/test/python:3.12-slim-patched@sha256:" + strings.Repeat("cd", 32))
	_, _, sameRoot := recipeGraph(t, PythonSlim{Base: builderBase}, Inputs{Platform: amd64})
	_, sameOps, _ := recipeGraph(t, PythonSlim{Base: builderBase}, Inputs{Platform: amd64})
	_, sameLayers := runtime(t, sameOps, sameRoot)
	sameMerge := sameOps[sameRoot]

	for _, tt := range []struct {
		name string
		r    PythonSlim
		in   Inputs
	}{
		{"the recipe's RuntimeBase", PythonSlim{Base: builderBase, RuntimeBase: patched}, Inputs{Platform: amd64}},
		{"Inputs.RuntimeBase", PythonSlim{Base: builderBase}, Inputs{Platform: amd64, RuntimeBase: Base{Pin: patched}}},
		{"Inputs.RuntimeBase over Inputs.Base", PythonSlim{}, Inputs{Platform: amd64, Base: Base{Pin: builderBase}, RuntimeBase: Base{Pin: patched, Distro: Debian}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			img, err := tt.r.Image(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if img.Base != patched || img.BuilderBase != builderBase {
				t.Errorf("image Base %s, BuilderBase %s; want the runtime base %s and the builder's %s", img.Base, img.BuilderBase, patched, builderBase)
			}
			if diff := cmp.Diff([]ref.Pin{patched, builderBase}, img.Bases()); diff != "" {
				t.Errorf("Bases (-want +got):\n%s", diff)
			}
			_, ops, root := marshal(t, expanded(t, img))
			base, layers := runtime(t, ops, root)
			if got := base.GetSource().GetIdentifier(); got != "docker-image://"+patched.String() {
				t.Errorf("the runtime starts from %s, want the runtime base %s", got, patched)
			}
			// Every process but the account's runs on the builder's base.
			for d, o := range ops {
				e := o.GetExec()
				if e == nil {
					continue
				}
				account := len(e.Meta.Args) > 2 && e.Meta.Args[2] == userFilesScript
				if onRuntime := dependsOnImage(ops, d, patched); onRuntime != account {
					t.Errorf("step %q reads the runtime base: %v, want %v (only the account's step)", firstLine(e.Meta.Args), onRuntime, account)
				}
				if !account && !dependsOnImage(ops, d, builderBase) {
					t.Errorf("step %q does not run on the builder's base", firstLine(e.Meta.Args))
				}
			}
			// The layers over the base: the account's is made from the
			// runtime base; the empty venv, each distribution and the app
			// are the very ops they are on the builder's base.
			if len(layers) != len(sameLayers) {
				t.Fatalf("%d layers over the runtime base, want %d, as over the builder's", len(layers), len(sameLayers))
			}
			m := ops[root]
			for i, in := range m.Inputs[1:] {
				d := digest.Digest(in.Digest)
				onRuntime := dependsOnImage(ops, d, patched)
				if i == 0 {
					if !onRuntime {
						t.Errorf("the account's layer does not read the runtime base's user files")
					}
					continue
				}
				if onRuntime {
					t.Errorf("layer %d over the base reads the runtime base", i+1)
				}
				if want := digest.Digest(sameMerge.Inputs[i+1].Digest); d != want {
					t.Errorf("layer %d over the base is op %s, want %s: the same as over the builder's base", i+1, d, want)
				}
			}
		})
	}

	t.Run("the builder's base, named as the runtime's, is the graph without one", func(t *testing.T) {
		want, _, _ := recipeGraph(t, PythonSlim{Base: builderBase}, Inputs{Platform: amd64})
		for _, r := range []PythonSlim{{Base: builderBase, RuntimeBase: builderBase}} {
			got, _, _ := recipeGraph(t, r, Inputs{Platform: amd64})
			if diff := cmp.Diff(digests(want), digests(got)); diff != "" {
				t.Errorf("graph (-want +got):\n%s", diff)
			}
		}
		got, _, _ := recipeGraph(t, PythonSlim{}, Inputs{Platform: amd64, Base: Base{Pin: builderBase}, RuntimeBase: Base{Pin: builderBase}})
		if diff := cmp.Diff(digests(want), digests(got)); diff != "" {
			t.Errorf("graph with --base and --runtime-base of one image (-want +got):\n%s", diff)
		}
		img, err := PythonSlim{Base: builderBase}.Image(Inputs{Platform: amd64})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]ref.Pin{builderBase}, img.Bases()); diff != "" {
			t.Errorf("Bases of one base (-want +got):\n%s", diff)
		}
	})

	t.Run("Inputs.Base replaces the recipe's runtime base too", func(t *testing.T) {
		img, err := PythonSlim{RuntimeBase: patched}.Image(Inputs{Platform: amd64, Base: Base{Pin: builderBase}})
		if err != nil {
			t.Fatal(err)
		}
		if img.Base != builderBase || img.BuilderBase != builderBase {
			t.Errorf("Base %s, BuilderBase %s; want both %s", img.Base, img.BuilderBase, builderBase)
		}
	})

	t.Run("a runtime base of another distribution is refused", func(t *testing.T) {
		_, err := PythonSlim{}.Image(Inputs{Platform: amd64, RuntimeBase: Base{Pin: patched, Distro: Alpine}})
		var fe *graph.FieldError
		if !errors.As(err, &fe) || fe.Field != "RuntimeBase" || !strings.Contains(err.Error(), "runs alpine") {
			t.Errorf("error %v, want a RuntimeBase field error saying it runs alpine", err)
		}
	})

	t.Run("runtime packages are installed on the runtime base", func(t *testing.T) {
		_, ops, root := recipeGraph(t, PythonSlim{Base: builderBase, RuntimeBase: patched, RuntimePackages: []string{"libpq5"}}, Inputs{Platform: amd64})
		m := ops[root]
		if len(m.Inputs) < 3 || !dependsOnImage(ops, digest.Digest(m.Inputs[2].Digest), patched) {
			t.Errorf("the runtime packages' layer is not made on the runtime base")
		}
		if dependsOnImage(ops, digest.Digest(m.Inputs[2].Digest), builderBase) {
			t.Errorf("the runtime packages' layer reads the builder's base")
		}
	})
}

// firstLine is a command line's first line, to name a step by.
func firstLine(args []string) string {
	l, _, _ := strings.Cut(strings.Join(args, " "), "\n")
	return l
}

// digests lists ops' digests in order.
func digests(ops []op) []digest.Digest {
	var out []digest.Digest
	for _, o := range ops {
		out = append(out, o.Digest)
	}
	return out
}
