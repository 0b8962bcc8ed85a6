package recipes

import "github.com/imagebuild/imagebuild/builder"

// The base images recipes build on, each pinned by the digest of its
// multi-arch index. TestPins checks every pin listed in [Pins] is written as
// NAME:TAG@sha256:<64 hex>.
const (
	// PythonAlpineBase is python:3.12-alpine as ADR-003 pins it, for both of
	// its stages.
	PythonAlpineBase builder.Pin = "docker.io/library/python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d"
)

// Pins lists every base image pin of the recipes.
func Pins() []builder.Pin {
	return []builder.Pin{PythonAlpineBase}
}
