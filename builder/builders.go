package builder

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// validateBuilders reports whether a build of the platforms ids can be
// made across opt's builders: each builds one of ids; the platforms'
// images are assembled into one index by the client, so it can be written
// as an OCI tarball or layout or pushed, not kept in a daemon's store; and
// each daemon has its own cache, so none is exported.
func validateBuilders(ids []string, opt Options) error {
	for _, id := range sortedKeys(opt.Builders) {
		if !slices.Contains(ids, id) {
			return &PlanError{Field: "Builders", Key: id, Err: fmt.Errorf("%w: the build does not build %s", ErrPlatform, id)}
		}
	}
	for i, o := range opt.Outputs {
		switch {
		case o.Type == client.ExporterOCI:
		case o.Type == client.ExporterImage && o.Attrs["push"] == "true":
		default:
			return &PlanError{Field: "Outputs", Index: i, Err: fmt.Errorf("%w: type=%s with a builder per platform: the platforms' images are assembled into one index; write it with type=oci or push it (type=image,push=true)", ErrInvalidOutput, o.Type)}
		}
	}
	if len(opt.CacheExports) > 0 {
		return &PlanError{Field: "CacheExports", Err: fmt.Errorf("%w: a cache export with a builder per platform: each daemon has its own cache; export the cache from one-daemon builds", ErrInvalidCache)}
	}
	return nil
}

// buildAcross builds each of imgs on its platform's daemon (builders,
// else c), each checked as opt asks into an OCI tarball, assembles them into
// one index and writes that to opt's outputs, staged, read back and
// committed as a one-daemon build's are.
func buildAcross(ctx context.Context, c *client.Client, builders map[string]*client.Client, imgs []graph.Image, opt Options, prog *progress) (*Result, error) {
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
		one.Outputs = []Output{{Type: client.ExporterOCI, Dest: tarball}}
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
	st := &staged{}
	defer st.discard()
	keychain := ref.Keychain(opt.Keychain)
	for _, o := range opt.Outputs {
		switch {
		case o.Type == client.ExporterOCI && o.Attrs["tar"] == "false":
			dir, err := st.set.Dir(o.Dest)
			if err != nil {
				return nil, fmt.Errorf("output %s: %w", o.Dest, err)
			}
			if err := os.CopyFS(dir, os.DirFS(assembled)); err != nil {
				return nil, fmt.Errorf("output %s: %w", o.Dest, err)
			}
		case o.Type == client.ExporterOCI:
			f, err := st.set.File(o.Dest, 0o644)
			if err != nil {
				return nil, fmt.Errorf("output %s: %w", o.Dest, err)
			}
			err = publish.WriteTar(assembled, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("output %s: %w", o.Dest, err)
			}
		case o.Type == client.ExporterImage:
			for _, n := range strings.Split(o.Attrs["name"], ",") {
				r, err := ref.ParseInsecure(n, o.Attrs["registry.insecure"] == "true")
				if err != nil {
					return nil, fmt.Errorf("push %s: %w", n, err)
				}
				// The platforms' images are pushed by digest, then the
				// index, by digest too: the tag is moved once it is read
				// back (see [Result.tag]).
				pushed, err := publish.LayoutByDigest(ctx, assembled, r.Context(), remote.WithAuthFromKeychain(keychain))
				if err != nil {
					return nil, err
				}
				if pushed != d {
					return nil, fmt.Errorf("push %s: pushed %s, not the index assembled, %s", n, pushed, d)
				}
			}
		}
	}
	if err := res.readBack(ctx, imgs, opt, st); err != nil {
		return nil, err
	}
	if err := res.commit(st, opt); err != nil {
		return nil, err
	}
	return res, nil
}
