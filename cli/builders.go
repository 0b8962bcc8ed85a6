package cli

import (
	"strings"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/daemon"
)

// parseBuilders parses --builder PLATFORM=ADDR: each platform's daemon, by
// platform ID, with --addr's TLS flags; a platform without a --builder is
// built on --addr's daemon.
func (o *buildOptions) parseBuilders() (map[string]daemon.Config, error) {
	if len(o.builders) == 0 {
		return nil, nil
	}
	out := map[string]daemon.Config{}
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
		if _, dup := out[id]; dup {
			return nil, usagef("--builder: %s named twice", id)
		}
		d := o.daemonOptions
		d.addr = addr
		if out[id], err = d.daemon(); err != nil {
			return nil, usagef("--builder %q: %v", spec, err)
		}
	}
	return out, nil
}
