package output

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/imagebuild/imagebuild/oci"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestManifests: an index's platform manifests as Manifests reads them,
// attestations left out.
func TestManifests(t *testing.T) {
	arm64 := ocispecs.Platform{OS: "linux", Architecture: "arm64"}
	var adds []mutate.IndexAddendum
	var want []digest.Digest
	for _, p := range []ocispecs.Platform{amd64, arm64} {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, digest.Digest(d.String()))
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture}}})
	}
	att, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{oci.AttestationAnnotation: "attestation-manifest"},
	}})
	idx := mutate.AppendManifests(empty.Index, adds...)
	manifests, err := Manifests(idx, map[string]ocispecs.Platform{"linux/amd64": amd64, "linux/arm64": arm64})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]digest.Digest{"linux/amd64": want[0], "linux/arm64": want[1]}, manifests); diff != "" {
		t.Errorf("Manifests (-want +got):\n%s", diff)
	}
	if _, err := Manifests(idx, map[string]ocispecs.Platform{"linux/s390x": {OS: "linux", Architecture: "s390x"}}); err == nil {
		t.Errorf("Manifests found a linux/s390x image in an index without one")
	}
}
