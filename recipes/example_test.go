package recipes_test

import (
	"context"
	"fmt"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

var amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}

// A configured ADR-003 image (docs/adr-003.md) under a name of its own.
func ExampleNamed() {
	tracker := recipes.Named("tracker-api", "the tracker's API", recipes.PythonAlpine{
		Cmd: []string{"gunicorn", "--bind", "0.0.0.0:8000", "tracker.wsgi"},
		Env: []string{"TRACKER_SETTINGS=tracker.settings.production"},
	})
	img, err := tracker.Image(recipes.Inputs{Platform: amd64})
	if err != nil {
		panic(err)
	}
	fmt.Println(tracker.Name(), img.Config.Cmd, img.Config.User)
	fmt.Println(img.Base.Tagged())
	// Output:
	// tracker-api [gunicorn --bind 0.0.0.0:8000 tracker.wsgi] appuser
	// docker.io/library/python:3.12-alpine
}

// Validate names the field that makes a recipe unbuildable.
func ExamplePythonAlpine_Validate() {
	err := recipes.PythonAlpine{Env: []string{"TRACKER_SETTINGS"}}.Validate()
	fmt.Println(err)
	// Output:
	// Env: "TRACKER_SETTINGS" is not KEY=VALUE
}

// docs is a recipe of a new kind: a documentation site generated in a
// builder stage and served by Python's http.server as the non-root account,
// on ADR-003's base, made of the steps package recipes exports.
type docs struct{}

func (docs) Name() string        { return "docs-site" }
func (docs) Description() string { return "the docs, generated with mkdocs, served as appuser" }
func (docs) Validate() error     { return nil }

func (docs) Image(in recipes.Inputs) (graph.Image, error) {
	b := in.BaseOr(recipes.Base{Pin: recipes.PythonAlpineBase, Distro: recipes.Alpine})
	base := llb.Image(b.Pin.String(), llb.Platform(in.Platform))
	// The builder stage: the generator and its build dependencies.
	site := base.
		With(b.Distro.Install("builder: install git", []string{"git"}, in.Platform)).
		Run(llb.Shlex("sh -c 'pip install mkdocs && mkdocs build --config-file /src/mkdocs.yml --site-dir /site'"),
			llb.AddMount("/src", in.Context.All(), llb.Readonly), llb.WithCustomName("builder: mkdocs build")).
		Root()
	// The runtime: layers made on an empty tree, merged over the base.
	root := llb.Merge([]llb.State{
		base,
		recipes.AppUser.FilesLayer("runtime: add appuser", base, b.Distro),
		recipes.AppUser.CopyLayer("runtime: copy the site", site, "/site", "/srv/site"),
	})
	return graph.Image{
		Platform: in.Platform,
		Root:     root,
		Base:     b.Pin,
		Config: graph.Config{
			User: recipes.AppUser.Name,
			Cmd:  []string{"python", "-m", "http.server", "8000", "--directory", "/srv/site"},
		},
		Context: in.Context,
	}, nil
}

// A recipe of a new kind implements Recipe with stages as llb.State
// functions.
func ExampleRecipe() {
	var r recipes.Recipe = docs{}
	img, err := r.Image(recipes.Inputs{Platform: amd64})
	if err != nil {
		panic(err)
	}
	def, err := img.Marshal(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Name(), img.Config.User, len(def.Def) > 0)
	// Output:
	// docs-site appuser true
}
