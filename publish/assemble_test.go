package publish

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// platformLayout writes an OCI layout of one random image of arch.
func platformLayout(t *testing.T, arch string) (string, v1.Hash) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg.OS, cfg.Architecture = "linux", arch
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return dir, d
}

func TestAssembleOneIndexOfThePlatforms(t *testing.T) {
	amd, amdDigest := platformLayout(t, "amd64")
	arm, armDigest := platformLayout(t, "arm64")
	dst := filepath.Join(t.TempDir(), "index")
	d, err := Assemble(dst, []string{amd, arm})
	if err != nil {
		t.Fatal(err)
	}

	tarball := filepath.Join(t.TempDir(), "index.oci.tar")
	f, err := os.Create(tarball)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTar(dst, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	unpacked := t.TempDir()
	untarTo(t, tarball, unpacked)
	for _, dir := range []string{dst, unpacked} {
		desc, idx, err := single(dir)
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest.String() != d.String() || !desc.MediaType.IsIndex() {
			t.Fatalf("%s: index.json names %s %s, want the index %s", dir, desc.MediaType, desc.Digest, d)
		}
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := child.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		type entry struct {
			Digest v1.Hash
			Arch   string
		}
		var got []entry
		for _, md := range m.Manifests {
			if md.Platform == nil {
				t.Fatalf("manifest %s has no platform", md.Digest)
			}
			got = append(got, entry{md.Digest, md.Platform.Architecture})
			img, err := child.Image(md.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := img.Layers(); err != nil {
				t.Fatal(err)
			}
		}
		want := []entry{{amdDigest, "amd64"}, {armDigest, "arm64"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: index manifests (-want +got):\n%s", dir, diff)
		}
	}
}

func TestAssembleNotALayout(t *testing.T) {
	_, err := Assemble(filepath.Join(t.TempDir(), "index"), []string{t.TempDir()})
	if !errors.Is(err, ErrNoLayout) {
		t.Errorf("Assemble of an empty folder: %v, want ErrNoLayout", err)
	}
}

func untarTo(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		dt, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, dt, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
