package verify

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/oci"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pulled is [Images] of the image d names in its registry, read with opts
// (credentials, transport): never a local file or folder, whatever exists
// at a path spelled like d. It is what to check once a signature of d was
// verified, so that the image checked is the one signed ([Load] with
// [OpenOptions].Signed does both).
func Pulled(ctx context.Context, d name.Digest, platform ocispecs.Platform, opts ...remote.Option) ([]PlatformImage, error) {
	idx, err := oci.OpenRemote(ctx, d, opts...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", d, err)
	}
	return platformImages(d.String(), idx, nil, platform)
}
