package main

import (
	"context"
	"io"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client/llb"
	"github.com/spf13/pflag"
)

// graphOptions are the flags that choose a recipe's graph; build and llb share them.
type graphOptions struct {
	platform   string
	contextDir string
	base       string
}

func (o *graphOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.platform, "platform", "linux/amd64", "target platform (always explicit in the graph)")
	fs.StringVar(&o.contextDir, "context", ".", "build context directory; its .dockerignore is honoured")
	fs.StringVar(&o.base, "base", "", "build on another base than the recipe's pin, as NAME:TAG@sha256:<digest> (a mirror, a patched or a test base)")
}

// image validates the options and returns the recipe's image for them.
func (o *graphOptions) image(name string) (builder.Image, error) {
	r, err := recipes.Lookup(name)
	if err != nil {
		return builder.Image{}, usageError{err}
	}
	p, err := platforms.Parse(o.platform)
	if err != nil {
		return builder.Image{}, usagef("--platform %q: %v; want OS/ARCH[/VARIANT] such as linux/amd64", o.platform, err)
	}
	in := recipes.Inputs{Platform: platforms.Normalize(p)}
	if o.base != "" {
		if in.Base, err = builder.ParsePin(o.base); err != nil {
			return builder.Image{}, usagef("--base: %v", err)
		}
	}
	if in.Context, err = builder.LoadContext(o.contextDir); err != nil {
		return builder.Image{}, usagef("--context: %v; point it at the build context directory", err)
	}
	img, err := r.Image(in)
	if err != nil {
		return builder.Image{}, err
	}
	return img, nil
}

func runLLB(ctx context.Context, args []string, stdout io.Writer) error {
	var o graphOptions
	fs := pflag.NewFlagSet("llb", pflag.ContinueOnError)
	o.addFlags(fs)
	pos, help, err := parseFlags(fs, args, stdout, "llb RECIPE [--platform P] [--context DIR] [--base REF]", 1)
	if help || err != nil {
		return err
	}
	img, err := o.image(pos[0])
	if err != nil {
		return err
	}
	def, err := img.Marshal(ctx)
	if err != nil {
		return err
	}
	return llb.WriteTo(def, stdout)
}
