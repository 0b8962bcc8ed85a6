package oci

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}
)

// index returns an index of a random image for each of ps, and an
// attestation, and the images' digests.
func index(t *testing.T, ps ...ocispecs.Platform) (v1.ImageIndex, []v1.Hash) {
	t.Helper()
	var adds []mutate.IndexAddendum
	var digests []v1.Hash
	for _, p := range ps {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture}}})
	}
	att, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{AttestationAnnotation: "attestation-manifest"},
	}})
	return mutate.AppendManifests(empty.Index, adds...), digests
}

// TestPlatformsAndImage: an index's images by platform, attestations left
// out, and each platform's image picked out of it.
func TestPlatformsAndImage(t *testing.T) {
	idx, digests := index(t, amd64, arm64)
	got, err := Platforms(idx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ocispecs.Platform{amd64, arm64}, got); diff != "" {
		t.Errorf("Platforms (-want +got):\n%s", diff)
	}
	for i, p := range []ocispecs.Platform{amd64, arm64} {
		img, err := Image(idx, p)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := img.Digest(); d != digests[i] {
			t.Errorf("Image(%v) = %s, want %s", p, d, digests[i])
		}
	}
	if _, err := Image(idx, ocispecs.Platform{OS: "linux", Architecture: "s390x"}); err == nil {
		t.Error("Image found a linux/s390x image in an index without one")
	}
	if _, err := Image(idx, ocispecs.Platform{}); err == nil {
		t.Error("Image without a platform picked one of two images")
	}
}

// TestOpenImage: a tarball of a layout whose index holds one image and an
// attestation opens as that image.
func TestOpenImage(t *testing.T) {
	idx, digests := index(t, amd64)
	dir := t.TempDir()
	if _, err := layout.Write(dir, idx); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "image.oci.tar")
	tarDir(t, dir, tarball)
	img, err := OpenImage(tarball, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d != digests[0] {
		t.Errorf("OpenImage = %s, want %s", d, digests[0])
	}
	if _, err := OpenImage(filepath.Join(t.TempDir(), "none.tar"), t.TempDir()); err == nil {
		t.Error("OpenImage of a missing file succeeded")
	}
}
