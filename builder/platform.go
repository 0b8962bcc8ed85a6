package builder

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrPlatform is returned (wrapped) for a platform that cannot be built:
// not Linux, named twice, not run by the daemon, or not in the base.
var ErrPlatform = errors.New("platform")

// PlatformID is how BuildKit names a platform in a multi-platform result,
// and in the local output's folders with "/" as "_": linux/arm64/v8.
func PlatformID(p ocispecs.Platform) string {
	return platforms.FormatAll(platforms.Normalize(p))
}

// LinuxPlatform is Linux on this machine's architecture: the platform a
// [Plan] that names none is checked for, and what the graph is written
// for when no platform is named, whatever OS the client runs on.
func LinuxPlatform() ocispecs.Platform {
	p := platforms.DefaultSpec()
	p.OS = "linux"
	return platforms.Normalize(p)
}

// platformError is why a platform cannot be built; it is an [ErrPlatform].
type platformError string

func (e platformError) Error() string        { return string(e) }
func (e platformError) Is(target error) bool { return target == ErrPlatform }

// validPlatform reports whether p is a platform the recipes build for:
// Linux only. (An image for another OS would hold Linux files, and a
// BuildKit daemon that unpacks a Linux base for Windows keeps doing so.)
func validPlatform(p ocispecs.Platform) error {
	if p.OS != "linux" {
		return platformError("only linux platforms can be built (linux/amd64, linux/arm64, ...)")
	}
	if p.Architecture == "" {
		return platformError("no architecture; want linux/ARCH such as linux/arm64")
	}
	return nil
}

// DefaultPlatform is the daemon's own platform, the first its first worker
// lists, as buildx picks it: a build without a platform runs natively.
func DefaultPlatform(ctx context.Context, c *client.Client) (ocispecs.Platform, error) {
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		return ocispecs.Platform{}, fmt.Errorf("list the daemon's workers: %w", err)
	}
	for _, w := range workers {
		if len(w.Platforms) > 0 {
			return platforms.Normalize(w.Platforms[0]), nil
		}
	}
	return ocispecs.Platform{}, errors.New("the daemon lists no platform")
}

// checkWorkers fails when a daemon has no worker that runs the platform of
// an image it is to build, natively or under emulation: builders' for
// their platforms, c's for the rest.
func checkWorkers(ctx context.Context, c *client.Client, imgs []graph.Image, builders map[string]*client.Client) error {
	have := map[*client.Client]platforms.MatchComparer{}
	names := map[*client.Client][]string{}
	for _, img := range imgs {
		on := c
		if b, ok := builders[PlatformID(img.Platform)]; ok {
			on = b
		}
		if _, ok := have[on]; !ok {
			workers, err := on.ListWorkers(ctx)
			if err != nil {
				return fmt.Errorf("list the daemon's workers: %w", err)
			}
			var ps []ocispecs.Platform
			for _, w := range workers {
				ps = append(ps, w.Platforms...)
			}
			for _, p := range ps {
				names[on] = append(names[on], platforms.Format(p))
			}
			have[on] = platforms.Any(ps...)
		}
		if !have[on].Match(platforms.Normalize(img.Platform)) {
			return fmt.Errorf("%w: the daemon cannot run %s steps (it runs %s): register QEMU emulation before it starts (as root; it needs Debian's qemu-user-static and binfmt-support), or build on a %s builder",
				ErrPlatform, platforms.Format(img.Platform), strings.Join(names[on], ", "), platforms.Format(img.Platform))
		}
	}
	return nil
}

// platformsByID are imgs' platforms by platform ID.
func platformsByID(imgs []graph.Image) map[string]ocispecs.Platform {
	out := map[string]ocispecs.Platform{}
	for _, img := range imgs {
		out[PlatformID(img.Platform)] = img.Platform
	}
	return out
}
