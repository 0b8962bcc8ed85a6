package oci

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// entry is one entry of a tarball a test writes: a header and, for a
// regular file, its body.
type entry struct {
	tar.Header
	body string
}

func file(name, body string) entry {
	return entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body: body}
}

func dir(name string) entry {
	return entry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func symlink(name, target string) entry {
	return entry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) entry {
	return entry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}

// tarBytes returns the bytes of a tarball of es.
func tarBytes(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.Header
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeTarball writes a tarball of es to a temporary file and returns its
// path.
func writeTarball(t testing.TB, es ...entry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.oci.tar")
	if err := os.WriteFile(path, tarBytes(t, es...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// isEmpty fails t unless the directory dir is empty.
func isEmpty(t testing.TB, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		t.Errorf("%s was written outside the destination", filepath.Join(dir, de.Name()))
	}
}

// TestOpenTarballSymlinkEscape: a tarball holding oci-layout, a symlink
// blobs to a folder outside the destination and a file blobs/pwned must not
// write pwned into that folder, and fails.
func TestOpenTarballSymlinkEscape(t *testing.T) {
	for _, open := range []struct {
		name string
		fn   func(path, dir string) error
	}{
		{"OpenTarball", func(path, dir string) error { _, err := OpenTarball(path, dir); return err }},
		{"OpenManifests", func(path, dir string) error { _, err := OpenManifests(path, dir); return err }},
	} {
		t.Run(open.name, func(t *testing.T) {
			outside := t.TempDir()
			path := writeTarball(t,
				file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`),
				symlink("blobs", outside),
				file("blobs/pwned", "pwned"),
				file("index.json", `{"schemaVersion":2,"manifests":[]}`),
			)
			err := open.fn(path, t.TempDir())
			isEmpty(t, outside)
			if open.name == "OpenTarball" && err == nil {
				t.Error("OpenTarball of a tarball with a symlink out of it succeeded")
			}
		})
	}
}

// TestExtractRefuses: entries that lead out of the destination, or are not
// files, folders or links, are refused with ErrUnsafeEntry, and nothing is
// written outside.
func TestExtractRefuses(t *testing.T) {
	tests := []struct {
		name   string
		rootFS bool
		// entries returns the tarball's entries, given a folder outside
		// the destination.
		entries func(outside string) []entry
	}{
		{"absolute symlink", false, func(outside string) []entry {
			return []entry{symlink("blobs", outside), file("blobs/pwned", "x")}
		}},
		{"symlink up", false, func(string) []entry {
			return []entry{dir("a/"), symlink("a/up", "../../..")}
		}},
		{"symlink up through a symlink to its folder", false, func(string) []entry {
			return []entry{symlink("here", "."), symlink("up", "here/../x")}
		}},
		{"name through ..", false, func(string) []entry {
			return []entry{file("../pwned", "x")}
		}},
		{"name through .. under a folder", true, func(string) []entry {
			return []entry{file("a/../../pwned", "x")}
		}},
		{"hard link out", false, func(string) []entry {
			return []entry{hardlink("secret", "../secret")}
		}},
		{"character device", true, func(string) []entry {
			return []entry{{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}}}
		}},
		{"block device", true, func(string) []entry {
			return []entry{{Header: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/sda", Mode: 0o660, Devmajor: 8}}}
		}},
		{"fifo", true, func(string) []entry {
			return []entry{{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o644}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outside := t.TempDir()
			err := Extract(bytes.NewReader(tarBytes(t, tt.entries(outside)...)), t.TempDir(), ExtractOptions{RootFS: tt.rootFS})
			if !errors.Is(err, ErrUnsafeEntry) {
				t.Errorf("Extract = %v, want ErrUnsafeEntry", err)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("Extract's error is not one line: %q", err)
			}
			isEmpty(t, outside)
		})
	}
}

// sparseBomb returns a tarball of a few blocks whose one entry, a sparse
// file in PAX format 0.1 (which tar.Writer does not write), unpacks to a
// tebibyte of zeros. The PAX header is written by hand.
func sparseBomb(t testing.TB) []byte {
	t.Helper()
	var recs string
	for _, kv := range [][2]string{{"GNU.sparse.size", "1099511627776"}, {"GNU.sparse.numblocks", "1"}, {"GNU.sparse.map", "1099511627775,1"}} {
		r := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(r)
		for n != len(strconv.Itoa(n))+len(r) {
			n = len(strconv.Itoa(n)) + len(r)
		}
		recs += strconv.Itoa(n) + r
	}
	b := tarBytes(t, file("PaxHeaders/big", recs), file("big", "x"))
	// The first entry becomes the PAX header of the second: its type and
	// its checksum rewritten.
	b[156] = tar.TypeXHeader
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// TestExtractSparse: a sparse file, which a few bytes of tarball can make
// as large as they like, is refused before anything is written.
func TestExtractSparse(t *testing.T) {
	b := sparseBomb(t)
	h, err := tar.NewReader(bytes.NewReader(b)).Next()
	if err != nil || h.Size != 1<<40 {
		t.Fatalf("the test's sparse tarball reads as %v, %v: want a 1 TiB file", h, err)
	}
	dest := t.TempDir()
	if err := Extract(bytes.NewReader(b), dest, ExtractOptions{RootFS: true}); !errors.Is(err, ErrUnsafeEntry) {
		t.Errorf("Extract = %v, want ErrUnsafeEntry", err)
	}
	if _, err := os.Lstat(filepath.Join(dest, "big")); err == nil {
		t.Error("Extract wrote the sparse file")
	}
}

// TestExtractRootFSLinks: a root filesystem's symlinks, absolute and
// relative, are created as they are written; writing through one that
// leads out of the destination fails and writes nothing outside, whether
// the stream made it or it was there before.
func TestExtractRootFSLinks(t *testing.T) {
	outside := t.TempDir()
	dest := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dest, "before")); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"usr/bin/python3": "/usr/bin/python3.11",
		"usr/lib/libz.so": "libz.so.1",
		"lib":             "usr/lib",
		"etc/mtab":        "../proc/self/mounts",
		"escape":          outside,
		"up":              "../../../..",
	}
	var es []entry
	for name, target := range links {
		es = append(es, symlink(name, target))
	}
	if err := Extract(bytes.NewReader(tarBytes(t, es...)), dest, ExtractOptions{RootFS: true}); err != nil {
		t.Fatal(err)
	}
	for name, want := range links {
		got, err := os.Readlink(filepath.Join(dest, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if got != want {
			t.Errorf("%s -> %q, want -> %q", name, got, want)
		}
	}
	for _, through := range []string{"escape/pwned", "up/pwned", "before/pwned", "escape/sub/pwned"} {
		err := Extract(bytes.NewReader(tarBytes(t, file(through, "x"))), dest, ExtractOptions{RootFS: true})
		if err == nil {
			t.Errorf("Extract wrote %s, through a symlink out of the destination", through)
		}
	}
	isEmpty(t, outside)
}

// TestExtractKeeps: modes (setuid included), times, hard links, and a later
// entry of the same name replacing an earlier one.
func TestExtractKeeps(t *testing.T) {
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	at := func(e entry) entry { e.ModTime = mtime; return e }
	suid := file("bin/tool", "tool")
	suid.Mode = 0o4755
	ro := dir("ro/")
	ro.Mode = 0o555
	dest := t.TempDir()
	err := Extract(bytes.NewReader(tarBytes(t,
		at(dir("bin/")),
		at(suid),
		at(hardlink("bin/tool2", "bin/tool")),
		at(ro),
		at(file("ro/file", "in a read-only folder")),
		at(symlink("bin/link", "tool")),
		file("twice", "first"),
		at(file("twice", "second")),
		at(file("dir-then-file/x", "x")),
		at(file("dir-then-file", "file")),
	)), dest, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mode os.FileMode
	}{
		{"bin", os.ModeDir | 0o755},
		{"bin/tool", os.ModeSetuid | 0o755},
		{"ro", os.ModeDir | 0o555},
		{"ro/file", 0o644},
		{"bin/link", os.ModeSymlink | 0o777},
		{"twice", 0o644},
		{"dir-then-file", 0o644},
	} {
		fi, err := os.Lstat(filepath.Join(dest, c.name))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.name, fi.Mode(), c.mode)
		}
		if !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: modified %v, want %v", c.name, fi.ModTime(), mtime)
		}
	}
	for name, want := range map[string]string{"bin/tool2": "tool", "twice": "second", "dir-then-file": "file"} {
		got, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil {
			t.Error(err)
		} else if string(got) != want {
			t.Errorf("%s holds %q, want %q", name, got, want)
		}
	}
	a, errA := os.Stat(filepath.Join(dest, "bin/tool"))
	b, errB := os.Stat(filepath.Join(dest, "bin/tool2"))
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		t.Errorf("bin/tool2 is not a hard link to bin/tool (%v, %v)", errA, errB)
	}
}

// tarDir writes the folder src to a tarball at path, its entries named
// relative to src, as the oci exporter writes a layout.
func tarDir(t testing.TB, src, path string) {
	t.Helper()
	var es []entry
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == src {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			es = append(es, dir(filepath.ToSlash(rel)+"/"))
			return nil
		}
		body, err := os.ReadFile(p)
		es = append(es, file(filepath.ToSlash(rel), string(body)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, tarBytes(t, es...), 0o644); err != nil {
		t.Fatal(err)
	}
}
