package publish

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/sign"
	digest "github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/signature"
)

// SignedDigests are what a push is signed for: pushed, the digest the push
// gave (the index's, where it pushed one), then each of manifests, the
// platforms' image manifests, each digest once, in that order. The build
// (--sign) and [SignedLayout] sign these.
func SignedDigests(pushed digest.Digest, manifests []digest.Digest) ([]v1.Hash, error) {
	var out []v1.Hash
	for _, d := range append([]digest.Digest{pushed}, manifests...) {
		h, err := v1.NewHash(d.String())
		if err != nil {
			return nil, fmt.Errorf("sign: digest %q: %w", d, err)
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// Sign signs, with s, what a push to repo gave: [SignedDigests] of pushed
// and manifests, each stored as cosign v2 stores a signature (see package
// sign). It returns the tags the signatures are stored under, in order,
// those written before an error included; the error names the first
// digest left unsigned.
func Sign(ctx context.Context, repo name.Repository, pushed digest.Digest, manifests []digest.Digest, s signature.Signer, opts ...remote.Option) ([]name.Tag, error) {
	digests, err := SignedDigests(pushed, manifests)
	if err != nil {
		return nil, fmt.Errorf("%s@%s was pushed but not signed: %w", repo, pushed, err)
	}
	return sign.All(ctx, repo, digests, s, opts...)
}

// SignedLayout pushes the one image of the OCI layout directory dir to ref
// as [Layout] does, and signs it with s between the two steps: by digest
// first ([LayoutByDigest]), then [Sign] of that digest and the layout's
// platforms' image manifests, and only then, where ref is a tag, is the tag
// moved to it ([Tag]), so that the tag never names an image not yet
// signed. A nil s signs nothing. It returns the digest pushed and the tags
// of the signatures written, those before an error included.
func SignedLayout(ctx context.Context, dir string, ref name.Reference, s signature.Signer, opts ...remote.Option) (digest.Digest, []name.Tag, error) {
	d, err := LayoutByDigest(ctx, dir, ref.Context(), opts...)
	if err != nil {
		return "", nil, err
	}
	var tags []name.Tag
	if s != nil {
		manifests, err := layoutManifests(dir)
		if err != nil {
			return d, nil, fmt.Errorf("%s@%s was pushed but not signed: %w", ref.Context(), d, err)
		}
		if tags, err = Sign(ctx, ref.Context(), d, manifests, s, opts...); err != nil {
			return d, tags, err
		}
	}
	if t, ok := ref.(name.Tag); ok {
		if err := Tag(ctx, t, d, opts...); err != nil {
			return d, tags, err
		}
	}
	return d, tags, nil
}

// layoutManifests are the image manifest digests of the platforms of the
// layout dir, in the order its index lists them.
func layoutManifests(dir string) ([]digest.Digest, error) {
	idx, err := oci.OpenLayout(dir)
	if err != nil {
		return nil, err
	}
	ps, err := oci.Platforms(idx)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, p := range ps {
		img, err := oci.Image(idx, p)
		if err != nil {
			return nil, err
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, digest.Digest(d.String()))
	}
	return out, nil
}
