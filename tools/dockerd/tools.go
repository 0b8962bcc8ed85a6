//go:build tools

// Package tools pins the Docker Engine daemon the engine tests build on
// (moby's v2 module, which the module proxy serves).
package tools

import _ "github.com/moby/moby/v2/cmd/dockerd"
