package builder

import (
	"context"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	spb "github.com/moby/buildkit/sourcepolicy/pb"
)

// sourcePolicy turns the mirrors into a BuildKit source policy that converts
// each digest-pinned image ref to its mirror, digest kept. Refs without a
// digest are not mirrored: a mirror could serve anything for a tag.
func sourcePolicy(m ref.Mirrors, refs []string) (*spb.Policy, error) {
	if len(m) == 0 {
		return nil, nil
	}
	p := &spb.Policy{Version: 1}
	for _, r := range slices.Compact(slices.Sorted(slices.Values(refs))) {
		named, err := reference.ParseNormalizedNamed(r)
		if err != nil {
			return nil, err
		}
		if _, ok := named.(reference.Canonical); !ok {
			continue
		}
		to, err := m.Rewrite(r)
		if err != nil {
			return nil, err
		}
		if to == r {
			continue
		}
		p.Rules = append(p.Rules, &spb.Rule{
			Action:   spb.PolicyAction_CONVERT,
			Selector: &spb.Selector{Identifier: "docker-image://" + r, MatchType: spb.MatchType_EXACT},
			Updates:  &spb.Update{Identifier: "docker-image://" + to},
		})
	}
	return p, nil
}

// imageRefs lists the refs of def's image sources, and base's.
func imageRefs(def *llb.Definition, base ref.Pin) ([]string, error) {
	refs, err := sourceRefs(def)
	return append([]string{base.String()}, refs...), err
}

// Refs returns the image references img pulls: those of its graph's image
// sources, as llb names them (docker.io/library/python:...), and its base,
// each once, sorted; what `pins check` checks. A reference that is not a
// valid [ref.Pin] is returned as it is; [ref.Pin.Validate] tells what is
// wrong with it.
func (img Image) Refs(ctx context.Context) ([]string, error) {
	def, err := img.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	refs, err := sourceRefs(def)
	if err != nil {
		return nil, err
	}
	if img.Base != "" {
		base := img.Base.String()
		if p, err := ref.ParsePin(base); err == nil {
			base = p.String()
		}
		refs = append(refs, base)
	}
	slices.Sort(refs)
	return slices.Compact(refs), nil
}

// sourceRefs lists the references of def's image sources, in the order of
// the definition, as the graph names them: llb normalizes
// python:3.12-alpine@sha256:... to docker.io/library/python:3.12-alpine@sha256:....
func sourceRefs(def *llb.Definition) ([]string, error) {
	var refs []string
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			return nil, err
		}
		if src := op.GetSource(); src != nil {
			if r, ok := strings.CutPrefix(src.Identifier, "docker-image://"); ok {
				refs = append(refs, r)
			}
		}
	}
	return refs, nil
}
