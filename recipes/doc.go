// Package recipes holds imagebuild's typed image recipes, and the steps
// they are made of, for recipes of your own.
//
// A recipe is data, documented fields with safe zero values, plus one pure
// method that returns the image's graph for one platform: no I/O, no
// registration. [PythonAlpine] is ADR-003's image (docs/adr-003.md);
// [PythonSlim] its Debian alternative. A literal names only what it changes:
//
//	tracker := recipes.Named("tracker-api", "the tracker's API", recipes.PythonAlpine{
//		Base: TrackerBase, // a ref.Pin constant of your own
//		Cmd:  []string{"gunicorn", "--bind", "0.0.0.0:8000", "tracker.wsgi"},
//		Env:  []string{"TRACKER_SETTINGS=tracker.settings.production"},
//	})
//	img, err := tracker.Image(recipes.Inputs{Platform: platform, Context: bctx})
//
// Hand recipes to package cli for the whole command line
// (cli.Main(tracker)), or build the image with builder.Build.
//
// A recipe of a new kind implements [Recipe]: its stages are functions
// returning llb.State, and the steps the Python recipes are made of are
// here to reuse: [Distro.Install] installs packages with the base's package
// manager and a download cache ([Alpine], [Debian]); [Account.FilesLayer]
// adds the non-root account ([AppUser]); [Account.CopyLayer] copies a tree
// owned by it; [Layer] and [FixedTime] make layers that do not depend on
// the day they are built, to merge over the base with llb.Merge.
//
// Base images are pinned by digest as typed constants (pins.go), which
// `imagebuild pins check` and `pins bump` find.
package recipes
