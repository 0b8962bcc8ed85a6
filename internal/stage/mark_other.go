//go:build !linux

package stage

import (
	"errors"
	"os"
)

// mark records nothing where the system has no extended attributes this
// package sets: a folder there is replaced only when absent or empty.
func mark(dir string) error { return nil }

// marked is false: see mark.
func marked(dir string) bool { return false }

// swap is never reached where marked is false.
func swap(a, b string) error {
	return errors.Join(errors.New("cannot swap folders on this system"), os.ErrInvalid)
}
