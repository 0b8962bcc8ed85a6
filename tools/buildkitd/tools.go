//go:build tools

// Package tools pins the buildkitd daemon used by the project's tests and
// `make buildkitd` to the BuildKit version the main module requires.
package tools

import (
	_ "github.com/moby/buildkit/cmd/buildctl"
	_ "github.com/moby/buildkit/cmd/buildkitd"
)
