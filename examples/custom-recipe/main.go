// Command tracker-build builds the tracker team's images: imagebuild's
// whole command line (build, llb, verify, push, recipes, pins, version, with
// every flag) with the team's own recipes.
//
//	go run . build tracker-api --context ../tracker -o type=oci,dest=tracker-api.oci.tar
package main

import (
	"github.com/imagebuild/imagebuild/cli"
	"github.com/imagebuild/imagebuild/recipes"
)

func main() {
	cli.Main(
		// tracker-api is ADR-003's image (imagebuild's docs/adr-003.md) with
		// the team's pin, command, environment and labels.
		recipes.Named("tracker-api", "the tracker's API: ADR-003's image, served by gunicorn", recipes.PythonAlpine{
			Base: TrackerBase,
			Cmd:  []string{"gunicorn", "--bind", "0.0.0.0:8000", "tracker.wsgi"},
			Env:  []string{"TRACKER_SETTINGS=tracker.settings.production"},
			Labels: map[string]string{
				"org.opencontainers.image.title": "tracker-api",
			},
		}),
	)
}
