// Command tracker-build builds the tracker team's images: imagebuild's
// whole command line (build, llb, verify, push, recipes, pins, version, with
// every flag) with the team's own recipes, which live in package tracker.
//
//	go run . build tracker-api --context ../tracker -o type=oci,dest=tracker-api.oci.tar
package main

import (
	"example.com/tracker-build/tracker"
	"github.com/imagebuild/imagebuild/cli"
)

func main() {
	cli.Main(tracker.API())
}
