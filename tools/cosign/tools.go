//go:build tools

// Package tools pins the cosign v2 that the sign package's integration tests
// run against (scripts/cosign.sh builds it from this module).
package tools

import (
	_ "github.com/sigstore/cosign/v2/cmd/cosign"
)
