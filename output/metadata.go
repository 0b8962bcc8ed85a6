package output

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	digest "github.com/opencontainers/go-digest"
)

// MetadataManifests is the metadata file's key for each platform's image
// manifest digest, by platform ID.
const MetadataManifests = "imagebuild.manifests"

// Metadata is a build's metadata file, as buildctl's --metadata-file
// writes it: the exporters' response resp (values that are base64-encoded
// JSON written as that JSON), and under [MetadataManifests] each platform's
// image manifest digest, by platform ID.
func Metadata(resp map[string]string, manifests map[string]digest.Digest) ([]byte, error) {
	out := map[string]any{}
	if len(manifests) > 0 {
		out[MetadataManifests] = manifests
	}
	for k, v := range resp {
		if dt, err := base64.StdEncoding.DecodeString(v); err == nil {
			var raw json.RawMessage
			if json.Unmarshal(dt, &raw) == nil {
				out[k] = raw
				continue
			}
		}
		out[k] = v
	}
	dt, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return append(dt, '\n'), nil
}
