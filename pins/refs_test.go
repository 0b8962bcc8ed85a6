package pins

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestRefs: every image source of the graph and the base, normalized, once.
func TestRefs(t *testing.T) {
	base := builder.Pin("docker.io/library/python:3.12-alpine@sha256:" + hex1)
	builderStage := llb.Image("python:3.12-alpine@sha256:" + hex1).Run(llb.Shlex("true")).Root()
	tool := llb.Image("ghcr.io/team/tool:1")
	root := llb.Image(base.String()).
		File(llb.Copy(builderStage, "/out", "/out")).
		File(llb.Copy(tool, "/bin/tool", "/bin/tool"))
	img := builder.Image{Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}, Root: root, Base: base}
	got, err := Refs(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{base.String(), "ghcr.io/team/tool:1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Refs (-want +got):\n%s", diff)
	}
}
