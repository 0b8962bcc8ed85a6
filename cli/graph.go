package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

// graphOptions are the flags that choose a recipe's graph; build and llb share them.
type graphOptions struct {
	platforms   []string
	contextDir  string
	base        string
	baseDistro  string
	runtimeBase string
	emulate     bool
}

func (o *graphOptions) addFlags(fs *pflag.FlagSet, platformUsage string) {
	fs.StringSliceVar(&o.platforms, "platform", nil, platformUsage)
	fs.StringVar(&o.contextDir, "context", ".", "build context directory; its .dockerignore is honoured")
	fs.StringVar(&o.base, "base", "", "build on another base than the recipe's pin, as NAME:TAG@sha256:<digest> (a mirror, a patched or a test base)")
	fs.StringVar(&o.baseDistro, "base-distro", "", "the distribution --base runs, alpine or debian, which decides how packages are installed; default: the recipe's")
	fs.BoolVar(&o.emulate, "emulate", false, "run every step of a platform this machine does not run under the daemon's emulation, as a builder of that platform would run it; by default a locked venv for another machine is cross-compiled on this one, where the recipe's distribution has a cross toolchain (Debian)")
	fs.StringVar(&o.runtimeBase, "runtime-base", "", "start the runtime stage (the image's base layers and config) from another base than the builder's, as NAME:TAG@sha256:<digest>, of the builder's distribution and Python (the builder's base patched for a CVE): no compiled distribution is rebuilt")
}

// parsePlatforms parses --platform, one platform each; the plan checks
// them.
func (o *graphOptions) parsePlatforms() ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	for _, s := range o.platforms {
		p, err := platforms.Parse(s)
		if err != nil {
			return nil, usagef("--platform %q: %v; want OS/ARCH[/VARIANT] such as linux/amd64", s, err)
		}
		out = append(out, platforms.Normalize(p))
	}
	return out, nil
}

// recipe validates the options and returns the recipe and its inputs, less
// the platform. The recipe's fields are checked where its image is made
// (see recipeImage): by the plan, before a daemon is contacted.
func (o *graphOptions) recipe(a *app, name string) (recipes.Recipe, recipes.Inputs, error) {
	var in recipes.Inputs
	r, err := a.lookup(name)
	if err != nil {
		return nil, in, err
	}
	if o.base != "" {
		if in.Base.Pin, err = ref.ParsePin(o.base); err != nil {
			return nil, in, usagef("--base: %v", err)
		}
	}
	if o.baseDistro != "" {
		if o.base == "" {
			return nil, in, usagef("--base-distro %s: names the distribution of --base, and there is no --base", o.baseDistro)
		}
		if in.Base.Distro, err = recipes.ParseDistro(o.baseDistro); err != nil {
			return nil, in, usagef("--base-distro: %v", err)
		}
	}
	if o.runtimeBase != "" {
		if in.RuntimeBase.Pin, err = ref.ParsePin(o.runtimeBase); err != nil {
			return nil, in, usagef("--runtime-base: %v", err)
		}
	}
	if in.Context, err = graph.LoadContext(o.contextDir); err != nil {
		return nil, in, usagef("--context: %v; point it at the build context directory", err)
	}
	if !o.emulate {
		// The daemon's machine is taken to be this one's, as for a
		// daemon the build starts; a platform with a builder of its own
		// runs there (see buildOptions.images).
		in.Native = builder.LinuxPlatform()
	}
	return r, in, nil
}

// plan0 is the first of ps, or with none, the platform a plan checks.
func plan0(ps []ocispecs.Platform) ocispecs.Platform {
	if len(ps) == 0 {
		return builder.LinuxPlatform()
	}
	return ps[0]
}

// recipeImages makes r's image, given in, for a platform.
func recipeImages(r recipes.Recipe, in recipes.Inputs) builder.Images {
	return func(p ocispecs.Platform) (graph.Image, error) {
		in.Platform = p
		return recipeImage(r, in)
	}
}

// recipeImage is r's image for in. A field of the recipe, or a file of the
// context it reads, that makes it unbuildable is a [graph.FieldError],
// which the command reports as a usage error. So is a runtime base the
// recipe does not start its image from: a recipe of one base, which would
// leave a base patched for a CVE out without a word.
func recipeImage(r recipes.Recipe, in recipes.Inputs) (graph.Image, error) {
	img, err := r.Image(in)
	if err != nil {
		return img, fmt.Errorf("recipe %s: %w", r.Name(), err)
	}
	if rb := in.RuntimeBase.Pin; rb != "" {
		if base, err := ref.ParsePin(img.Base.String()); err != nil || base != rb {
			return img, usagef("--runtime-base: recipe %s does not take a runtime base: its image starts from %q; build it on another base with --base", r.Name(), img.Base)
		}
	}
	return img, nil
}

func (a *app) runLLB(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o graphOptions
	fs := pflag.NewFlagSet("llb", pflag.ContinueOnError)
	o.addFlags(fs, "target platform, one (always explicit in the graph); default: this machine's")
	pos, help, err := parseFlags(fs, args, stdout, "llb RECIPE [--platform P] [--context DIR] [--base REF] [--base-distro D] [--runtime-base REF]", 1)
	if help || err != nil {
		return err
	}
	ps, err := o.parsePlatforms()
	if err != nil {
		return err
	}
	if len(ps) > 1 {
		return usagef("--platform: llb writes one platform's graph; name one, not %d", len(ps))
	}
	r, in, err := o.recipe(a, pos[0])
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		fmt.Fprintf(stderr, "imagebuild llb: no --platform; writing the graph for %s\n", platforms.Format(builder.LinuxPlatform()))
	}
	// The graph is written whether or not the context holds the files it
	// reads: nothing is sent.
	var imgs []graph.Image
	plan, err := builder.NewPlan(ctx, recipeImages(r, in), ps, builder.Options{})
	var cfe *graph.ContextFileError
	switch {
	case errors.As(err, &cfe):
		img, err := recipeImages(r, in)(plan0(ps))
		if err != nil {
			return err
		}
		imgs = []graph.Image{img}
	case err != nil:
		return (&buildOptions{graphOptions: o}).planError(err, r.Name())
	default:
		imgs = plan.Images()
	}
	if imgs[0].Expand != nil {
		fmt.Fprintln(stderr, "imagebuild llb: the graph before the steps whose output makes the rest of it at build time (a requirements file not locked with hashes is resolved first; a cross-compiled venv takes a distribution that cannot be cross-built from its step under emulation)")
	}
	def, err := imgs[0].Marshal(ctx)
	if err != nil {
		return err
	}
	return llb.WriteTo(def, stdout)
}
