package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/spf13/pflag"
)

// runPush pushes the image of an OCI layout directory to a registry, as it
// is, and prints its digest: the image that was scanned is the one pushed.
func runPush(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("push", pflag.ContinueOnError)
	pos, help, err := parseFlags(fs, args, stdout, "push LAYOUT REF\n\nLAYOUT: an OCI layout directory of one image, as --output type=oci,dest=DIR,tar=false writes it\nREF: where to push it, NAME[:TAG]; the digest pushed is printed", 2)
	if help || err != nil {
		return err
	}
	r, err := ref.Parse(pos[1])
	if err != nil {
		return usagef("push: reference %q: %v", pos[1], err)
	}
	dgst, err := publish.Layout(ctx, pos[0], r, remote.WithAuthFromKeychain(ref.Keychain(nil)))
	if errors.Is(err, publish.ErrNoLayout) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, dgst)
	return err
}
