package oci_test

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/oci"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestOpenRemote: an index in a registry is read as it is; a lone image is
// wrapped in an index of that one image, which Image gives whatever
// platform is asked.
func TestOpenRemote(t *testing.T) {
	ctx := context.Background()
	repo := testenv.MemoryRepository(t)
	idx, err := random.Index(128, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(repo.Tag("index"), idx); err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag("image"), img); err != nil {
		t.Fatal(err)
	}

	got, err := oci.OpenRemote(ctx, repo.Tag("index"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if d, err := got.Digest(); err != nil || d != want {
		t.Errorf("OpenRemote(index) = %v (%v), want the index %s", d, err, want)
	}

	got, err = oci.OpenRemote(ctx, repo.Tag("image"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := got.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ = img.Digest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != want || im.Manifests[0].Platform != nil {
		t.Fatalf("OpenRemote(image) lists %+v, want the one image %s, with no platform", im.Manifests, want)
	}
	for _, p := range []ocispecs.Platform{{}, {OS: "linux", Architecture: "arm64"}} {
		one, err := oci.Image(got, p)
		if err != nil {
			t.Fatalf("Image(%v): %v", p, err)
		}
		if d, _ := one.Digest(); d != want {
			t.Errorf("Image(%v) = %s, want %s", p, d, want)
		}
	}

	if _, err := oci.OpenRemote(ctx, repo.Tag("missing")); err == nil {
		t.Errorf("OpenRemote of a missing tag: no error")
	}
}
