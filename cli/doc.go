// Package cli is imagebuild's command line as a library: build, llb,
// verify, push, recipes, pins and version, with every flag, for the recipes
// a main package hands it. A team's own build tool is a main package of a
// few lines that registers its recipes:
//
//	package main
//
//	import (
//		"github.com/imagebuild/imagebuild/cli"
//		"github.com/imagebuild/imagebuild/recipes"
//	)
//
//	func main() {
//		cli.Main(recipes.Named("tracker-api", "the tracker's API", recipes.PythonAlpine{
//			Cmd: []string{"gunicorn", "--bind", "0.0.0.0:8000", "tracker.wsgi"},
//		}))
//	}
//
// imagebuild's own command, cmd/imagebuild, is such a main package.
//
// Exit codes: 0 on success, 1 when a build or command fails, 2 for usage
// errors. Every error is reported in one line on stderr.
package cli
