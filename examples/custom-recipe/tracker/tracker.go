// Package tracker holds the tracker team's recipes: data on imagebuild's
// recipes and the team's pins, describing images and running nothing, so
// the package links BuildKit's client/llb and not its build client.
package tracker

import "github.com/imagebuild/imagebuild/recipes"

// API is the tracker's API image: ADR-003's image (imagebuild's
// docs/adr-003.md) with the team's pin, command, environment and labels.
func API() recipes.Recipe {
	return recipes.Named("tracker-api", "the tracker's API: ADR-003's image, served by gunicorn", recipes.PythonAlpine{
		Base: TrackerBase,
		Cmd:  []string{"gunicorn", "--bind", "0.0.0.0:8000", "tracker.wsgi"},
		Env:  []string{"TRACKER_SETTINGS=tracker.settings.production"},
		Labels: map[string]string{
			"org.opencontainers.image.title": "tracker-api",
		},
	})
}
