package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/compare"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/output"
	"github.com/moby/buildkit/client"
)

// ErrCheck is returned (wrapped) when a check of the build (verify, the
// reproducibility check) fails; nothing was written or pushed.
var ErrCheck = errors.New("check failed")

// check builds imgs into a temporary OCI tarball and runs opt's checks on
// it, recording the manifests checked in res.
func check(ctx context.Context, c *client.Client, imgs []graph.Image, opt run, prog *progress, res *Result) error {
	dir, err := os.MkdirTemp("", "imagebuild-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The cache is exported once: by the build that writes the outputs,
	// or where there are none, by this one.
	first := opt
	if len(opt.Outputs) > 0 {
		first.CacheExports = nil
	}
	built, err := buildTarball(ctx, c, imgs, first, filepath.Join(dir, "build"), prog)
	if err != nil {
		return err
	}
	if res.Manifests, err = output.Manifests(built, platformsByID(imgs)); err != nil {
		return err
	}
	if opt.Verify != nil {
		for _, img := range imgs {
			im, err := oci.Image(built, img.Platform)
			if err != nil {
				return err
			}
			var doc []byte
			if opt.SBOM {
				st, _, err := sbomStatement(built, im)
				if err != nil {
					return err
				}
				doc = st.Predicate
			}
			if err := opt.Verify(ctx, img.Platform, im, doc); err != nil {
				return fmt.Errorf("%w: verify %s: %w; nothing was written or pushed", ErrCheck, platforms.Format(img.Platform), err)
			}
		}
	}
	if !opt.CheckReproducible {
		return nil
	}
	again := opt
	again.NoCache = true
	again.CacheImports, again.CacheExports = nil, nil
	rebuilt, err := buildTarball(ctx, c, imgs, again, filepath.Join(dir, "rebuild"), prog)
	if err != nil {
		return fmt.Errorf("second build: %w", err)
	}
	var differ []string
	for _, img := range imgs {
		var pair [2]v1.Image
		for i, idx := range []v1.ImageIndex{built, rebuilt} {
			if pair[i], err = oci.Image(idx, img.Platform); err != nil {
				return err
			}
		}
		cmp, err := compare.Images(pair[0], pair[1])
		if err != nil {
			return fmt.Errorf("compare %s: %w", platforms.Format(img.Platform), err)
		}
		cmp.Platform = PlatformID(img.Platform)
		res.Comparisons = append(res.Comparisons, cmp)
		if !cmp.Same() {
			differ = append(differ, fmt.Sprintf("%s (%s and %s)", cmp.Platform, cmp.Digests[0], cmp.Digests[1]))
			continue
		}
		if opt.SBOM {
			// The same image, so the same subject: the statements differ
			// only where the documents do.
			var sboms [2]v1.Hash
			for i, idx := range []v1.ImageIndex{built, rebuilt} {
				if _, sboms[i], err = sbomStatement(idx, pair[i]); err != nil {
					return fmt.Errorf("%s: %w", cmp.Platform, err)
				}
			}
			if sboms[0] != sboms[1] {
				differ = append(differ, fmt.Sprintf("%s's SBOM (%s and %s)", cmp.Platform, sboms[0], sboms[1]))
			}
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("%w: not reproducible: two builds differ for %s; nothing was written or pushed", ErrCheck, strings.Join(differ, ", "))
	}
	return nil
}

// sbomStatement returns the SBOM statement idx attaches to img, and the
// digest of the layer holding it; an error when there is none.
func sbomStatement(idx v1.ImageIndex, img v1.Image) (*oci.Statement, v1.Hash, error) {
	st, h, err := oci.SBOM(idx, img)
	if err != nil || st == nil {
		d, _ := img.Digest()
		if err != nil {
			return nil, h, fmt.Errorf("read the SBOM of %s: %w", d, err)
		}
		return nil, h, fmt.Errorf("no SBOM attached to %s", d)
	}
	return st, h, nil
}

// buildTarball builds imgs into an OCI tarball, unpacks it into the
// directory dir and returns its index.
func buildTarball(ctx context.Context, c *client.Client, imgs []graph.Image, opt run, dir string, prog *progress) (v1.ImageIndex, error) {
	tarball := dir + ".oci.tar"
	_, st, err := solve(ctx, c, imgs, opt, []output.Output{{Type: client.ExporterOCI, Dest: tarball}}, prog.next())
	if err != nil {
		return nil, err
	}
	defer st.Discard()
	if err := st.Commit(); err != nil {
		return nil, err
	}
	idx, err := oci.OpenTarball(tarball, dir)
	os.Remove(tarball)
	return idx, err
}
