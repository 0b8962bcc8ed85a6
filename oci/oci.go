package oci

import (
	"fmt"
	"os"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/moby/go-archive"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// OpenTarball unpacks the OCI tarball at path, as the oci exporter writes
// it, into the directory dir and returns its index. The index reads its
// blobs from dir, which must outlive it.
func OpenTarball(path, dir string) (v1.ImageIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read OCI tarball: %w", err)
	}
	defer f.Close()
	if err := archive.Untar(f, dir, &archive.TarOptions{NoLchown: true}); err != nil {
		return nil, fmt.Errorf("read OCI tarball %s: %w", path, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI tarball %s: %w", path, err)
	}
	return idx, nil
}

// OpenImage unpacks the OCI tarball at path into dir, as [OpenTarball]
// does, and returns its one image: the single image of the layout, or,
// where the layout holds an index (as with attestations), that index's one
// image that is not an attestation.
func OpenImage(path, dir string) (v1.Image, error) {
	idx, err := OpenTarball(path, dir)
	if err != nil {
		return nil, err
	}
	img, err := Image(idx, ocispecs.Platform{})
	if err != nil {
		return nil, fmt.Errorf("read OCI tarball %s: %w", path, err)
	}
	return img, nil
}

// AttestationAnnotation is the annotation BuildKit puts on the index
// entries of attestation manifests, with the value "attestation-manifest".
const AttestationAnnotation = "vnd.docker.reference.type"

// IsAttestation reports whether d, an entry of an index, is an attestation
// manifest rather than an image.
func IsAttestation(d v1.Descriptor) bool {
	return d.Annotations[AttestationAnnotation] == "attestation-manifest"
}

// Image returns idx's image for platform: its one image that is not an
// attestation, looking into nested indexes, or where it has several, the
// one for platform. The zero platform asks for the only image.
func Image(idx v1.ImageIndex, platform ocispecs.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var images []v1.Descriptor
	for _, d := range im.Manifests {
		if IsAttestation(d) {
			continue
		}
		if platform.OS != "" && d.Platform != nil &&
			(d.Platform.OS != platform.OS || d.Platform.Architecture != platform.Architecture ||
				(platform.Variant != "" && d.Platform.Variant != platform.Variant)) {
			continue
		}
		images = append(images, d)
	}
	if len(images) != 1 {
		return nil, fmt.Errorf("%d images for %s, want 1", len(images), platformString(platform))
	}
	if images[0].MediaType.IsIndex() {
		child, err := idx.ImageIndex(images[0].Digest)
		if err != nil {
			return nil, err
		}
		return Image(child, platform)
	}
	return idx.Image(images[0].Digest)
}

// Platforms lists the platforms of idx's images, attestations left out,
// looking into nested indexes; an image the index gives no platform is
// asked its config.
func Platforms(idx v1.ImageIndex) ([]ocispecs.Platform, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []ocispecs.Platform
	for _, d := range im.Manifests {
		if IsAttestation(d) {
			continue
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			ps, err := Platforms(child)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		case d.Platform != nil:
			out = append(out, ocispecs.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant})
		default:
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				return nil, err
			}
			out = append(out, ocispecs.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
		}
	}
	return out, nil
}

func platformString(p ocispecs.Platform) string {
	if p.OS == "" {
		return "any platform"
	}
	return platforms.Format(p)
}
