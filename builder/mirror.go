package builder

import (
	"context"
	"slices"

	"github.com/distribution/reference"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
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
	g, err := decode(def)
	if err != nil {
		return nil, err
	}
	return append([]string{base.String()}, g.images()...), nil
}

// Refs returns the image references img pulls: those of its graph's image
// sources, as llb names them (docker.io/library/python:...), and its base,
// each once, sorted; what `pins check` checks. A reference that is not a
// valid [ref.Pin] is returned as it is; [ref.Pin.Validate] tells what is
// wrong with it.
func (img Image) Refs(ctx context.Context) ([]string, error) {
	g, err := img.decode(ctx)
	if err != nil {
		return nil, err
	}
	refs := g.images()
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

// Secrets returns the IDs of the build secrets img's steps mount, sorted:
// those a build of it can be given.
func (img Image) Secrets(ctx context.Context) ([]string, error) {
	g, err := img.decode(ctx)
	if err != nil {
		return nil, err
	}
	return g.secrets(), nil
}

// decode marshals img's graph and decodes it.
func (img Image) decode(ctx context.Context) (*graph, error) {
	def, err := img.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	return decode(def)
}
