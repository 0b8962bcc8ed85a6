package pins

import (
	"context"
	"slices"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/moby/buildkit/client/llb"
)

// Refs returns the image references img pulls: those of its graph's image
// sources, as llb names them (docker.io/library/python:...), and its base,
// each once, sorted. A reference that is not a valid [builder.Pin] is
// returned as it is; [builder.Pin.Validate] tells what is wrong with it.
func Refs(ctx context.Context, img builder.Image) ([]string, error) {
	def, err := img.Root.Marshal(ctx, llb.Platform(img.Platform))
	if err != nil {
		return nil, err
	}
	refs, err := builder.ImageRefs(def)
	if err != nil {
		return nil, err
	}
	if img.Base != "" {
		base := img.Base.String()
		if p, err := builder.ParsePin(base); err == nil {
			base = p.String()
		}
		refs = append(refs, base)
	}
	slices.Sort(refs)
	return slices.Compact(refs), nil
}
