//go:build tools

// Package tools pins the runc the engine tests' Docker Engine runs
// containers with: Debian's 1.1.5 refuses the time namespace a current
// engine asks for.
package tools

import _ "github.com/opencontainers/runc"
