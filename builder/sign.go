package builder

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	digest "github.com/opencontainers/go-digest"
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

// sign signs, with opt.Signer, what each of opt's outputs pushed, as
// publish.Sign does (the digest the push gave, the index's where there is
// one, and each platform's image manifest, by platform ID), in the
// repository of each name pushed. The signatures' tags go to
// res.Signatures.
func (res *Result) sign(ctx context.Context, opt run) error {
	pushed := digest.Digest(res.ExporterResponse[exptypes.ExporterImageDigestKey])
	var manifests []digest.Digest
	for _, id := range sortedKeys(res.Manifests) {
		manifests = append(manifests, res.Manifests[id])
	}
	auth := remote.WithAuthFromKeychain(ref.Keychain(opt.Keychain))
	names := pushes(opt.Options)
	for _, n := range sortedKeys(names) {
		r, err := ref.ParseInsecure(n, names[n])
		if err != nil {
			return fmt.Errorf("sign %s: %w", n, err)
		}
		tags, err := publish.Sign(ctx, r.Context(), pushed, manifests, opt.Signer, auth)
		for _, tag := range tags {
			res.Signatures = append(res.Signatures, tag.String())
		}
		if err != nil {
			return err
		}
	}
	return nil
}
