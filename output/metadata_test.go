package output

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	digest "github.com/opencontainers/go-digest"
)

// TestMetadata: the metadata file holds the exporters' response as
// buildctl writes it, base64-encoded JSON as that JSON, and the platforms'
// manifests and reports under their keys.
func TestMetadata(t *testing.T) {
	d := digest.FromString("image")
	dt, err := Metadata(map[string]string{
		"containerimage.digest":     d.String(),
		"containerimage.descriptor": base64.StdEncoding.EncodeToString([]byte(`{"size":3}`)),
	}, map[string]digest.Digest{"linux/amd64": d}, map[string]map[string][]byte{"linux/amd64": {"hiredis 2.3.2": []byte(`{"compiled":true}`), "odd": []byte("not json")}})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(dt, &got); err != nil {
		t.Fatalf("%s: %v", dt, err)
	}
	want := map[string]any{
		"containerimage.digest":     d.String(),
		"containerimage.descriptor": map[string]any{"size": float64(3)},
		MetadataManifests:           map[string]any{"linux/amd64": d.String()},
		MetadataReports:             map[string]any{"linux/amd64": map[string]any{"hiredis 2.3.2": map[string]any{"compiled": true}, "odd": "not json"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}
