package output

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ReadBack reads back what a build wrote, pushed or loaded, and holds each
// platform's image manifest there to the one checked: the one reader of
// outputs, as [Stage] is their one writer. It reads before anything is
// named, loaded or moved into place.
type ReadBack struct {
	// Platforms are the image's platforms, by platform ID (linux/arm64).
	Platforms map[string]ocispecs.Platform
	// Manifests are each platform's image manifest digest, by platform
	// ID: those checked, which everything read back must hold. When nil
	// (nothing was checked), the first output read back sets them and the
	// rest must hold those.
	Manifests map[string]digest.Digest
	// Response is the exporters' response: the digest a push gave, and
	// those an engine may know the image it took by.
	Response map[string]string
	// Engine is the Docker Engine load outputs go into.
	Engine *daemon.Engine
	// Keychain reads back what was pushed; nil is Docker's config.
	Keychain authn.Keychain

	// EngineImage is, once [ReadBack.Outputs] has read it back, the ID of
	// the image exported unnamed into the engine the build ran on, for
	// the caller to name.
	EngineImage string
}

// Outputs reads back each image and tarball of outs that s staged, the
// docker tarball of a load before the engine takes it, the image exported
// into the engine the build ran on, and each name pushed, by the digest
// the push gave (its tag is not moved yet).
func (r *ReadBack) Outputs(ctx context.Context, s *Stage, outs []Output) error {
	for _, o := range outs {
		var idxs []v1.ImageIndex
		var names []string
		switch o.Type {
		case client.ExporterOCI, client.ExporterDocker:
			var idx v1.ImageIndex
			var err error
			if o.layout() {
				idx, err = oci.OpenLayout(s.Path(o))
			} else {
				dir, terr := os.MkdirTemp("", "imagebuild-readback-")
				if terr != nil {
					return terr
				}
				defer os.RemoveAll(dir)
				idx, err = oci.OpenManifests(s.Path(o), dir)
			}
			if err != nil {
				return fmt.Errorf("output %s: read back: %w", o.Dest, err)
			}
			idxs, names = append(idxs, idx), append(names, o.Dest)
		case OutputLoad:
			if s.OnEngine {
				id, err := r.engineImage(ctx)
				if err != nil {
					return err
				}
				r.EngineImage = id
				continue
			}
			dir, err := os.MkdirTemp("", "imagebuild-readback-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			idx, err := oci.OpenManifests(s.loads[o.Attrs["name"]], dir)
			if err != nil {
				return fmt.Errorf("load %s: read back: %w", o.Attrs["name"], err)
			}
			idxs, names = append(idxs, idx), append(names, o.Attrs["name"])
		case client.ExporterImage:
			if o.Attrs["push"] != "true" {
				continue // in the daemon's store only
			}
			d := r.Response[exptypes.ExporterImageDigestKey]
			for _, name := range strings.Split(o.Attrs["name"], ",") {
				idx, err := r.pushed(ctx, name, d, o.Attrs["registry.insecure"] == "true")
				if err != nil {
					return fmt.Errorf("read back %s: %w", name, err)
				}
				idxs, names = append(idxs, idx), append(names, name)
			}
		}
		for i, idx := range idxs {
			got, err := Manifests(idx, r.Platforms)
			if err != nil {
				return fmt.Errorf("read back %s: %w", names[i], err)
			}
			if r.Manifests == nil {
				r.Manifests = got
				continue
			}
			for id, want := range r.Manifests {
				if got[id] != want {
					return fmt.Errorf("%s: the %s image written is %s, not %s, the one checked", names[i], id, got[id], want)
				}
			}
		}
	}
	return nil
}

// pushed reads what the build pushed to the repository of the reference
// s, by the digest d the push gave, as an index (an image alone is put in
// one: see [oci.OpenRemote]).
func (r *ReadBack) pushed(ctx context.Context, s, d string, insecure bool) (v1.ImageIndex, error) {
	named, err := ref.ParseInsecure(s, insecure)
	if err != nil {
		return nil, err
	}
	if d == "" {
		return nil, errors.New("the push gave no digest")
	}
	return oci.OpenRemote(ctx, named.Context().Digest(d), remote.WithAuthFromKeychain(ref.Keychain(r.Keychain)))
}

// exportedIDs are the IDs an engine may give the image the build exported:
// the digest of its manifest or index (containerd's image store), or of its
// config (a graph driver store).
func (r *ReadBack) exportedIDs() []string {
	var ids []string
	for _, k := range []string{exptypes.ExporterImageDigestKey, exptypes.ExporterImageConfigDigestKey} {
		if d := r.Response[k]; d != "" {
			ids = append(ids, d)
		}
	}
	return ids
}

// Load inspects the image r.Engine holds under name (a name, or an
// image's ID): where the engine lists its platform manifests, each must be
// the one checked; else (an engine before API 1.48) its ID must be one the
// export gave. It returns the image's ID.
func (r *ReadBack) Load(ctx context.Context, name string) (string, error) {
	got, err := r.Engine.Image(ctx, name)
	if err != nil {
		return "", fmt.Errorf("read back %s: %w", name, err)
	}
	if len(got.Manifests) > 0 {
		for id, want := range r.Manifests {
			if got.Manifests[id] != want.String() {
				return "", fmt.Errorf("%s: the engine holds %s as its %s image, not %s, the one checked", name, got.Manifests[id], id, want)
			}
		}
		return got.ID, nil
	}
	if ids := r.exportedIDs(); !slices.Contains(ids, got.ID) {
		return "", fmt.Errorf("%s: the engine holds image %s, not the one built (%s)", name, got.ID, strings.Join(ids, " or "))
	}
	return got.ID, nil
}

// engineImage reads back the image the build exported, unnamed, into the
// engine it ran on, by the first ID the export gave that the engine knows,
// and returns its ID.
func (r *ReadBack) engineImage(ctx context.Context) (string, error) {
	ids := r.exportedIDs()
	if len(ids) == 0 {
		return "", errors.New("load: the engine's export gave no image digest")
	}
	var err error
	for _, id := range ids {
		var got string
		if got, err = r.Load(ctx, id); err == nil {
			return got, nil
		}
	}
	return "", err
}

// Manifests returns the image manifest digest of each of platforms in idx,
// by the platforms' IDs, which platforms is keyed by; attestations are
// not among them.
func Manifests(idx v1.ImageIndex, platforms map[string]ocispecs.Platform) (map[string]digest.Digest, error) {
	out := map[string]digest.Digest{}
	for _, id := range slices.Sorted(maps.Keys(platforms)) {
		im, err := oci.Image(idx, platforms[id])
		if err != nil {
			return nil, err
		}
		d, err := im.Digest()
		if err != nil {
			return nil, err
		}
		out[id] = digest.Digest(d.String())
	}
	return out, nil
}
