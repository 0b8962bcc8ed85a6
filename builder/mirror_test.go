package builder

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestMirrorsSourcePolicy(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	p, err := sourcePolicy(ref.Mirrors{"docker.io": "127.0.0.1:5000"}, []string{
		"docker.io/library/python:3.12-slim@" + d,
		"docker.io/library/python:3.12-slim@" + d, // twice: one rule
		"docker.io/library/debian:bookworm",       // no digest: not mirrored
		"ghcr.io/org/app:1@" + d,                  // no mirror for ghcr.io
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Rules {
		got = append(got, r.Selector.Identifier+" -> "+r.Updates.Identifier)
	}
	want := []string{"docker-image://docker.io/library/python:3.12-slim@" + d + " -> docker-image://127.0.0.1:5000/library/python:3.12-slim@" + d}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

// TestRefs: every image source of the graph and the base, normalized, once.
func TestRefs(t *testing.T) {
	hex1 := strings.Repeat("ab", 32)
	base := ref.Pin("docker.io/library/python:3.12-alpine@sha256:" + hex1)
	builderStage := llb.Image("python:3.12-alpine@sha256:" + hex1).Run(llb.Shlex("true")).Root()
	tool := llb.Image("ghcr.io/team/tool:1")
	root := llb.Image(base.String()).
		File(llb.Copy(builderStage, "/out", "/out")).
		File(llb.Copy(tool, "/bin/tool", "/bin/tool"))
	img := graph.Image{Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}, Root: root, Base: base}
	got, err := img.Refs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{base.String(), "ghcr.io/team/tool:1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Refs (-want +got):\n%s", diff)
	}
}
