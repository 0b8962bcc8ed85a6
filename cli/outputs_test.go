package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
)

// TestCacheFromMissingWarnsWhenQuiet: a local cache source that is not
// there built cold with --progress quiet without a word (the warning was
// in the progress display alone). It is one line on stderr, beside the
// one that says the builder stage floats (the context has no lock): a
// quiet build says its warnings and nothing else.
func TestCacheFromMissingWarnsWhenQuiet(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	dir := filepath.Join(t.TempDir(), "no-cache")
	dest := filepath.Join(t.TempDir(), "image.tar")
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "quiet", "-o", "type=oci,dest="+dest,
		"--cache-from", "type=local,src="+dir)
	if code != 0 {
		t.Fatalf("build exited %d: %s", code, lastLines(stderr, 5))
	}
	want := "imagebuild: warning: no cache imported from " + dir + " (nothing there yet); building without it\n" +
		"imagebuild: warning: " + recipes.FloatingBuilder + "\n"
	if stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}

// TestLocalOutputReplacesItsOwn writes the image's filesystem into a folder
// twice: the second build replaces the folder the first wrote, whole, and
// a folder of the user's beside it is refused and kept.
func TestLocalOutputReplacesItsOwn(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	out := t.TempDir()
	dest := filepath.Join(out, "rootfs")
	for i := range 2 {
		_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
			"--base", env.Base.String(), "--progress", "quiet", "-o", "type=local,dest="+dest)
		if code != 0 {
			t.Fatalf("build %d exited %d: %s", i+1, code, lastLines(stderr, 5))
		}
		if _, err := os.Stat(filepath.Join(dest, "app", "app", "__main__.py")); err != nil {
			t.Fatalf("build %d: the rootfs has no app: %v", i+1, err)
		}
		if i == 0 {
			// A file the output did not write, left in the folder it did.
			if err := os.WriteFile(filepath.Join(dest, "stale"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "stale")); !os.IsNotExist(err) {
		t.Errorf("the second build merged into the first's folder rather than replacing it: %v", err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the output's folder holds %s, want rootfs alone (no staged or swapped leftovers)", strings.Join(names, ", "))
	}
	mine := filepath.Join(out, "mine")
	if err := os.MkdirAll(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mine, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "quiet", "-o", "type=local,dest="+mine)
	if code != 2 || !strings.Contains(stderr, "holds files imagebuild did not write") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("a local output over the user's folder: exit %d, stderr %q; want exit 2 and one line", code, stderr)
	}
	if dt, err := os.ReadFile(filepath.Join(mine, "keep.txt")); err != nil || string(dt) != "mine" {
		t.Errorf("keep.txt: %q, %v; want it kept", dt, err)
	}
}
