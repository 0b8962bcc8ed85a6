package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SharedLibrary builds a shared library with the host's gcc, passing args
// to the link (-lNAME links against a stub made here, which an image built
// from the result will lack), and returns it.
func SharedLibrary(t *testing.T, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatalf("gcc is needed to make ELF test files: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.c"), []byte("int imagebuild_probe(void) { return 42; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.so")
	cmd := exec.Command("gcc", append([]string{"-shared", "-fPIC", "-o", out, "x.c", "-L" + dir, "-Wl,--no-as-needed"}, args...)...)
	cmd.Dir = dir
	// -l libraries link against stubs made here, which the image will lack.
	for _, a := range args {
		if lib, ok := strings.CutPrefix(a, "-l"); ok {
			stub := exec.Command("gcc", "-shared", "-fPIC", "-o", filepath.Join(dir, "lib"+lib+".so"), "x.c", "-Wl,-soname,lib"+lib+".so.1")
			stub.Dir = dir
			if b, err := stub.CombinedOutput(); err != nil {
				t.Fatalf("gcc stub: %v\n%s", err, b)
			}
		}
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	dt, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return dt
}
