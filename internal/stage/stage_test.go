package stage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSet(t *testing.T) {
	dir := t.TempDir()
	file, folder := filepath.Join(dir, "out.tar"), filepath.Join(dir, "layout")
	if err := os.WriteFile(file, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(folder, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	var s Set
	if err := s.Bytes(file, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := s.Dir(folder)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "index.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Nothing is in place before the commit.
	if dt, _ := os.ReadFile(file); string(dt) != "old" {
		t.Errorf("before the commit %s holds %q, want the old content", file, dt)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Discard()
	if dt, _ := os.ReadFile(file); string(dt) != "new" {
		t.Errorf("%s holds %q after the commit, want new", file, dt)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("%s: %v, mode %v; want 0644", file, err, fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(folder, "stale")); !os.IsNotExist(err) {
		t.Errorf("the folder was not replaced: %v", err)
	}
	if _, err := os.Stat(filepath.Join(folder, "index.json")); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 || len(s.Committed()) != 2 {
		t.Errorf("%d entries left in the folder (want 2, no staged leftovers); committed %v", len(entries), s.Committed())
	}
}

func TestDiscard(t *testing.T) {
	dir := t.TempDir()
	var s Set
	if err := s.Bytes(filepath.Join(dir, "a"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Dir(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	s.Discard()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("discarded, the folder still holds %v", entries)
	}
}
