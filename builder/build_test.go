package builder

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

const testPin = ref.Pin("registry.example/python:3.12@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d")

func testImage(p ocispecs.Platform) graph.Image {
	return graph.Image{Platform: p, Root: llb.Image(testPin.String()), Base: testPin}
}

// withBuilderBase is img with its builder stage on base.
func withBuilderBase(img graph.Image, base ref.Pin) graph.Image {
	img.BuilderBase = base
	return img
}

var (
	amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}
)

// TestBuildRefusesBeforeTheDaemon: what cannot be built is refused before
// a daemon is asked anything (none answers at the client's address).
func TestBuildRefusesBeforeTheDaemon(t *testing.T) {
	c, err := client.New(context.Background(), "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	docker := []output.Output{{Type: client.ExporterDocker, Dest: filepath.Join(t.TempDir(), "x.tar")}}
	tests := []struct {
		name    string
		imgs    []graph.Image
		outputs []output.Output
		want    error
	}{
		{"no image", nil, nil, ErrPlatform},
		{"windows", []graph.Image{testImage(ocispecs.Platform{OS: "windows", Architecture: "amd64"})}, nil, ErrPlatform},
		{"windows beside linux", []graph.Image{testImage(amd64), testImage(ocispecs.Platform{OS: "windows", Architecture: "amd64"})}, nil, ErrPlatform},
		{"platform twice", []graph.Image{testImage(arm64), testImage(ocispecs.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})}, nil, ErrPlatform},
		{"docker of two platforms", []graph.Image{testImage(amd64), testImage(arm64)}, docker, output.ErrInvalidOutput},
		{"builder base not pinned", []graph.Image{withBuilderBase(testImage(amd64), "registry.example/python:3.12")}, nil, ref.ErrInvalidPin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := make(chan *client.SolveStatus)
			go func() {
				for range status {
				}
			}()
			_, err := Build(context.Background(), c, tt.imgs, Options{Outputs: tt.outputs}, status)
			if !errors.Is(err, tt.want) {
				t.Errorf("Build: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPlatformID(t *testing.T) {
	tests := []struct {
		in   ocispecs.Platform
		want string
	}{
		{amd64, "linux/amd64"},
		{ocispecs.Platform{OS: "linux", Architecture: "aarch64"}, "linux/arm64"},
		{ocispecs.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "linux/arm/v7"},
	}
	for _, tt := range tests {
		if got := PlatformID(tt.in); got != tt.want {
			t.Errorf("PlatformID(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
