package builder_test

import (
	"context"
	"fmt"
	"log"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Build a recipe's image for one platform into an OCI tarball, on the
// daemon at BUILDKIT_HOST's usual socket. (Not run: it needs a daemon.)
func ExampleBuild() {
	ctx := context.Background()
	c, err := daemon.Connect(ctx, daemon.Config{Addr: "unix:///run/buildkit/buildkitd.sock"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	bctx, err := graph.LoadContext(".")
	if err != nil {
		log.Fatal(err)
	}
	img, err := recipes.PythonAlpine{}.Image(recipes.Inputs{
		Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"},
		Context:  bctx,
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := builder.Build(ctx, c, []graph.Image{img}, builder.Options{
		Outputs: []output.Output{{Type: client.ExporterOCI, Dest: "image.oci.tar"}},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Manifests["linux/amd64"])
}

// A pin is a reference by tag and digest; its parts are what pins check
// compares.
func ExamplePin() {
	p, err := ref.ParsePin("python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Name())
	fmt.Println(p.Tag())
	fmt.Println(p.Digest().Encoded()[:12])
	// Output:
	// docker.io/library/python
	// 3.12-alpine
	// 236173eb7400
}
