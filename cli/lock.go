package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/stage"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

// maxRecord bounds a record file of the lock's steps: they are a few
// kilobytes.
const maxRecord = 16 << 20

func (a *app) runLock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o buildOptions
	var push string
	fs := pflag.NewFlagSet("lock", pflag.ContinueOnError)
	o.graphOptions.addFlags(fs, "platforms to lock, comma-separated or repeated (linux/amd64,linux/arm64); default: the daemon's own")
	o.mirrorOptions.addFlags(fs)
	o.daemonOptions.addFlags(fs)
	fs.StringArrayVar(&o.secrets, "secret", nil, "a build secret, as id=ID,src=PATH (repeatable); id=pipconf is pip's config file during the pip steps")
	fs.StringVar(&o.network, "network", "default", "network of the steps: default (the daemon's), host (the host's; the daemon must allow network.host) or none")
	fs.StringVar(&o.progress, "progress", progressDefault(), "progress output: auto, tty, plain, rawjson or quiet ($BUILDKIT_PROGRESS)")
	fs.StringVar(&push, "push", "", "also build the locked builder stage of every platform and push it as one index to NAME:TAG; the lock records it by digest, and a build from the lock starts its builder stage from it, running no package manager")
	pos, help, err := parseFlags(fs, args, stdout, "lock RECIPE [flags]", 1)
	if help || err != nil {
		return err
	}
	if o.runtimeBase != "" {
		return usagef("--runtime-base: the lock is of the builder stage, which the runtime base does not touch; give it to build")
	}
	ps, err := o.parsePlatforms()
	if err != nil {
		return err
	}
	r, in, err := o.recipe(a, pos[0])
	if err != nil {
		return err
	}
	var pushTo name.Tag
	if push != "" {
		if pushTo, err = parsePush(push); err != nil {
			return err
		}
	}
	lock, err := a.makeLock(ctx, &o, r, in, ps, stderr)
	if err != nil {
		return err
	}
	if push != "" {
		if err := pushBuilder(ctx, &o, r, in, lock, pushTo, stderr); err != nil {
			return err
		}
	}
	dt, err := lock.Marshal()
	if err != nil {
		return err
	}
	path := filepath.Join(o.contextDir, recipes.LockFile)
	if err := stage.WriteFile(path, dt, 0o644); err != nil {
		return err
	}
	var pkgs, reqs int
	for _, pl := range lock.Platforms {
		pkgs += len(pl.Packages)
		for _, d := range pl.Distributions {
			reqs += len(d.Requires)
		}
	}
	fmt.Fprintf(stderr, "imagebuild lock: wrote %s: %d platform(s), %d packages, %d build requirements\n", path, len(lock.Platforms), pkgs, reqs)
	if lock.Builder != "" {
		fmt.Fprintln(stdout, lock.Builder)
	}
	return nil
}

// makeLock locks r's builder stage for in on the daemon o names, for the
// platforms ps (none: the daemon's own), with o's secrets, mirrors and
// network: it runs the lock's steps uncached and reads their records.
// Nothing is written.
func (a *app) makeLock(ctx context.Context, o *buildOptions, r recipes.Recipe, in recipes.Inputs, ps []ocispecs.Platform, stderr io.Writer) (*recipes.Lock, error) {
	locker, err := recipes.AsLocker(r)
	if err != nil {
		return nil, usagef("recipe %s: %v", r.Name(), err)
	}
	so, err := o.options()
	if err != nil {
		return nil, err
	}
	c, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if len(ps) == 0 {
		p, err := builder.DefaultPlatform(ctx, c)
		if err != nil {
			return nil, explainConnect(err, o.addr)
		}
		ps = []ocispecs.Platform{p}
	}

	tmp, err := os.MkdirTemp("", "imagebuild-lock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	records := filepath.Join(tmp, "records")
	so.Outputs = []output.Output{{Type: client.ExporterLocal, Dest: records}}
	// A lock is of what the mirror and the index serve now, never of what
	// a cached step found.
	so.NoCache = true
	plan, err := builder.NewPlan(ctx, func(p ocispecs.Platform) (graph.Image, error) {
		in := in
		in.Platform = p
		img, err := locker.LockImage(in)
		if err != nil {
			return img, fmt.Errorf("recipe %s: %w", r.Name(), err)
		}
		return img, nil
	}, ps, so)
	if err != nil {
		return nil, o.planError(err, r.Name())
	}
	err = withProgress(ctx, stderr, o.progress, 1, func(ctx context.Context, status []chan *client.SolveStatus) error {
		_, err := plan.Build(ctx, c, status[0])
		return err
	})
	if err != nil {
		return nil, explainConnect(daemonLost(err, o.addr), o.addr)
	}
	lock := &recipes.Lock{Recipe: r.Name(), Platforms: map[string]recipes.PlatformLock{}}
	for _, p := range ps {
		dir := records
		if len(ps) > 1 {
			dir = filepath.Join(records, strings.ReplaceAll(platforms.Format(p), "/", "_"))
		}
		files, err := readRecords(dir)
		if err != nil {
			return nil, err
		}
		in := in
		in.Platform = p
		b, packages := locker.LockBase(in)
		pl, err := recipes.ReadLockRecords(files, b, packages)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", platforms.Format(p), err)
		}
		lock.Platforms[platforms.Format(p)] = pl
	}

	return lock, nil
}

// parsePush parses --push, the builder image's NAME:TAG.
func parsePush(push string) (name.Tag, error) {
	tag, err := name.NewTag(push, name.StrictValidation)
	if err != nil || strings.Contains(push, "@") {
		return tag, usagef("--push %q: want NAME:TAG, the builder image's name and tag (the lock records its digest)", push)
	}
	return tag, nil
}

// pushBuilder builds the builder stage lock locks, for each of its
// platforms, on the daemon o names, and pushes it as one index to pushTo;
// lock then records it by digest.
func pushBuilder(ctx context.Context, o *buildOptions, r recipes.Recipe, in recipes.Inputs, lock *recipes.Lock, pushTo name.Tag, stderr io.Writer) error {
	locker, err := recipes.AsLocker(r)
	if err != nil {
		return usagef("recipe %s: %v", r.Name(), err)
	}
	var ps []ocispecs.Platform
	for _, name := range slices.Sorted(maps.Keys(lock.Platforms)) {
		p, err := platforms.Parse(name)
		if err != nil {
			return fmt.Errorf("%s: platform %q: %w", recipes.LockFile, name, err)
		}
		ps = append(ps, p)
	}
	so, err := o.options()
	if err != nil {
		return err
	}
	c, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	so.Outputs = []output.Output{{Type: client.ExporterImage, Attrs: map[string]string{"name": pushTo.String(), "push": "true"}}}
	plan, err := builder.NewPlan(ctx, func(p ocispecs.Platform) (graph.Image, error) {
		in := in
		in.Platform = p
		return locker.BuilderImage(in, lock.Platforms[platforms.Format(p)])
	}, ps, so)
	if err != nil {
		return o.planError(err, r.Name())
	}
	var res *builder.Result
	err = withProgress(ctx, stderr, o.progress, 1, func(ctx context.Context, status []chan *client.SolveStatus) error {
		var err error
		res, err = plan.Build(ctx, c, status[0])
		return err
	})
	if err != nil {
		return explainBuildError(explainConnect(daemonLost(err, o.addr), o.addr), o.progress)
	}
	lock.Builder = ref.Pin(pushTo.String() + "@" + res.ExporterResponse["containerimage.digest"])
	if err := lock.Builder.Validate(); err != nil {
		return fmt.Errorf("the builder image's push: %w", err)
	}
	return nil
}

// readRecords reads the files under dir, by their paths from dir ("/a/b").
func readRecords(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("the lock's records: %w", err)
	}
	defer root.Close()
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxRecord {
			return fmt.Errorf("%s: %d bytes, more than a record holds", p, info.Size())
		}
		dt, err := root.ReadFile(p)
		if err != nil {
			return err
		}
		files["/"+p] = dt
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the lock's records: %w", err)
	}
	return files, nil
}
