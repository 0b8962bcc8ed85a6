package builder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/imagebuild/imagebuild/sign"
	"github.com/moby/buildkit/client"
)

// pushes are the names opt's outputs push to, each with whether its
// registry is reached over plain HTTP.
func pushes(opt Options) map[string]bool {
	out := map[string]bool{}
	for _, o := range opt.Outputs {
		if o.Type != client.ExporterImage || o.Attrs["push"] != "true" {
			continue
		}
		for _, n := range strings.Split(o.Attrs["name"], ",") {
			out[n] = o.Attrs["registry.insecure"] == "true"
		}
	}
	return out
}

// sign signs, with opt.Signer, what each of opt's outputs pushed, as cosign
// v2 stores signatures (see package sign): the digest the push gave (the
// index's, where there is one) and each platform's image manifest, in the
// repository of each name pushed. The signatures' tags go to
// res.Signatures.
func (res *Result) sign(ctx context.Context, opt Options) error {
	var digests []v1.Hash
	add := func(s string) error {
		h, err := v1.NewHash(s)
		if err != nil {
			return fmt.Errorf("sign: digest %q: %w", s, err)
		}
		if !slices.Contains(digests, h) {
			digests = append(digests, h)
		}
		return nil
	}
	if d := res.ExporterResponse["containerimage.digest"]; d != "" {
		if err := add(d); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(res.Manifests) {
		if err := add(res.Manifests[id].String()); err != nil {
			return err
		}
	}
	auth := remote.WithAuthFromKeychain(ref.Keychain(opt.Keychain))
	names := pushes(opt)
	for _, n := range sortedKeys(names) {
		r, err := ref.ParseInsecure(n, names[n])
		if err != nil {
			return fmt.Errorf("sign %s: %w", n, err)
		}
		tags, err := sign.All(ctx, r.Context(), digests, opt.Signer, auth)
		for _, tag := range tags {
			res.Signatures = append(res.Signatures, tag.String())
		}
		if err != nil {
			return err
		}
	}
	return nil
}
