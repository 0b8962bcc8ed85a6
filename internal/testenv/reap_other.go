//go:build !linux

package testenv

import "testing"

// reap is for a daemon's containers and mounts, which only Linux has; the
// integration tests run on Linux only.
func reap(t testing.TB, dir string) {
	t.Helper()
	Unavailable(t, "reaping a killed daemon's containers needs Linux")
}
