package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/oci"
	digest "github.com/opencontainers/go-digest"
)

// ErrNoLayout is returned (wrapped) when the directory given is not an OCI
// layout holding one image.
var ErrNoLayout = errors.New("not an OCI layout of one image")

// Layout pushes the one image of the OCI layout directory dir (as BuildKit's
// oci exporter writes it with tar=false) to ref and returns its digest: by
// digest first ([LayoutByDigest]), then, where ref is a tag, the tag is
// moved to it ([Tag]). The manifest, or the index with its manifests and
// attestations, is pushed as it is in the layout, so the digest is the
// layout's. [SignedLayout] signs it between the two steps.
func Layout(ctx context.Context, dir string, ref name.Reference, opts ...remote.Option) (digest.Digest, error) {
	d, _, err := SignedLayout(ctx, dir, ref, nil, opts...)
	if err != nil {
		return "", err
	}
	return d, nil
}

// LayoutByDigest pushes the one image of the OCI layout directory dir to
// the repository repo by its digest alone, which it returns: no tag names
// it yet, so what a tag names can be checked or signed first.
func LayoutByDigest(ctx context.Context, dir string, repo name.Repository, opts ...remote.Option) (digest.Digest, error) {
	desc, idx, err := single(dir)
	if err != nil {
		return "", err
	}
	opts = append(opts, remote.WithContext(ctx))
	if err := write(idx, desc, repo.Digest(desc.Digest.String()), opts); err != nil {
		return "", fmt.Errorf("push %s to %s: %w", dir, repo, err)
	}
	return digest.Digest(desc.Digest.String()), nil
}

// Tag moves the tag t to the manifest or index d, already in t's
// repository.
func Tag(ctx context.Context, t name.Tag, d digest.Digest, opts ...remote.Option) error {
	opts = append(opts, remote.WithContext(ctx))
	desc, err := remote.Get(t.Context().Digest(d.String()), opts...)
	if err != nil {
		return fmt.Errorf("tag %s: %w", t, err)
	}
	if err := remote.Tag(t, desc, opts...); err != nil {
		return fmt.Errorf("tag %s: %w", t, err)
	}
	return nil
}

// write pushes the image or index desc names in idx to ref.
func write(idx v1.ImageIndex, desc v1.Descriptor, ref name.Reference, opts []remote.Option) error {
	switch {
	case desc.MediaType.IsIndex():
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return err
		}
		return remote.WriteIndex(ref, child, opts...)
	case desc.MediaType.IsImage():
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return err
		}
		return remote.Write(ref, img, opts...)
	default:
		return fmt.Errorf("%w: its index names a %s", ErrNoLayout, desc.MediaType)
	}
}

// single returns the one descriptor of the layout's index.json.
func single(dir string) (v1.Descriptor, v1.ImageIndex, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("%s: %w: no index.json (build one with --output type=oci,dest=DIR,tar=false)", dir, ErrNoLayout)
	}
	idx, err := oci.OpenLayout(dir)
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("%s: %w: %w", dir, ErrNoLayout, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("%s: %w: %w", dir, ErrNoLayout, err)
	}
	if len(m.Manifests) != 1 {
		return v1.Descriptor{}, nil, fmt.Errorf("%s: %w: its index.json names %d", dir, ErrNoLayout, len(m.Manifests))
	}
	return m.Manifests[0], idx, nil
}
