package publish

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLinkBlobs: every blob of one layout is in the other afterwards, as
// the same file where a link can be made; a blob already there is kept,
// and a layout not there yet adds none.
func TestLinkBlobs(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	blobs := map[string]string{"aa": "one", "bb": "two"}
	for name, dt := range blobs {
		if err := os.MkdirAll(filepath.Join(src, "blobs", "sha256"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, "blobs", "sha256", name), []byte(dt), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kept := filepath.Join(dst, "blobs", "sha256", "bb")
	if err := os.MkdirAll(filepath.Dir(kept), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := LinkBlobs(src, dst); err != nil {
		t.Fatal(err)
	}
	for name, want := range blobs {
		got, err := os.ReadFile(filepath.Join(dst, "blobs", "sha256", name))
		if err != nil || string(got) != want {
			t.Errorf("blob %s: %q, %v; want %q", name, got, err, want)
		}
	}
	a, err := os.Stat(filepath.Join(src, "blobs", "sha256", "aa"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.Stat(filepath.Join(dst, "blobs", "sha256", "aa")); err != nil || !os.SameFile(a, b) {
		t.Errorf("blob aa was not linked (%v)", err)
	}
	if fi, err := os.Stat(kept); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the blob dst had was replaced (%v)", err)
	}
	if err := LinkBlobs(filepath.Join(t.TempDir(), "none"), dst); err != nil {
		t.Errorf("LinkBlobs from no layout: %v, want none added", err)
	}
}
