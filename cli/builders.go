package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/stage"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// parseBuilders parses --builder PLATFORM=ADDR against --platform's ps and
// returns each platform's daemon address, by platform ID; a platform
// without a --builder is built on --addr's daemon.
func (o *buildOptions) parseBuilders(ps []ocispecs.Platform) (map[string]string, error) {
	if len(o.builders) == 0 {
		return nil, nil
	}
	named := map[string]bool{}
	for _, p := range ps {
		named[builder.PlatformID(p)] = true
	}
	addrs := map[string]string{}
	for _, spec := range o.builders {
		ps, addr, ok := strings.Cut(spec, "=")
		if !ok || ps == "" || addr == "" {
			return nil, usagef("--builder %q: want PLATFORM=ADDR, such as linux/arm64=tcp://arm64-builder:1234", spec)
		}
		p, err := platforms.Parse(ps)
		if err != nil {
			return nil, usagef("--builder %q: %v; want PLATFORM=ADDR, such as linux/arm64=tcp://arm64-builder:1234", spec, err)
		}
		id := builder.PlatformID(platforms.Normalize(p))
		if !named[id] {
			return nil, usagef("--builder %q: --platform does not name %s; name every platform to build in --platform", spec, id)
		}
		if _, dup := addrs[id]; dup {
			return nil, usagef("--builder: %s named twice", id)
		}
		d := o.daemonOptions
		d.addr = addr
		if _, err := d.daemon(); err != nil {
			return nil, usagef("--builder %q: %v", spec, err)
		}
		addrs[id] = addr
	}
	for _, out := range o.outputs {
		if t, _ := parseOutput(out); t.Type != client.ExporterOCI {
			return nil, usagef("--output %q with --builder: the platforms' images are assembled into one index; write it with type=oci or push it with --tag NAME --push", out)
		}
	}
	if len(o.tags) > 0 && !o.push {
		return nil, usagef("--tag without --push with --builder: the index is assembled here, not in a daemon's store; add --push, or write it with --output type=oci")
	}
	if len(o.cacheTo) > 0 {
		return nil, usagef("--cache-to with --builder: each daemon has its own cache; export the cache from one-daemon builds")
	}
	return addrs, nil
}

// buildOnBuilders builds each of imgs on its platform's daemon (addrs, else
// --addr's), each into an OCI tarball unpacked into a layout, checked as so asks, and assembles
// them into one index written to so's outputs.
func buildOnBuilders(ctx context.Context, o *buildOptions, addrs map[string]string, imgs []builder.Image, so builder.Options, stderr io.Writer) (*builder.Result, error) {
	tmp, err := os.MkdirTemp("", "imagebuild-builders-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	clients := make([]*client.Client, len(imgs))
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	srcs := make([]string, len(imgs))
	daemons := make([]string, len(imgs))
	for i, img := range imgs {
		d := o.daemonOptions
		if a, ok := addrs[builder.PlatformID(img.Platform)]; ok {
			d.addr = a
		}
		daemons[i] = d.addr
		if clients[i], err = d.connect(ctx); err != nil {
			return nil, err
		}
		srcs[i] = filepath.Join(tmp, fmt.Sprintf("platform-%d", i))
	}
	results := make([]*builder.Result, len(imgs))
	err = withProgress(ctx, stderr, o.progress, len(imgs), func(ctx context.Context, status []chan *client.SolveStatus) error {
		done := make(chan error, len(imgs))
		for i, img := range imgs {
			one := so
			one.MetadataFile = "" // of the index, written below
			// A tarball, unpacked here: the client's writer of layout
			// directories logs to stderr on file systems without fs-verity.
			tarball := srcs[i] + ".oci.tar"
			one.Outputs = []builder.Output{{Type: client.ExporterOCI, Dest: tarball}}
			go func() {
				res, err := builder.Build(ctx, clients[i], []builder.Image{img}, one, status[i])
				results[i] = res
				if err == nil {
					_, err = oci.OpenTarball(tarball, srcs[i])
					os.Remove(tarball)
				}
				if err != nil {
					err = fmt.Errorf("%s: %w", builder.PlatformID(img.Platform), daemonLost(err, daemons[i]))
				}
				done <- err
			}()
		}
		var first error
		for range imgs {
			if err := <-done; err != nil && first == nil {
				first = err
			}
		}
		return first
	})
	res := &builder.Result{Manifests: map[string]digest.Digest{}}
	for _, r := range results {
		if r != nil {
			res.Comparisons = append(res.Comparisons, r.Comparisons...)
			maps.Copy(res.Manifests, r.Manifests)
		}
	}
	if err != nil {
		return res, err
	}
	assembled := filepath.Join(tmp, "index")
	d, err := publish.Assemble(assembled, srcs)
	if err != nil {
		return nil, err
	}
	res.ExporterResponse = map[string]string{"containerimage.digest": d.String()}
	// The metadata file is written before any output is placed, and
	// removed when placing one fails.
	placed := false
	if so.MetadataFile != "" {
		dt, err := res.Metadata()
		if err != nil {
			return nil, err
		}
		if err := stage.WriteFile(so.MetadataFile, dt, 0o644); err != nil {
			return nil, err
		}
		defer func() {
			if !placed {
				os.Remove(so.MetadataFile)
			}
		}()
	}
	for _, out := range so.Outputs {
		switch {
		case out.Type == client.ExporterOCI && out.Attrs["tar"] == "false":
			if err := placeLayout(assembled, out.Dest); err != nil {
				return nil, err
			}
		case out.Type == client.ExporterOCI:
			if err := publish.Tar(assembled, out.Dest); err != nil {
				return nil, err
			}
		case out.Type == client.ExporterImage:
			for _, n := range strings.Split(out.Attrs["name"], ",") {
				ref, err := ref.Parse(n)
				if err == nil && out.Attrs["registry.insecure"] == "true" {
					ref, err = name.ParseReference(n, name.Insecure)
				}
				if err != nil {
					return nil, fmt.Errorf("push %s: %w", n, err)
				}
				// The platforms' images are pushed by digest, then the index.
				pushed, err := publish.Layout(ctx, assembled, ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
				if err != nil {
					return nil, err
				}
				if pushed != d {
					return nil, fmt.Errorf("push %s: pushed %s, not the index assembled, %s", n, pushed, d)
				}
			}
		}
	}
	placed = true
	return res, nil
}

// placeLayout copies the layout dir to dest, replacing what is there, whole
// or not at all.
func placeLayout(dir, dest string) error {
	var s stage.Set
	defer s.Discard()
	part, err := s.Dir(dest)
	if err != nil {
		return fmt.Errorf("output %s: %w", dest, err)
	}
	if err := os.CopyFS(part, os.DirFS(dir)); err != nil {
		return fmt.Errorf("output %s: %w", dest, err)
	}
	if err := s.Commit(); err != nil {
		return fmt.Errorf("output %w", err)
	}
	return nil
}
