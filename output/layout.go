package output

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// Layout writes the OCI layout directory dir, holding an index whose
// digest is d (several daemons' results assembled by [publish.Assemble]),
// to outs as s stages them: a copy for each layout output, a tarball for
// each tarball output, and for each name of a push, the platforms' images
// and then the index pushed by digest alone, with keychain's credentials
// (the tags are the caller's to move once the push is read back). outs
// are oci outputs and pushes: the assembled index is written by the
// client, not a daemon.
func (s *Stage) Layout(ctx context.Context, dir string, d digest.Digest, outs []Output, keychain authn.Keychain) error {
	auth := remote.WithAuthFromKeychain(ref.Keychain(keychain))
	for _, o := range outs {
		switch {
		case o.Type == client.ExporterOCI && o.layout():
			dst, err := s.set.Dir(o.Dest)
			if err != nil {
				return fmt.Errorf("output %s: %w", o.Dest, err)
			}
			if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
				return fmt.Errorf("output %s: %w", o.Dest, err)
			}
		case o.Type == client.ExporterOCI:
			f, err := s.set.File(o.Dest, 0o644)
			if err != nil {
				return fmt.Errorf("output %s: %w", o.Dest, err)
			}
			err = publish.WriteTar(dir, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("output %s: %w", o.Dest, err)
			}
		case o.Type == client.ExporterImage:
			for _, n := range strings.Split(o.Attrs["name"], ",") {
				r, err := ref.ParseInsecure(n, o.Attrs["registry.insecure"] == "true")
				if err != nil {
					return fmt.Errorf("push %s: %w", n, err)
				}
				pushed, err := publish.LayoutByDigest(ctx, dir, r.Context(), auth)
				if err != nil {
					return err
				}
				if pushed != d {
					return fmt.Errorf("push %s: pushed %s, not the index assembled, %s", n, pushed, d)
				}
			}
		}
	}
	return nil
}

// pruneBlobs removes the blobs of the OCI layout dir that its index.json
// does not reach.
func pruneBlobs(dir string) error {
	idx, err := oci.OpenLayout(dir)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	if err := reach(idx, keep); err != nil {
		return err
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep["sha256:"+e.Name()] {
			if err := os.Remove(filepath.Join(blobs, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// reach adds to keep every blob idx reaches: its manifests, their configs
// and layers, the indexes it nests.
func reach(idx v1.ImageIndex, keep map[string]bool) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range im.Manifests {
		keep[desc.Digest.String()] = true
		switch {
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return err
			}
			if err := reach(child, keep); err != nil {
				return err
			}
		case desc.MediaType.IsImage():
			img, err := idx.Image(desc.Digest)
			if err != nil {
				return err
			}
			m, err := img.Manifest()
			if err != nil {
				return err
			}
			keep[m.Config.Digest.String()] = true
			for _, l := range m.Layers {
				keep[l.Digest.String()] = true
			}
		}
	}
	return nil
}
