package verify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/ref"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNoTarget is returned (wrapped) when a target is neither a file, a
// directory nor a registry reference.
var ErrNoTarget = errors.New("no such file or directory")

// PlatformImage is one platform's image of a target.
type PlatformImage struct {
	Platform ocispecs.Platform
	Image    v1.Image
	// SBOM is the SPDX document the target attaches to the image as an
	// in-toto attestation, nil where it attaches none.
	SBOM []byte
}

// Open opens target as an image: an OCI layout directory or an OCI or
// docker tarball when target is a path that exists, else a registry
// reference when [IsReference] says target is written as one. A
// multi-platform target gives its image for platform. tmp is where an OCI
// tarball is unpacked.
func Open(ctx context.Context, target string, platform ocispecs.Platform, tmp string) (v1.Image, error) {
	imgs, err := Images(ctx, target, platform, tmp)
	if err != nil {
		return nil, err
	}
	if len(imgs) != 1 {
		return nil, fmt.Errorf("%s holds %d images; name one with a platform", target, len(imgs))
	}
	return imgs[0].Image, nil
}

// Images opens target as [Open] does and returns each platform's image,
// or where platform is not the zero value, that platform's only. An index
// that lists no image, or only attestations, is an error.
func Images(ctx context.Context, target string, platform ocispecs.Platform, tmp string) ([]PlatformImage, error) {
	idx, img, err := open(ctx, target, tmp)
	if err != nil {
		return nil, err
	}
	return platformImages(target, idx, img, platform)
}

// platformImages is [Images] of what target opened to: its index, or its
// image where it holds no index.
func platformImages(target string, idx v1.ImageIndex, img v1.Image, platform ocispecs.Platform) ([]PlatformImage, error) {
	if img != nil {
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
		return []PlatformImage{{Platform: ocispecs.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}, Image: img}}, nil
	}
	// An index of no image (none, or only attestations) is not an image
	// that passes every check.
	ps, err := oci.Platforms(idx)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", target, err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("open %s: the index lists no image (check that it is what a build wrote)", target)
	}
	if platform.OS != "" {
		ps = []ocispecs.Platform{platform}
	}
	var out []PlatformImage
	for _, p := range ps {
		img, err := oci.Image(idx, p)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
		doc, err := SBOM(idx, img)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
		out = append(out, PlatformImage{Platform: p, Image: img, SBOM: doc})
	}
	return out, nil
}

// open returns target's index, or its image where it holds no index.
func open(ctx context.Context, target, tmp string) (v1.ImageIndex, v1.Image, error) {
	_, err := os.Stat(target)
	if err == nil {
		return oci.Open(target, tmp)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("open %s: %w", target, err)
	}
	if !IsReference(target) {
		return nil, nil, fmt.Errorf("%s: %w, and not a registry reference (written NAME:TAG or NAME@sha256:<digest>)", target, ErrNoTarget)
	}
	r, err := ref.Parse(target)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w, and not a registry reference: %v", target, ErrNoTarget, err)
	}
	idx, img, err := pull(ctx, r, remote.WithAuthFromKeychain(ref.Keychain(nil)))
	if err != nil {
		return nil, nil, fmt.Errorf("pull %s: %w", target, err)
	}
	return idx, img, nil
}

// IsReference reports whether target is written as a registry reference
// that names what to pull: NAME:TAG or NAME@sha256:<digest>. A bare name
// (image.tar, out/image) is taken for a path, never pulled as :latest.
func IsReference(target string) bool {
	named, err := reference.ParseNormalizedNamed(target)
	if err != nil {
		return false
	}
	_, tagged := named.(reference.Tagged)
	_, digested := named.(reference.Digested)
	return tagged || digested
}

// SBOM returns the SPDX document idx attaches to img as an in-toto
// attestation (its predicate), nil where it attaches none.
func SBOM(idx v1.ImageIndex, img v1.Image) ([]byte, error) {
	st, _, err := oci.SBOM(idx, img)
	if err != nil || st == nil {
		return nil, err
	}
	return st.Predicate, nil
}
