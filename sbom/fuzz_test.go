package sbom_test

import (
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/sbom"
)

// FuzzRead reads bytes as an SPDX document and checks what Read returns
// against a small image's catalogue, as verify does: no panic, and every
// listing it accepts is well formed. The seeds (testdata/fuzz/FuzzRead)
// are a document the package writes and broken ones.
func FuzzRead(f *testing.F) {
	inv, err := sbom.Catalog(debianFS())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		listed, err := sbom.Read(doc)
		if err != nil {
			if listed != nil {
				t.Errorf("Read returned a listing and the error %v", err)
			}
			return
		}
		for name, sum := range listed.Files {
			if !path.IsAbs(name) || path.Clean(name) != name {
				t.Errorf("file name %q is not an absolute clean path", name)
			}
			if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
				t.Errorf("file %s: SHA-256 %q is not 64 lower-case hex digits", name, sum)
			}
		}
		for _, p := range listed.Packages {
			if p.Type != sbom.Deb && p.Type != sbom.Apk && p.Type != sbom.PyPI {
				t.Errorf("package %v of type %q", p, p.Type)
			}
		}
		missing, extra := sbom.Diff(listed.Packages, inv.Packages)
		for _, l := range [][]string{missing, extra} {
			if !slices.IsSorted(l) || len(slices.Compact(slices.Clone(l))) != len(l) {
				t.Errorf("Diff: %q is not sorted and unique", l)
			}
		}
		if len(missing) > len(inv.Packages) || len(extra) > len(listed.Packages) {
			t.Errorf("Diff: %d missing of %d found, %d extra of %d listed", len(missing), len(inv.Packages), len(extra), len(listed.Packages))
		}
	})
}
