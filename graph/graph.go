package graph

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
)

// Graph is a marshaled LLB definition decoded once: its ops by digest, in
// the definition's order, and the names its steps were given. Every reader
// of a definition in imagebuild walks one: the history, the image
// references, the secrets the steps mount, a failed step's name.
type Graph struct {
	ops   map[digest.Digest]*pb.Op
	order []digest.Digest
	names map[digest.Digest]string
}

// Decode decodes def.
func Decode(def *llb.Definition) (*Graph, error) {
	g := &Graph{ops: map[digest.Digest]*pb.Op{}, names: map[digest.Digest]string{}}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			return nil, fmt.Errorf("read graph: %w", err)
		}
		d := digest.FromBytes(dt)
		g.ops[d] = &op
		g.order = append(g.order, d)
		g.names[d] = def.Metadata[d].Description["llb.customname"]
	}
	return g, nil
}

// terminal is the definition's last op, whose input is the graph's result;
// nil for an empty definition.
func (g *Graph) terminal() *pb.Op {
	if len(g.order) == 0 {
		return nil
	}
	return g.ops[g.order[len(g.order)-1]]
}

// Images lists the references of the graph's image sources, in the order of
// the definition, as the graph names them: llb normalizes
// python:3.12-alpine@sha256:... to docker.io/library/python:3.12-alpine@sha256:....
func (g *Graph) Images() []string {
	var refs []string
	for _, d := range g.order {
		if r, ok := strings.CutPrefix(g.ops[d].GetSource().GetIdentifier(), "docker-image://"); ok {
			refs = append(refs, r)
		}
	}
	return refs
}

// All yields the graph's ops by digest, in the definition's order (inputs
// first; the last is the terminal op).
func (g *Graph) All() iter.Seq2[digest.Digest, *pb.Op] {
	return func(yield func(digest.Digest, *pb.Op) bool) {
		for _, d := range g.order {
			if !yield(d, g.ops[d]) {
				return
			}
		}
	}
}

// Name is the name the step of digest d was given; "" for none.
func (g *Graph) Name(d digest.Digest) string { return g.names[d] }

// Op returns the op of digest d; nil where the graph has none.
func (g *Graph) Op(d digest.Digest) *pb.Op { return g.ops[d] }

// Secrets lists the IDs of the secrets the graph's steps mount, sorted.
func (g *Graph) Secrets() []string {
	var ids []string
	for _, d := range g.order {
		for _, m := range g.ops[d].GetExec().GetMounts() {
			if m.MountType == pb.MountType_SECRET && !slices.Contains(ids, m.SecretOpt.GetID()) {
				ids = append(ids, m.SecretOpt.GetID())
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// WithNetwork returns def with every step that runs a process in the
// network mode mode: each such op rewritten, and every op that reaches one
// given the new digests of its inputs. Ops come in the definition's order,
// inputs first.
func WithNetwork(def *llb.Definition, mode pb.NetMode) (*llb.Definition, error) {
	g, err := Decode(def)
	if err != nil {
		return nil, err
	}
	out := &llb.Definition{Metadata: map[digest.Digest]llb.OpMetadata{}, Source: def.Source}
	renamed := map[digest.Digest]digest.Digest{}
	for i, d := range g.order {
		op := g.ops[d]
		changed := false
		for _, in := range op.Inputs {
			if nd, ok := renamed[digest.Digest(in.Digest)]; ok {
				in.Digest, changed = string(nd), true
			}
		}
		if e := op.GetExec(); e != nil && e.Network != mode {
			e.Network, changed = mode, true
		}
		dt := def.Def[i]
		if changed {
			if dt, err = op.MarshalVT(); err != nil {
				return nil, fmt.Errorf("rewrite graph: %w", err)
			}
			renamed[d] = digest.FromBytes(dt)
		}
		out.Def = append(out.Def, dt)
		out.Metadata[digest.FromBytes(dt)] = def.Metadata[d]
	}
	if def.Source != nil && len(renamed) > 0 {
		src := def.Source.CloneVT()
		for old, nd := range renamed {
			if l, ok := src.Locations[old.String()]; ok {
				delete(src.Locations, old.String())
				src.Locations[nd.String()] = l
			}
		}
		out.Source = src
	}
	return out, nil
}

// Refs returns the image references img pulls: those of its graph's image
// sources, as llb names them (docker.io/library/python:...), and its bases
// ([Image.Bases]), each once, sorted; what `pins check` checks. A
// reference that is not a valid [ref.Pin] is returned as it is;
// [ref.Pin.Validate] tells what is wrong with it.
func (img Image) Refs(ctx context.Context) ([]string, error) {
	g, err := img.decode(ctx)
	if err != nil {
		return nil, err
	}
	refs := g.Images()
	for _, b := range img.Bases() {
		if b == "" {
			continue
		}
		base := b.String()
		if p, err := ref.ParsePin(base); err == nil {
			base = p.String()
		}
		refs = append(refs, base)
	}
	slices.Sort(refs)
	return slices.Compact(refs), nil
}

// Secrets returns the IDs of the build secrets img's steps mount, sorted:
// those a build of it can be given.
func (img Image) Secrets(ctx context.Context) ([]string, error) {
	g, err := img.decode(ctx)
	if err != nil {
		return nil, err
	}
	return g.Secrets(), nil
}

// decode marshals img's graph and decodes it.
func (img Image) decode(ctx context.Context) (*Graph, error) {
	def, err := img.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	return Decode(def)
}
