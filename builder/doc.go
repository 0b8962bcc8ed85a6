// Package builder turns an image description into a BuildKit build.
//
// A [graph.Image] (package graph: what describes an image, nothing that
// runs a build) is a filesystem graph ([llb.State]) for one platform, the
// pin of the base image it starts from, and the [graph.Config] it sets on
// top of that base's own config. [Build] runs one image a platform on a
// BuildKit daemon through the gateway API, the way BuildKit's Dockerfile
// frontend does: each platform's base config is resolved in the daemon,
// patched with the image's config, and sent to the exporters as result
// metadata, so several platforms give one image index. Build is the whole pipeline: it
// builds once, runs the checks asked for on that build, then writes the
// outputs and reads back what it wrote.
//
// The client comes from package daemon ([daemon.Connect]); pins and
// references from package ref. Where the result goes is package output:
// an [output.Output] names it, and output stages, writes, loads and reads
// back what the build exports; the build moves tags only once that is read
// back and signed.
//
// The files follow one build: plan.go checks it ([NewPlan]) and runs it
// ([Plan.Build]); build.go is the pipeline ([Build]: check, export, read
// back, commit, tag); check.go the checks (verify, reproducibility);
// solve.go one solve on a daemon, expand.go a graph that grows during it,
// sbom.go the SBOM attached to it; builders.go a daemon per platform;
// errors.go what the daemon's errors mean to the user. The other files hold
// what their names say.
//
// The smallest use builds one recipe's image into an OCI tarball:
//
//	c, err := daemon.Connect(ctx, daemon.Config{Addr: "unix:///run/buildkit/buildkitd.sock"})
//	bctx, err := graph.LoadContext(".")
//	img, err := recipes.PythonAlpine{}.Image(recipes.Inputs{Platform: platform, Context: bctx})
//	res, err := builder.Build(ctx, c, []graph.Image{img}, builder.Options{
//		Outputs: []output.Output{{Type: client.ExporterOCI, Dest: "image.oci.tar"}},
//	}, nil)
//
// [Build] is [NewPlan], which checks everything that needs no daemon
// before any is contacted, then [Plan.Build]; a plan can also make its
// images for the daemon's own platform, found when it runs.
//
// Build dates the image by the build context's git HEAD commit (or
// [Options.SourceDateEpoch]) and labels it with the work tree's revision
// and source, so a program that uses the package gets the image imagebuild
// builds. Comparing images (package compare), checking pins (package pins)
// and reading OCI files (package oci) live in packages of their own.
//
// The package has no command-line concerns: it never exits, never reads
// flags and never writes to stdout on its own.
package builder
