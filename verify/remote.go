package verify

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pulled is [Images] of the image d names in its registry, read with opts
// (credentials, transport): never a local file or folder, whatever exists
// at a path spelled like d. It is what to check once a signature of d was
// verified, so that the image checked is the one signed.
func Pulled(ctx context.Context, d name.Digest, platform ocispecs.Platform, opts ...remote.Option) ([]PlatformImage, error) {
	idx, img, err := pull(ctx, d, opts...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", d, err)
	}
	return platformImages(d.String(), idx, img, platform)
}

// pull reads r from its registry: its index, or its image where r names
// no index.
func pull(ctx context.Context, r name.Reference, opts ...remote.Option) (v1.ImageIndex, v1.Image, error) {
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, nil, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		return idx, nil, err
	}
	img, err := desc.Image()
	return nil, img, err
}
