package oci

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestExtractHardLinkOut: a hard link to a file outside the destination,
// by a relative or an absolute name, is not made.
func TestExtractHardLinkOut(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	rel, err := filepath.Rel(dest, secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{rel, secret} {
		if err := Extract(bytes.NewReader(tarBytes(t, hardlink("link", target))), dest, ExtractOptions{RootFS: true}); err == nil {
			t.Errorf("Extract made a hard link to %s", target)
		}
		fi, err := os.Stat(secret)
		if err != nil {
			t.Fatal(err)
		}
		if n := fi.Sys().(*syscall.Stat_t).Nlink; n != 1 {
			t.Errorf("after a hard link to %s, %s has %d links, want 1", target, secret, n)
		}
	}
}

// TestExtractChown: as root, with Chown, each entry gets the owner its
// header names; without Chown, the caller's.
func TestExtractChown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting an owner needs root")
	}
	owned := func(e entry) entry { e.Uid, e.Gid = 1234, 5678; return e }
	es := []entry{owned(dir("d/")), owned(file("d/f", "x")), owned(symlink("d/l", "f"))}
	for _, chown := range []bool{true, false} {
		dest := t.TempDir()
		if err := Extract(bytes.NewReader(tarBytes(t, es...)), dest, ExtractOptions{Chown: chown}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"d", "d/f", "d/l"} {
			fi, err := os.Lstat(filepath.Join(dest, name))
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			want := [2]uint32{0, 0}
			if chown {
				want = [2]uint32{1234, 5678}
			}
			if got := [2]uint32{st.Uid, st.Gid}; got != want {
				t.Errorf("Chown %v: %s owned by %v, want %v", chown, name, got, want)
			}
		}
	}
}
