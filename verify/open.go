package verify

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/imagebuild/imagebuild/builder"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNoTarget is returned (wrapped) when a target is neither a file, a
// directory nor a registry reference.
var ErrNoTarget = errors.New("no such file or directory")

// Open opens target as an image: an OCI layout directory or an OCI or
// docker tarball when target is a path that exists, else a registry
// reference when [IsReference] says target is written as one. A multi-platform target gives its
// image for platform. tmp is where an OCI tarball is unpacked; close removes
// what Open left there.
func Open(ctx context.Context, target string, platform ocispecs.Platform, tmp string) (v1.Image, error) {
	fi, err := os.Stat(target)
	switch {
	case err == nil && fi.IsDir():
		idx, err := layout.ImageIndexFromPath(target)
		if err != nil {
			return nil, fmt.Errorf("open OCI layout %s: %w", target, err)
		}
		return builder.SingleImage(idx, platform)
	case err == nil:
		docker, err := hasFile(target, "manifest.json")
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
		if docker {
			img, err := tarball.ImageFromPath(target, nil)
			if err != nil {
				return nil, fmt.Errorf("open docker tarball %s: %w", target, err)
			}
			return img, nil
		}
		return builder.OpenOCITarball(target, tmp)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", target, err)
	}
	if !IsReference(target) {
		return nil, fmt.Errorf("%s: %w, and not a registry reference (written NAME:TAG or NAME@sha256:<digest>)", target, ErrNoTarget)
	}
	ref, err := builder.ParseReference(target)
	if err != nil {
		return nil, fmt.Errorf("%s: %w, and not a registry reference: %v", target, ErrNoTarget, err)
	}
	p := v1.Platform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithPlatform(p))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", target, err)
	}
	return img, nil
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

func hasFile(tarPath, name string) (bool, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("not a tarball: %w", err)
		}
		if filepath.Clean(h.Name) == name {
			return true, nil
		}
	}
}
