package publish

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/imagebuild/imagebuild/oci"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Assemble writes to the new OCI layout directory dst one image index of
// the platform images of the OCI layouts srcs, each as BuildKit's oci
// exporter writes it (tar=false) for one or more platforms, and returns the
// index's digest. Each source's manifests are taken as they are, platform
// images first in the order of srcs and then their attestations, and the
// index is written as BuildKit writes one, so a build split between
// daemons gives the index one daemon would where they agree.
func Assemble(dst string, srcs []string) (digest.Digest, error) {
	var images, attestations []ocispec.Descriptor
	if err := os.MkdirAll(filepath.Join(dst, "blobs", "sha256"), 0o755); err != nil {
		return "", err
	}
	for _, src := range srcs {
		desc, idx, err := single(src)
		if err != nil {
			return "", err
		}
		var descs []v1.Descriptor
		if desc.MediaType.IsIndex() {
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return "", fmt.Errorf("%s: %w", src, err)
			}
			m, err := child.IndexManifest()
			if err != nil {
				return "", fmt.Errorf("%s: %w", src, err)
			}
			descs = m.Manifests
		} else {
			// One platform's image alone: its platform is its config's.
			img, err := idx.Image(desc.Digest)
			if err != nil {
				return "", fmt.Errorf("%s: %w", src, err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				return "", fmt.Errorf("%s: %w", src, err)
			}
			desc.Platform = &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
			desc.Annotations = nil
			descs = []v1.Descriptor{desc}
		}
		for _, d := range descs {
			od, err := ociDescriptor(d)
			if err != nil {
				return "", err
			}
			if _, ok := d.Annotations[oci.AttestationAnnotation]; ok {
				attestations = append(attestations, od)
			} else {
				images = append(images, od)
			}
		}
		if err := LinkBlobs(src, dst); err != nil {
			return "", err
		}
	}
	idx := ocispec.Index{
		Versioned: ocispecs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: append(images, attestations...),
	}
	dt, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return "", err
	}
	d := digest.FromBytes(dt)
	if err := os.WriteFile(filepath.Join(dst, "blobs", "sha256", d.Encoded()), dt, 0o644); err != nil {
		return "", err
	}
	top, err := json.Marshal(ocispec.Index{
		Versioned: ocispecs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: int64(len(dt))}},
	})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dst, "index.json"), top, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dst, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return "", err
	}
	// The layout must read back whole.
	ii, err := oci.OpenLayout(dst)
	if err == nil {
		_, err = partial.Descriptor(ii)
	}
	if err != nil {
		return "", fmt.Errorf("assembled layout %s: %w", dst, err)
	}
	return d, nil
}

// ociDescriptor converts a go-containerregistry descriptor to the OCI one
// BuildKit marshals, so the index has BuildKit's field order.
func ociDescriptor(d v1.Descriptor) (ocispec.Descriptor, error) {
	dt, err := json.Marshal(d)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var od ocispec.Descriptor
	err = json.Unmarshal(dt, &od)
	return od, err
}

// WriteTar writes the OCI layout directory dir to w as a tarball, as
// BuildKit's oci exporter writes one.
func WriteTar(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if e.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: filepath.ToSlash(rel) + "/", Mode: 0o755})
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: filepath.ToSlash(rel), Mode: 0o644, Size: fi.Size()}); err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(tw, in)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
