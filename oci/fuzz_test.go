package oci

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// The seeds of these targets are in testdata/fuzz: OCI tarballs as the
// exporter writes them and hostile ones (links out, names through "..",
// devices, a sparse bomb). `go test ./oci` runs the seeds;
// `go test ./oci -run '^$' -fuzz FuzzOpenTarball -fuzztime 2m` fuzzes.

// fuzzOpen writes data as a tarball and opens it with open into a folder
// that has a sibling; whatever data holds, open must not panic, and
// nothing may be written beside the destination. It returns the index
// open returned, nil on an error.
func fuzzOpen(t *testing.T, data []byte, open func(path, dir string) (v1.ImageIndex, error)) v1.ImageIndex {
	tmp := t.TempDir()
	path := filepath.Join(tmp, "image.oci.tar")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(tmp, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	idx, err := open(path, filepath.Join(tmp, "dest"))
	isEmpty(t, outside)
	des, rerr := os.ReadDir(tmp)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, de := range des {
		if !slices.Contains([]string{"image.oci.tar", "outside", "dest"}, de.Name()) {
			t.Errorf("%s was written beside the destination", de.Name())
		}
	}
	if err != nil {
		return nil
	}
	return idx
}

// readIndex reads what a caller of the package reads from idx: its
// platforms, each platform's image, manifest, config and attestations;
// errors are fine, panics are not.
func readIndex(idx v1.ImageIndex, layers bool) {
	ps, _ := Platforms(idx)
	_, _ = Image(idx, ocispecs.Platform{})
	for _, p := range ps {
		img, err := Image(idx, p)
		if err != nil {
			continue
		}
		_, _ = img.Manifest()
		_, _ = img.ConfigFile()
		_, _, _ = SBOM(idx, img)
		if !layers {
			continue
		}
		ls, err := img.Layers()
		if err != nil {
			continue
		}
		for _, l := range ls {
			if rc, err := l.Compressed(); err == nil {
				rc.Close()
			}
		}
	}
}

// FuzzOpenTarball feeds bytes to OpenTarball as an OCI tarball, and reads
// the index it opens, layers included.
func FuzzOpenTarball(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if idx := fuzzOpen(t, data, OpenTarball); idx != nil {
			readIndex(idx, true)
		}
	})
}

// FuzzOpenManifests feeds bytes to OpenManifests as an OCI tarball, and
// reads the manifests of the index it opens.
func FuzzOpenManifests(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if idx := fuzzOpen(t, data, OpenManifests); idx != nil {
			readIndex(idx, false)
		}
	})
}

// FuzzExtract feeds Extract a tarball that a script describes, one entry a
// line: a type flag, a name, and for a link " -> " and its target, where
// $OUT stands for a folder beside the destination ("2 blobs -> $OUT",
// "0 blobs/pwned"). Unlike raw bytes, every script is a well-formed
// tarball, so the fuzzer spends its time on names and links. Nothing may
// be written beside the destination, and without RootFS no symlink left in
// it may lead out of it.
func FuzzExtract(f *testing.F) {
	f.Fuzz(func(t *testing.T, script string, rootFS bool) {
		tmp := t.TempDir()
		dest := filepath.Join(tmp, "dest")
		outside := filepath.Join(tmp, "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i, line := range strings.Split(script, "\n") {
			if i == 64 {
				break
			}
			flag, rest, _ := strings.Cut(line, " ")
			if flag == "" {
				continue
			}
			name, link, _ := strings.Cut(rest, " -> ")
			h := tar.Header{Typeflag: flag[0], Name: name, Linkname: strings.ReplaceAll(link, "$OUT", outside), Mode: 0o755}
			body := ""
			if h.Typeflag == tar.TypeReg {
				body = "x"
				h.Size = 1
			}
			if tw.WriteHeader(&h) != nil {
				return // not a header tar writes
			}
			if _, err := tw.Write([]byte(body)); err != nil {
				return
			}
		}
		if err := tw.Close(); err != nil {
			return
		}
		_ = Extract(&buf, dest, ExtractOptions{RootFS: rootFS})
		isEmpty(t, outside)
		des, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			if de.Name() != "dest" && de.Name() != "outside" {
				t.Errorf("%s was written beside the destination", de.Name())
			}
		}
		if rootFS {
			return
		}
		destReal, err := filepath.EvalSymlinks(dest)
		if err != nil {
			t.Fatal(err)
		}
		err = filepath.WalkDir(dest, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.Type()&fs.ModeSymlink == 0 {
				return err
			}
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // dangling or a loop: it leads nowhere
			}
			if rel, err := filepath.Rel(destReal, real); err != nil || !filepath.IsLocal(rel) && rel != "." {
				t.Errorf("%s leads out of the destination, to %s", p, real)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
