package builder

import (
	"fmt"
	"slices"

	"github.com/imagebuild/imagebuild/cache"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/output"
	"github.com/moby/buildkit/client"
)

// validateImages reports whether imgs, one a platform, can be built as one
// image: one context, each base (the runtime's and the builder's) and
// config valid.
func validateImages(imgs []graph.Image) error {
	for _, img := range imgs {
		if img.Context.Dir() != imgs[0].Context.Dir() {
			return fmt.Errorf("build contexts %s and %s: the images of one build read one context", imgs[0].Context.Dir(), img.Context.Dir())
		}
		if err := img.Base.Validate(); err != nil {
			return fmt.Errorf("base: %w", err)
		}
		if img.BuilderBase != "" {
			if err := img.BuilderBase.Validate(); err != nil {
				return fmt.Errorf("builder base: %w", err)
			}
		}
		if err := img.Config.Validate(); err != nil {
			return fmt.Errorf("image config: %w", err)
		}
	}
	return nil
}

// validateOutput reports whether o can take an image of n platforms.
func validateOutput(o output.Output, n int) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Type == client.ExporterDocker && n > 1 {
		return fmt.Errorf("%w: a docker tarball holds one platform's image, not an index of %d; use type=oci or type=image for several platforms", output.ErrInvalidOutput, n)
	}
	return nil
}

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
			return &PlanError{Field: "Outputs", Index: i, Err: fmt.Errorf("%w: type=%s with a builder per platform: the platforms' images are assembled into one index; write it with type=oci or push it (type=image,push=true)", output.ErrInvalidOutput, o.Type)}
		}
	}
	if len(opt.CacheExports) > 0 {
		return &PlanError{Field: "CacheExports", Err: fmt.Errorf("%w: a cache export with a builder per platform: each daemon has its own cache; export the cache from one-daemon builds", cache.ErrInvalid)}
	}
	return nil
}
