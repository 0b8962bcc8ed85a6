package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/stage"
	"github.com/imagebuild/imagebuild/pins"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/ref"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// pinsLock is `pins check` and `pins bump` of the lock in o's context,
// when it holds one (see [recipes.LockFile]): its builder image is checked
// like a base, and the lock is made again on the daemon to find the
// packages and build requirements that have newer releases. check reports
// them, an error when any moved; bump (unless --runtime alone) writes the
// new lock and, where the lock has a builder image, pushes the new one to
// its tag. What it finds goes to out, a line each.
func (a *app) pinsLock(ctx context.Context, verb string, o pinsOptions, m ref.Mirrors, out, stderr io.Writer) error {
	path := filepath.Join(o.contextDir, recipes.LockFile)
	dt, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	lock, err := recipes.ParseLock(dt)
	if err != nil {
		return err
	}
	if verb == "bump" && !o.bumps(roleBuilder) {
		fmt.Fprintf(out, "%s: not locked again: --runtime bumps the runtime's bases alone\n", path)
		return nil
	}
	if lock.Recipe == "" {
		return fmt.Errorf("%s names no recipe; run imagebuild lock RECIPE to make it again", path)
	}
	r, err := a.lookup(lock.Recipe)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	stale := false
	if lock.Builder != "" {
		st, err := pins.Check(ctx, lock.Builder, m, ref.Keychain(nil))
		if err != nil {
			return fmt.Errorf("check the builder image %s (%s): %w", lock.Builder, path, err)
		}
		fmt.Fprintf(out, "%s: builder image %s: %s (its tag is at %s)\n", path, lock.Builder.Tagged(), st.State, st.Current)
		stale = st.State != pins.Current
	}

	// Locked again as it was made: its recipe, base and platforms.
	bo := buildOptions{mirrorOptions: o.mirrorOptions, daemonOptions: o.daemonOptions, secrets: o.secrets, network: "default", progress: "quiet"}
	var in recipes.Inputs
	if in.Context, err = graph.LoadContext(o.contextDir); err != nil {
		return usagef("--context: %v", err)
	}
	var ps []ocispecs.Platform
	for _, name := range slices.Sorted(maps.Keys(lock.Platforms)) {
		p, err := platforms.Parse(name)
		if err != nil {
			return fmt.Errorf("%s: platform %q: %w", path, name, err)
		}
		ps = append(ps, platforms.Normalize(p))
		pl := lock.Platforms[name]
		if in.Base.Distro, err = recipes.ParseDistro(pl.Distro); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		in.Base.Pin = pl.Base
	}
	newer, err := a.makeLock(ctx, &bo, r, in, ps, stderr)
	if err != nil {
		return fmt.Errorf("lock %s again: %w", path, err)
	}
	changes := lock.Changes(newer)
	for _, c := range changes {
		fmt.Fprintf(out, "%s: %s\n", path, c)
	}
	moved := fmt.Sprintf("%d packages or build requirements have newer releases", len(changes))
	if verb == "check" {
		if len(changes) > 0 || stale {
			return fmt.Errorf("%s is stale: %s; 'imagebuild pins bump --builder' locks it again (and pushes its builder image again), which rebuilds the builder stage and recompiles every compiled distribution", path, moved)
		}
		fmt.Fprintf(out, "%s: current\n", path)
		return nil
	}
	if len(changes) == 0 && !stale {
		fmt.Fprintf(out, "%s: current; not locked again\n", path)
		return nil
	}
	newer.Recipe = lock.Recipe
	if lock.Builder != "" {
		tag, err := parsePush(lock.Builder.Tagged())
		if err != nil {
			return err
		}
		if err := pushBuilder(ctx, &bo, r, in, newer, tag, stderr); err != nil {
			return err
		}
	}
	dt, err = newer.Marshal()
	if err != nil {
		return err
	}
	if err := stage.WriteFile(path, dt, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: locked again (%s)", path, moved)
	if newer.Builder != "" {
		fmt.Fprintf(out, ", builder image %s", newer.Builder)
	}
	fmt.Fprintln(out, "; the next build rebuilds the builder stage and recompiles every compiled distribution")
	return nil
}
