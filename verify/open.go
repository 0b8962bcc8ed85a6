package verify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/ref"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNoTarget is returned (wrapped) when a target is neither a file, a
// directory nor a registry reference.
var ErrNoTarget = errors.New("no such file or directory")

// ErrNotReference is returned (wrapped) when a target whose signature is
// to be checked is not a registry reference: signatures are checked in the
// registry the image was pushed to.
var ErrNotReference = errors.New("not a registry reference")

// PlatformImage is one platform's image of a target.
type PlatformImage struct {
	Platform ocispecs.Platform
	Image    v1.Image
	// SBOM is the SPDX document the target attaches to the image as an
	// in-toto attestation, nil where it attaches none.
	SBOM []byte
}

// SignatureCheck checks that the image r names in its registry is signed,
// reading the registry with opts, and returns the digest whose signature
// it checked, in r's repository. Package sign's SignedBy(key) is one:
// verify runs the check but links no signing library.
type SignatureCheck func(ctx context.Context, r name.Reference, opts ...remote.Option) (name.Digest, error)

// OpenOptions say which of a target's images [Load] opens and how it reads
// them.
type OpenOptions struct {
	// Platform, where not the zero value, is the platform whose image is
	// opened; default every platform's.
	Platform ocispecs.Platform
	// Tmp is where an OCI tarball is unpacked; it must be set to open
	// one, and outlive the images.
	Tmp string
	// Keychain gives registry credentials, for the target and its
	// signatures; default Docker's config (see ref.Keychain).
	Keychain authn.Keychain
	// Signed, where not nil, checks the target's signature before
	// anything else is read: the target must then be a registry reference
	// ([ErrNotReference] otherwise), and what is opened is the digest whose
	// signature was checked, from the registry, wherever the tag moves
	// meanwhile and whatever file is named like the target.
	Signed SignatureCheck
}

// Opened is a target as [Load] opened it.
type Opened struct {
	// Target names what was opened: the target given, or where its
	// signature was checked, REPO@DIGEST, the digest whose signature was.
	Target string
	// Signed says that Target's signature was checked and passed.
	Signed bool
	// Images are its platforms' images, or the one platform's asked for.
	Images []PlatformImage
}

// Load opens target as [Images] does, with opt's credentials, after
// checking its signature where opt.Signed is set.
func Load(ctx context.Context, target string, opt OpenOptions) (*Opened, error) {
	auth := remote.WithAuthFromKeychain(ref.Keychain(opt.Keychain))
	if opt.Signed == nil {
		idx, img, err := open(ctx, target, opt.Tmp, auth)
		if err != nil {
			return nil, err
		}
		imgs, err := platformImages(target, idx, img, opt.Platform)
		if err != nil {
			return nil, err
		}
		return &Opened{Target: target, Images: imgs}, nil
	}
	if !IsReference(target) {
		return nil, fmt.Errorf("%s is %w (NAME:TAG or NAME@sha256:<digest>): signatures are checked in the registry the image was pushed to", target, ErrNotReference)
	}
	r, err := ref.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", target, ErrNotReference, err)
	}
	d, err := opt.Signed(ctx, r, auth)
	if err != nil {
		return nil, err
	}
	imgs, err := Pulled(ctx, d, opt.Platform, auth)
	if err != nil {
		return nil, fmt.Errorf("%s is signed, but: %w", d, err)
	}
	return &Opened{Target: d.String(), Signed: true, Images: imgs}, nil
}

// Open opens target as an image: an OCI layout directory or an OCI or
// docker tarball when target is a path that exists, else a registry
// reference when [IsReference] says target is written as one, read with
// Docker's credentials ([Load] takes others). A multi-platform target
// gives its image for platform. tmp is where an OCI tarball is unpacked.
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
	o, err := Load(ctx, target, OpenOptions{Platform: platform, Tmp: tmp})
	if err != nil {
		return nil, err
	}
	return o.Images, nil
}

// platformImages is [Images] of what target opened to: its index, or its
// image where it holds no index.
func platformImages(target string, idx v1.ImageIndex, img v1.Image, platform ocispecs.Platform) ([]PlatformImage, error) {
	if img == nil {
		var err error
		if img, err = lone(idx); err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
	}
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

// lone returns the image of an index that holds one and nothing else, with
// no platform (a lone image in a registry, as [oci.OpenRemote] wraps it),
// and nil for any other index: that image is taken as an image with no
// index is, whatever platform is asked.
func lone(idx v1.ImageIndex) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) != 1 {
		return nil, nil
	}
	d := im.Manifests[0]
	if d.Platform != nil || !d.MediaType.IsImage() || oci.IsAttestation(d) {
		return nil, nil
	}
	return idx.Image(d.Digest)
}

// open returns target's index, or its image where it holds no index, read
// with auth where it is a registry's.
func open(ctx context.Context, target, tmp string, auth remote.Option) (v1.ImageIndex, v1.Image, error) {
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
	idx, err := oci.OpenRemote(ctx, r, auth)
	if err != nil {
		return nil, nil, fmt.Errorf("pull %s: %w", target, err)
	}
	return idx, nil, nil
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
