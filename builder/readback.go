package builder

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	digest "github.com/opencontainers/go-digest"
)

// pushedIndex reads what the build pushed to the repository of the
// reference s, by the digest d the push gave (the tag is not moved yet: see
// [Result.tag]), as an index (an image alone is put in one).
func pushedIndex(ctx context.Context, s, d string, insecure bool, keychain authn.Keychain) (v1.ImageIndex, error) {
	r, err := ref.ParseInsecure(s, insecure)
	if err != nil {
		return nil, err
	}
	if d == "" {
		return nil, errors.New("the push gave no digest")
	}
	desc, err := remote.Get(r.Context().Digest(d), remote.WithContext(ctx), remote.WithAuthFromKeychain(ref.Keychain(keychain)))
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
func baseError(ctx context.Context, img graph.Image, opt Options, err error) error {
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

// tag names what the build pushed and loaded, once it is read back and
// signed: each pushed name's tag is moved to the digest the push gave, and
// an image exported unnamed into the engine the build ran on is given each
// load output's names. Until then a registry's tags and an engine's names
// still show what they showed before the build.
func (res *Result) tag(ctx context.Context, opt Options) error {
	d := digest.Digest(res.ExporterResponse[exptypes.ExporterImageDigestKey])
	auth := remote.WithAuthFromKeychain(ref.Keychain(opt.Keychain))
	names := pushes(opt)
	for _, n := range sortedKeys(names) {
		r, err := ref.ParseInsecure(n, names[n])
		if err != nil {
			return fmt.Errorf("tag %s: %w", n, err)
		}
		if t, ok := r.(name.Tag); ok { // a name by digest has nothing to move
			if err := publish.Tag(ctx, t, d, auth); err != nil {
				return err
			}
		}
	}
	if res.engineImage == "" {
		return nil
	}
	for _, o := range opt.Outputs {
		if o.Type != OutputLoad {
			continue
		}
		for _, n := range strings.Split(o.Attrs["name"], ",") {
			if err := opt.Engine.Tag(ctx, res.engineImage, n); err != nil {
				return err
			}
		}
	}
	return nil
}
