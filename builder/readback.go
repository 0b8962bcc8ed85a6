package builder

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/ref"
)

// pushedIndex reads what the reference s points at in its registry, as an
// index (an image alone is put in one).
func pushedIndex(ctx context.Context, s string, insecure bool, keychain authn.Keychain) (v1.ImageIndex, error) {
	r, err := ref.ParseInsecure(s, insecure)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(ref.Keychain(keychain)))
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		return desc.ImageIndex()
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	return mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img}), nil
}

// baseError explains err, the daemon's answer when asked for img's base
// config: a platform the base's index lacks is named with the platforms it
// has, as its registry lists them to Options.Keychain.
func baseError(ctx context.Context, img Image, opt Options, err error) error {
	if !strings.Contains(err.Error(), "no match for platform") {
		return err // named by the client, which gets only its message
	}
	has := ""
	if have, lerr := basePlatforms(ctx, img.Base, opt.Mirrors, opt.Keychain); lerr == nil {
		has = "; it has " + strings.Join(have, ", ")
	}
	return fmt.Errorf("%w: the base %s has no %s image%s", ErrPlatform, img.Base, platforms.Format(img.Platform), has)
}

// basePlatforms lists the platforms of pin's index, through its mirror in m
// when there is one.
func basePlatforms(ctx context.Context, pin ref.Pin, m ref.Mirrors, keychain authn.Keychain) ([]string, error) {
	from, err := m.Rewrite(pin.Name() + "@" + pin.Digest().String())
	if err != nil {
		return nil, err
	}
	r, err := ref.Parse(from)
	if err != nil {
		return nil, err
	}
	idx, err := remote.Index(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(ref.Keychain(keychain)))
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range im.Manifests {
		if d.Platform == nil || oci.IsAttestation(d) || d.Platform.OS == "unknown" {
			continue
		}
		out = append(out, d.Platform.String())
	}
	return out, nil
}
