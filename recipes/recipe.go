package recipes

import (
	"fmt"
	"strings"

	"github.com/imagebuild/imagebuild/builder"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Inputs are what a recipe's graph is made for, beside the recipe's own fields.
type Inputs struct {
	// Platform is the platform the graph is for.
	Platform ocispecs.Platform
	// Base, when set, replaces the recipe's pinned base in every stage: a
	// mirror, a patched or a test base.
	Base builder.Pin
	// Context is the build context the graph reads.
	Context builder.Context
}

// base is in.Base when set, else the recipe's own pin.
func (in Inputs) base(pin builder.Pin) builder.Pin {
	if in.Base != "" {
		return in.Base
	}
	return pin
}

// Recipe is an image recipe.
type Recipe interface {
	// Name is the recipe's name on the command line.
	Name() string
	// Description is one line on what the recipe builds.
	Description() string
	// Validate reports whether the recipe's fields make a buildable image.
	Validate() error
	// Image returns the image's graph and config for in.Platform. It does no
	// I/O, so a graph can be made without a daemon or network.
	Image(in Inputs) (builder.Image, error)
}

// All returns every recipe, with its defaults.
func All() []Recipe {
	return []Recipe{PythonAlpine{}, PythonSlim{}}
}

// Lookup returns the recipe named name.
func Lookup(name string) (Recipe, error) {
	var names []string
	for _, r := range All() {
		if r.Name() == name {
			return r, nil
		}
		names = append(names, r.Name())
	}
	return nil, fmt.Errorf("unknown recipe %q; `imagebuild recipes` lists them: %s", name, strings.Join(names, ", "))
}
