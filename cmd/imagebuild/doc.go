// Command imagebuild builds container images from imagebuild's typed Go
// recipes on a BuildKit daemon.
//
//	imagebuild build RECIPE [flags]   build a recipe and export it
//	imagebuild llb RECIPE [flags]     write a recipe's LLB definition to stdout
//	imagebuild recipes                list the recipes
//	imagebuild version                print imagebuild's and BuildKit's versions
//
// Exit codes: 0 on success, 1 when a build or command fails, 2 for usage errors.
package main
