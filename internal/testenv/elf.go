package testenv

import (
	"embed"
	"testing"
)

// elfFixtures are small shared libraries made once by testdata/elf/make.sh
// and checked in, so the tests need no compiler.
//
//go:embed testdata/elf/*.so
var elfFixtures embed.FS

// Shared libraries that ELF returns.
const (
	// LibDep has the soname libimagebuild_dep.so.1.
	LibDep = "dep.so"
	// LibNeedsGone needs libimagebuild_gone.so.1, which no image has.
	LibNeedsGone = "needs-gone.so"
	// LibNeedsDep needs libimagebuild_dep.so.1 and finds it through its
	// RUNPATH $ORIGIN/../ext.libs.
	LibNeedsDep = "needs-dep.so"
)

// ELF returns the shared library fixture name (LibDep, LibNeedsGone,
// LibNeedsDep).
func ELF(t testing.TB, name string) []byte {
	t.Helper()
	dt, err := elfFixtures.ReadFile("testdata/elf/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return dt
}
