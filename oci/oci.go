package oci

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// OpenTarball unpacks the OCI tarball at path, as the oci exporter writes
// it, into the directory dir and returns its index. The index reads its
// blobs from dir, which must outlive it. It unpacks with [Extract], so a
// tarball that would write outside dir, or holds a symlink that points out
// of it or anything but files, folders and links, is refused.
func OpenTarball(path, dir string) (v1.ImageIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read OCI tarball: %w", err)
	}
	defer f.Close()
	if err := Extract(f, dir, ExtractOptions{}); err != nil {
		return nil, fmt.Errorf("read OCI tarball %s: %w", path, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI tarball %s: %w", path, err)
	}
	return idx, nil
}

// maxManifestBlob is the largest blob [OpenManifests] unpacks: far
// above any index, manifest, config or attestation, far below a layer that
// matters.
const maxManifestBlob = 4 << 20

// OpenManifests is [OpenTarball] for reading manifests only: it
// unpacks the tarball's index.json, oci-layout and blobs of up to
// maxManifestBlob bytes, so reading back a large image does not copy its
// layers to disk, and skips every other entry. The index it returns has no
// layers to read. Like OpenTarball, it refuses a tarball whose entry names
// lead out of dir.
func OpenManifests(path, dir string) (v1.ImageIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read OCI tarball: %w", err)
	}
	defer f.Close()
	err = Extract(f, dir, ExtractOptions{Keep: func(h *tar.Header) bool {
		return h.Typeflag == tar.TypeReg && (h.Name == "index.json" || h.Name == "oci-layout" ||
			strings.HasPrefix(h.Name, "blobs"+string(filepath.Separator)) && h.Size <= maxManifestBlob)
	}})
	if err != nil {
		return nil, fmt.Errorf("read OCI tarball %s: %w", path, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI tarball %s: %w", path, err)
	}
	return idx, nil
}

// OpenLayout opens the OCI layout directory dir and returns its index.
func OpenLayout(dir string) (v1.ImageIndex, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("open OCI layout %s: %w", dir, err)
	}
	return idx, nil
}

// Open opens path, an OCI layout directory, an OCI tarball (unpacked into
// tmp, which must outlive what it returns) or a docker tarball, and
// returns its index, or for a docker tarball, which holds no index, its
// image.
func Open(path, tmp string) (v1.ImageIndex, v1.Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if fi.IsDir() {
		idx, err := OpenLayout(path)
		return idx, nil, err
	}
	docker, err := hasFile(path, "manifest.json")
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	if docker {
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("open docker tarball %s: %w", path, err)
		}
		return nil, img, nil
	}
	idx, err := OpenTarball(path, tmp)
	return idx, nil, err
}

// hasFile tells whether the tarball at tarPath holds the file name.
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

// ReferenceDigestAnnotation is the annotation on an attestation manifest's
// index entry that names the image manifest it is about.
const ReferenceDigestAnnotation = "vnd.docker.reference.digest"

// PredicateTypeAnnotation is the annotation on an attestation manifest's
// layer that names the in-toto predicate type of the statement it holds.
const PredicateTypeAnnotation = "in-toto.io/predicate-type"

// PredicateSPDX is the in-toto predicate type of an SPDX SBOM, as
// BuildKit types its own.
const PredicateSPDX = "https://spdx.dev/Document"

// Statement is an in-toto statement as an attestation layer holds it.
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []Subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is what a statement is about: a name and its digests.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// MaxStatement is the largest attestation statement [Attestation] reads:
// an SPDX SBOM of an image of a hundred thousand files is a few tens of
// MiB.
const MaxStatement = 128 << 20

// Attestation returns the statement of predicateType that idx attaches to
// the image whose manifest digest is image (in an attestation manifest the
// index names for it, looking into nested indexes), and the digest of the
// layer that holds it; a nil statement where there is none.
func Attestation(idx v1.ImageIndex, image v1.Hash, predicateType string) (*Statement, v1.Hash, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, v1.Hash{}, err
	}
	for _, d := range im.Manifests {
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, v1.Hash{}, err
			}
			if st, h, err := Attestation(child, image, predicateType); err != nil || st != nil {
				return st, h, err
			}
			continue
		}
		if !IsAttestation(d) || d.Annotations[ReferenceDigestAnnotation] != image.String() {
			continue
		}
		att, err := idx.Image(d.Digest)
		if err != nil {
			return nil, v1.Hash{}, err
		}
		m, err := att.Manifest()
		if err != nil {
			return nil, v1.Hash{}, err
		}
		for _, l := range m.Layers {
			if l.Annotations[PredicateTypeAnnotation] != predicateType {
				continue
			}
			layer, err := att.LayerByDigest(l.Digest)
			if err != nil {
				return nil, v1.Hash{}, err
			}
			rc, err := layer.Compressed()
			if err != nil {
				return nil, v1.Hash{}, err
			}
			dt, err := io.ReadAll(io.LimitReader(rc, MaxStatement+1))
			rc.Close()
			if err != nil {
				return nil, v1.Hash{}, fmt.Errorf("read attestation %s: %w", l.Digest, err)
			}
			if len(dt) > MaxStatement {
				return nil, v1.Hash{}, fmt.Errorf("attestation %s: more than %d MiB, the most a statement is read", l.Digest, MaxStatement>>20)
			}
			var st Statement
			if err := json.Unmarshal(dt, &st); err != nil {
				return nil, v1.Hash{}, fmt.Errorf("attestation %s: %w", l.Digest, err)
			}
			return &st, l.Digest, nil
		}
	}
	return nil, v1.Hash{}, nil
}

// SBOM returns the SPDX SBOM statement ([PredicateSPDX]) idx attaches to
// img, and the digest of the layer holding it; a nil statement where there
// is none.
func SBOM(idx v1.ImageIndex, img v1.Image) (*Statement, v1.Hash, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, v1.Hash{}, err
	}
	return Attestation(idx, d, PredicateSPDX)
}
