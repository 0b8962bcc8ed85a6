package recipes

import "github.com/imagebuild/imagebuild/ref"

// The base images recipes build on, each pinned by the digest of its
// multi-arch index. TestPins checks every pin declared here is written as
// NAME:TAG@sha256:<64 hex> and is the base of a recipe of [All].
const (
	// PythonAlpineBase is python:3.12-alpine as ADR-003 (docs/adr-003.md)
	// pins it, for both of its stages.
	PythonAlpineBase ref.Pin = "docker.io/library/python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d"

	// PythonSlimBase is python:3.12-slim (Debian 13), the index digest that
	// many public repositories pinned in late 2026. It could not be
	// confirmed where it was written (Docker Hub was out of reach);
	// `imagebuild pins check` confirms it, or `pins bump` replaces it,
	// wherever Docker Hub answers.
	PythonSlimBase ref.Pin = "docker.io/library/python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea"
)
