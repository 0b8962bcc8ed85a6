package oci

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestStatementBounded: an attestation layer larger than MaxStatement, as
// a crafted image may attach, is refused rather than read into memory whole.
func TestStatementBounded(t *testing.T) {
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	big := static.NewLayer(make([]byte, MaxStatement+1), types.MediaType("application/vnd.in-toto+json"))
	att, err := mutate.Append(empty.Image, mutate.Addendum{Layer: big, Annotations: map[string]string{PredicateTypeAnnotation: PredicateSPDX}})
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Annotations: map[string]string{
			AttestationAnnotation: "attestation-manifest", ReferenceDigestAnnotation: d.String()}}})
	st, _, err := SBOM(idx, img)
	if err == nil || !strings.Contains(err.Error(), "more than 128 MiB") {
		t.Errorf("SBOM of a %d-byte statement = %v, %v; want it refused", MaxStatement+1, st, err)
	}
}
