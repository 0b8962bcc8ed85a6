package cli

import (
	"context"
	"io"
	"strings"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/moby/buildkit/client"
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
// --addr's) through the library, which assembles them into one index and
// writes it to so's outputs.
func buildOnBuilders(ctx context.Context, o *buildOptions, addrs map[string]string, imgs []builder.Image, so builder.Options, stderr io.Writer) (*builder.Result, error) {
	d := o.daemonOptions
	c, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	so.Builders = map[string]*client.Client{}
	for id, addr := range addrs {
		d.addr = addr
		b, err := d.connect(ctx)
		if err != nil {
			return nil, err
		}
		defer b.Close()
		so.Builders[id] = b
	}
	var res *builder.Result
	err = withProgress(ctx, stderr, o.progress, 1, func(ctx context.Context, status []chan *client.SolveStatus) error {
		var err error
		res, err = builder.Build(ctx, c, imgs, so, status[0])
		return err
	})
	// The library names the platform whose build failed first.
	addr := o.addr
	for id, a := range addrs {
		if err != nil && strings.HasPrefix(err.Error(), id+": ") {
			addr = a
		}
	}
	return res, daemonLost(err, addr)
}
