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

// MetadataReports is the metadata file's key for the images' reports (a
// graph.Report each), by platform ID and the report's name.
const MetadataReports = "imagebuild.reports"

// Metadata is a build's metadata file, as buildctl's --metadata-file
// writes it: the exporters' response resp (values that are base64-encoded
// JSON written as that JSON), under [MetadataManifests] each platform's
// image manifest digest, by platform ID, and under [MetadataReports] the
// images' reports (JSON written as that JSON).
func Metadata(resp map[string]string, manifests map[string]digest.Digest, reports map[string]map[string][]byte) ([]byte, error) {
	out := map[string]any{}
	if len(manifests) > 0 {
		out[MetadataManifests] = manifests
	}
	if len(reports) > 0 {
		byPlatform := map[string]map[string]any{}
		for p, rs := range reports {
			byPlatform[p] = map[string]any{}
			for name, dt := range rs {
				var raw json.RawMessage
				if json.Unmarshal(dt, &raw) == nil {
					byPlatform[p][name] = raw
				} else {
					byPlatform[p][name] = string(dt)
				}
			}
		}
		out[MetadataReports] = byPlatform
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
