package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/imagebuild/imagebuild/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/pflag"
)

// runPush pushes the image of an OCI layout directory to a registry, as it
// is, and prints its digest: the image that was scanned is the one pushed.
// It goes by digest; with --sign it then signs what it pushed, as build
// --sign does, and only then moves the tag.
func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("push", pflag.ContinueOnError)
	key := fs.String("sign", "", "after the push, sign what was pushed (the index and each platform's manifest) with this cosign private key (its password in $COSIGN_PASSWORD), stored as cosign v2 stores it: the NAME:sha256-<hex>.sig tag")
	pos, help, err := parseFlags(fs, args, stdout, "push LAYOUT REF [--sign KEY]\n\nLAYOUT: an OCI layout directory of one image, as --output type=oci,dest=DIR,tar=false writes it\nREF: where to push it, NAME[:TAG]; the digest pushed is printed", 2)
	if help || err != nil {
		return err
	}
	r, err := ref.Parse(pos[1])
	if err != nil {
		return usagef("push: reference %q: %v", pos[1], err)
	}
	signer, err := loadSigner(*key)
	if err != nil {
		return err
	}
	auth := remote.WithAuthFromKeychain(ref.Keychain(nil))
	// By digest first: the tag moves only once what it will name is signed.
	dgst, err := publish.LayoutByDigest(ctx, pos[0], r.Context(), auth)
	if errors.Is(err, publish.ErrNoLayout) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if signer != nil {
		digests, err := layoutDigests(pos[0], dgst.String())
		if err != nil {
			return fmt.Errorf("%s@%s was pushed but not signed: %w", r.Context(), dgst, err)
		}
		tags, err := sign.All(ctx, r.Context(), digests, signer, auth)
		for _, tag := range tags {
			fmt.Fprintf(stderr, "signed: %s\n", tag)
		}
		if err != nil {
			return err
		}
	}
	if t, ok := r.(name.Tag); ok {
		if err := publish.Tag(ctx, t, dgst, auth); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintln(stdout, dgst)
	return err
}

// layoutDigests are what a push of the layout dir, which gave the digest
// pushed, is signed for: that digest and each platform's image manifest.
func layoutDigests(dir, pushed string) ([]v1.Hash, error) {
	top, err := v1.NewHash(pushed)
	if err != nil {
		return nil, err
	}
	idx, err := oci.OpenLayout(dir)
	if err != nil {
		return nil, err
	}
	ps, err := oci.Platforms(idx)
	if err != nil {
		return nil, err
	}
	out := []v1.Hash{top}
	for _, p := range ps {
		img, err := oci.Image(idx, p)
		if err != nil {
			return nil, err
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// loadSigner loads --sign's cosign private key, key, with the password in
// COSIGN_PASSWORD; nil for no key. It is loaded before anything is built or
// pushed, so that a wrong password stops the command first.
func loadSigner(key string) (signature.Signer, error) {
	if key == "" {
		return nil, nil
	}
	s, err := sign.LoadSigner(key, []byte(os.Getenv("COSIGN_PASSWORD")))
	if err != nil {
		return nil, usagef("--sign %s: %v; the key is cosign generate-key-pair's cosign.key, its password in COSIGN_PASSWORD", key, err)
	}
	return s, nil
}
