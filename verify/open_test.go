package verify

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/imagebuild/imagebuild/oci"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestImagesNoImage: a layout whose index lists no image, or only an
// attestation, is an error naming it, not zero images that all pass.
func TestImagesNoImage(t *testing.T) {
	att, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	onlyAttestation := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Annotations: map[string]string{oci.AttestationAnnotation: "attestation-manifest"},
	}})
	tests := []struct {
		name string
		idx  v1.ImageIndex
	}{
		{"empty index", empty.Index},
		{"only an attestation", onlyAttestation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "layout")
			if _, err := layout.Write(dir, tt.idx); err != nil {
				t.Fatal(err)
			}
			for _, p := range []ocispecs.Platform{{}, {OS: "linux", Architecture: "amd64"}} {
				imgs, err := Images(context.Background(), dir, p, t.TempDir())
				if err == nil {
					t.Fatalf("Images(%v) = %d images, no error", p, len(imgs))
				}
				if !strings.Contains(err.Error(), "lists no image") || !strings.Contains(err.Error(), dir) {
					t.Errorf("Images(%v) error %q: want it to name %s and say it lists no image", p, err, dir)
				}
			}
		})
	}
}
