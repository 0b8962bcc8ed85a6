package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/imagebuild/imagebuild/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/pflag"
)

// runPush pushes the image of an OCI layout directory to a registry, as it
// is, and prints its digest: the image that was scanned is the one pushed.
// With --sign, what it pushed is signed before the tag moves to it (see
// publish.SignedLayout), as build --sign signs.
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
	dgst, tags, err := publish.SignedLayout(ctx, pos[0], r, signer, remote.WithAuthFromKeychain(ref.Keychain(nil)))
	for _, tag := range tags {
		fmt.Fprintf(stderr, "signed: %s\n", tag)
	}
	if errors.Is(err, publish.ErrNoLayout) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, dgst)
	return err
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
