//go:build unix

package output

import "golang.org/x/sys/unix"

// canWrite reports whether this process may create files in dir.
func canWrite(dir string) bool { return unix.Access(dir, unix.W_OK|unix.X_OK) == nil }
