package recipes

import (
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/ref"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Inputs are what a recipe's graph is made for, beside the recipe's own fields.
type Inputs struct {
	// Platform is the platform the graph is for.
	Platform ocispecs.Platform
	// Base, when its Pin is set, replaces the recipe's pinned bases in
	// every stage: a mirror, a patched or a test base. Its Distro says how
	// to install packages on it; the zero Distro is the recipe's own.
	Base Base
	// RuntimeBase, when its Pin is set, replaces the base of the runtime
	// stage alone (the image's first layers and the config it starts
	// from): the builder's base patched for a CVE, say, which then rebuilds
	// no compiled distribution. It runs the builder's distribution, with
	// the same Python at the same path; its Distro is the builder's when
	// zero, and another is refused. The zero RuntimeBase is the recipe's
	// runtime base (or Base, when that is set).
	RuntimeBase Base
	// Context is the build context the graph reads; the zero Context is
	// an empty one.
	Context graph.Context
	// Native is the platform the daemon runs natively, where it is known.
	// A recipe whose graph can build for Platform on Native without
	// emulation runs its builder stage there (Python: a locked venv on a
	// distribution with a cross toolchain, see [Python]). The zero Native
	// runs every step on Platform: natively, or under emulation.
	Native ocispecs.Platform
}

// Base is a base image and the distribution it runs, which decides how a
// recipe installs packages on it.
type Base struct {
	// Pin is the image, pinned by digest.
	Pin ref.Pin
	// Distro is the image's distribution.
	Distro Distro
}

// BaseOr returns the base a recipe whose own base is def builds on:
// in.Base when its Pin is set (with def's distribution when it names
// none), else def.
func (in Inputs) BaseOr(def Base) Base {
	if in.Base.Pin == "" {
		return def
	}
	b := in.Base
	if b.Distro.Name == "" {
		b.Distro = def.Distro
	}
	return b
}

// Recipe is an image recipe: data with documented fields and safe zero
// values, plus a pure method that returns the image's graph.
type Recipe interface {
	// Name is the recipe's name on the command line.
	Name() string
	// Description is one line on what the recipe builds.
	Description() string
	// Validate reports whether the recipe's fields make a buildable image,
	// naming the field that does not.
	Validate() error
	// Image returns the image's graph and config for in.Platform. It does no
	// I/O, so a graph can be made without a daemon or network. A recipe
	// whose fields Validate refuses is refused here, with Validate's error:
	// the command checks a recipe by making its image, once.
	Image(in Inputs) (graph.Image, error)
}

// All returns imagebuild's own recipes, with their defaults: the set
// cmd/imagebuild hands the command line.
func All() []Recipe {
	return []Recipe{PythonAlpine{}, PythonSlim{}}
}

// Named returns r under another name and description, as a team registers
// a configured recipe of its own:
//
//	recipes.Named("tracker-api", "the tracker's API", recipes.PythonAlpine{Cmd: cmd})
func Named(name, description string, r Recipe) Recipe {
	return named{Recipe: r, name: name, description: description}
}

type named struct {
	Recipe
	name, description string
}

func (n named) Name() string        { return n.name }
func (n named) Description() string { return n.description }
