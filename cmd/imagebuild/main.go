// Command imagebuild builds container images from imagebuild's typed Go
// recipes on a BuildKit daemon: the command line of package cli with the
// recipes of package recipes.
//
//	imagebuild build RECIPE [flags]   build a recipe and export it
//	imagebuild llb RECIPE [flags]     write a recipe's LLB definition to stdout
//	imagebuild verify TARGET          check ADR-003's promises (docs/adr-003.md) on a built image
//	imagebuild push LAYOUT REF        push an OCI layout's image as it is
//	imagebuild recipes                list the recipes
//	imagebuild pins check|bump        check or bump the recipes' base image pins
//	imagebuild version                print imagebuild's and BuildKit's versions
//
// Exit codes: 0 on success, 1 when a build or command fails, 2 for usage errors.
package main

import (
	"github.com/imagebuild/imagebuild/cli"
	"github.com/imagebuild/imagebuild/recipes"
)

func main() { cli.Main(recipes.All()...) }
