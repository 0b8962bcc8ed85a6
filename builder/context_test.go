package builder

import (
	"errors"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBuildChecksContextFiles: a library caller gets the same check as the
// CLI, before the daemon is contacted (the client here is nil).
func TestBuildChecksContextFiles(t *testing.T) {
	pin := ref.Pin("docker.io/library/python:3.12-alpine@sha256:" + strings.Repeat("ab", 32))
	img := graph.Image{
		Platform:     ocispecs.Platform{OS: "linux", Architecture: "amd64"},
		Root:         llb.Image(pin.String()),
		Base:         pin,
		ContextFiles: []graph.ContextFile{{Path: "requirements.txt", NamedBy: "the test"}},
	}
	status := make(chan *client.SolveStatus)
	bctx, err := graph.LoadContext(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img.Context = bctx
	_, err = Build(t.Context(), nil, []graph.Image{img}, Options{}, status)
	var cfe *graph.ContextFileError
	if !errors.As(err, &cfe) || cfe.File.Path != "requirements.txt" {
		t.Fatalf("Build = %v, want a graph.ContextFileError for requirements.txt", err)
	}
	if _, open := <-status; open {
		t.Error("status channel left open")
	}
}
