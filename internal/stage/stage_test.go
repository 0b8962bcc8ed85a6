package stage

import (
	"errors"
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
	// An earlier output: a folder an earlier Set made.
	var earlier Set
	old, err := earlier.Dir(folder)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(old, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := earlier.Commit(); err != nil {
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

// TestDirKeepsWhatItDidNotWrite is the attack of an output folder named
// where the user keeps files (dest=. in a project): the commit used to
// remove the folder, keep.txt with it, before renaming the new one in.
func TestDirKeepsWhatItDidNotWrite(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Replaceable(dir); !errors.Is(err, ErrNotOurs) {
		t.Errorf("Replaceable(a folder holding keep.txt) = %v, want ErrNotOurs", err)
	}
	var s Set
	d, err := s.Dir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "rootfs-file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = s.Commit()
	s.Discard()
	if !errors.Is(err, ErrNotOurs) {
		t.Errorf("commit over a folder of the user's: %v, want ErrNotOurs", err)
	}
	if dt, err := os.ReadFile(keep); err != nil || string(dt) != "mine" {
		t.Errorf("keep.txt after the commit: %q, %v; want it kept", dt, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs-file")); err == nil {
		t.Error("the staged folder was moved in over the user's")
	}
	// An empty folder is taken, and marked, so the next output replaces it.
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		var s Set
		d, err := s.Dir(empty)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), []byte{byte('0' + i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		s.Discard()
		if dt, _ := os.ReadFile(filepath.Join(empty, "f")); string(dt) != string(rune('0'+i)) {
			t.Errorf("commit %d: f holds %q", i, dt)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left %v in the folder, want keep.txt and empty alone", entries)
	}
}
