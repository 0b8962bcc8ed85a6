package builder

import (
	"slices"

	"github.com/distribution/reference"
	"github.com/imagebuild/imagebuild/graph"
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

// imageRefs lists the refs of def's image sources, and those of bases:
// an image's bases ([graph.Image.Bases]), which the graph before its
// expansion may not hold yet.
func imageRefs(def *llb.Definition, bases []ref.Pin) ([]string, error) {
	g, err := graph.Decode(def)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, b := range bases {
		refs = append(refs, b.String())
	}
	return append(refs, g.Images()...), nil
}
