package cli

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// tarDir writes the files of the folder dir to a tarball at path, named
// relative to dir, as the oci exporter writes a layout.
func tarDir(t *testing.T, dir, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyIndexWithoutImage: verify of an OCI layout or tarball whose
// index lists no manifest fails in one line, exit 1, and passes nothing.
func TestVerifyIndexWithoutImage(t *testing.T) {
	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	if _, err := layout.Write(layoutDir, empty.Index); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(dir, "image.oci.tar")
	tarDir(t, layoutDir, tarball)
	for _, target := range []string{layoutDir, tarball} {
		for _, args := range [][]string{{"verify", target}, {"verify", target, "--platform", "linux/amd64"}, {"verify", target, "--format", "json"}} {
			stdout, stderr, code := cli(t, args...)
			if code != 1 {
				t.Errorf("%s exited %d, want 1\n%s%s", strings.Join(args, " "), code, stdout, stderr)
				continue
			}
			if stdout != "" {
				t.Errorf("%s wrote %q on stdout, want nothing", strings.Join(args, " "), stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "lists no image") || !strings.Contains(stderr, target) {
				t.Errorf("%s: stderr %q, want one line naming %s and saying it lists no image", strings.Join(args, " "), stderr, target)
			}
		}
	}
}

// TestVerifyTarballLinkOut: verify of a tarball holding oci-layout, a
// symlink blobs to a folder outside its temporary folder and a file
// blobs/pwned fails in one line, exit 1, and writes nothing in that folder.
func TestVerifyTarballLinkOut(t *testing.T) {
	outside := t.TempDir()
	tarball := filepath.Join(t.TempDir(), "evil.oci.tar")
	f, err := os.Create(tarball)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		h    tar.Header
		body string
	}{
		{tar.Header{Typeflag: tar.TypeReg, Name: "oci-layout", Mode: 0o644}, `{"imageLayoutVersion":"1.0.0"}`},
		{tar.Header{Typeflag: tar.TypeSymlink, Name: "blobs", Linkname: outside, Mode: 0o777}, ""},
		{tar.Header{Typeflag: tar.TypeReg, Name: "blobs/pwned", Mode: 0o644}, "pwned"},
		{tar.Header{Typeflag: tar.TypeReg, Name: "index.json", Mode: 0o644}, `{"schemaVersion":2,"manifests":[]}`},
	} {
		e.h.Size = int64(len(e.body))
		if err := tw.WriteHeader(&e.h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cli(t, "verify", tarball)
	if code != 1 {
		t.Errorf("verify exited %d, want 1\n%s%s", code, stdout, stderr)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "symlink") || !strings.Contains(stderr, tarball) {
		t.Errorf("stderr %q, want one line naming %s and its symlink", stderr, tarball)
	}
	des, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		t.Errorf("verify wrote %s outside its temporary folder", filepath.Join(outside, de.Name()))
	}
}
