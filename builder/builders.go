package builder

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// buildAcross builds each of imgs on its platform's daemon (builders,
// else c), each checked as opt asks into an OCI tarball, assembles them into
// one index and writes that to opt's outputs, staged, read back and
// committed as a one-daemon build's are.
func buildAcross(ctx context.Context, c *client.Client, builders map[string]*client.Client, imgs []graph.Image, opt run, prog *progress) (*Result, error) {
	tmp, err := os.MkdirTemp("", "imagebuild-builders-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	srcs := make([]string, len(imgs))
	results := make([]*Result, len(imgs))
	errs := make(chan error, len(imgs))
	// The first platform to fail stops the others.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, img := range imgs {
		one := opt
		one.Builders, one.MetadataFile = nil, ""
		srcs[i] = filepath.Join(tmp, fmt.Sprintf("platform-%d", i))
		tarball := srcs[i] + ".oci.tar"
		one.Outputs = []output.Output{{Type: client.ExporterOCI, Dest: tarball}}
		on := c
		if b, ok := builders[PlatformID(img.Platform)]; ok {
			on = b
		}
		sub := &progress{out: prog.next()}
		go func() {
			res, err := build(ctx, on, []graph.Image{img}, one, sub)
			sub.close()
			results[i] = res
			if err == nil {
				_, err = oci.OpenTarball(tarball, srcs[i])
				os.Remove(tarball)
			}
			if d, ok := opt.Builders[PlatformID(img.Platform)]; ok && errors.Is(err, daemon.ErrLost) {
				err = &daemon.AddrError{Addr: d.Addr, Err: err}
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", PlatformID(img.Platform), err)
			}
			errs <- err
		}()
	}
	var first error
	for range imgs {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	res := &Result{Manifests: map[string]digest.Digest{}}
	for _, r := range results {
		if r != nil {
			res.Comparisons = append(res.Comparisons, r.Comparisons...)
			maps.Copy(res.Manifests, r.Manifests)
		}
	}
	if first != nil {
		return res, first
	}
	assembled := filepath.Join(tmp, "index")
	d, err := publish.Assemble(assembled, srcs)
	if err != nil {
		return nil, err
	}
	res.ExporterResponse = map[string]string{"containerimage.digest": d.String()}
	// The platforms' images are pushed by digest, then the index, by
	// digest too: the tag is moved once it is read back (see [Result.tag]).
	st := &output.Stage{}
	defer st.Discard()
	if err := st.Layout(ctx, assembled, d, opt.Outputs, opt.Keychain); err != nil {
		return nil, err
	}
	if _, err := res.readBack(ctx, imgs, opt, st); err != nil {
		return nil, err
	}
	if err := res.commit(st, opt); err != nil {
		return nil, err
	}
	return res, nil
}
