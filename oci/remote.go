package oci

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// OpenRemote reads what r names in its registry, with opts (credentials,
// transport), as an index: the index r names, or the lone image r names
// wrapped in one, its entry without a platform (as [Platforms] and [Image]
// read an entry without one: by the image's config, and whatever platform
// is asked). Manifests and blobs are read when they are asked for.
func OpenRemote(ctx context.Context, r name.Reference, opts ...remote.Option) (v1.ImageIndex, error) {
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		return desc.ImageIndex()
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	return mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img}), nil
}
