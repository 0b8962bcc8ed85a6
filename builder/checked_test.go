package builder_test

import (
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPushIsTheImageChecked is the attack of a push that is not what was
// checked: with NoCache and a check, the outputs were a second build of
// their own, so a step that does not give the same bytes twice (here it
// writes the time) pushed an image nobody checked and moved the tag to
// it before the read-back failed. The tag must name the image checked, or
// not move at all.
func TestPushIsTheImageChecked(t *testing.T) {
	env := testenv.Get(t)
	base := llb.Image(env.Base.String(), llb.Platform(testenv.Platform))
	root := base.Run(llb.Args([]string{"/bin/sh", "-c", "date +%s%N > /build-time"}),
		llb.WithCustomName("write the time")).Root()
	img := graph.Image{Platform: testenv.Platform, Root: root, Base: env.Base}
	name := env.Registry + "/imagebuild-test/checked:1"
	var checked v1.Hash
	res, err := builder.Build(context.Background(), env.Client, []graph.Image{img}, builder.Options{
		SourceDateEpoch: epoch(1700000000),
		NoCache:         true,
		Verify: func(ctx context.Context, p ocispecs.Platform, img v1.Image, sbom []byte) error {
			var err error
			checked, err = img.Digest()
			return err
		},
		Outputs: []output.Output{{Type: client.ExporterImage, Attrs: map[string]string{"name": name, "push": "true"}}},
	}, nil)
	r, perr := ref.Parse(name)
	if perr != nil {
		t.Fatal(perr)
	}
	desc, gerr := remote.Head(r)
	if err != nil {
		// A build that fails must not have moved the tag.
		if gerr == nil {
			t.Fatalf("the build failed (%v), and %s was pushed all the same: it names %s, and the image checked was %s", err, name, desc.Digest, checked)
		}
		t.Fatalf("build: %v", err)
	}
	if gerr != nil {
		t.Fatalf("read %s: %v", name, gerr)
	}
	if desc.Digest != checked {
		t.Errorf("%s names %s, not %s, the image checked", name, desc.Digest, checked)
	}
	if got := res.Manifests[builder.PlatformID(testenv.Platform)].String(); got != checked.String() {
		t.Errorf("the result names %s, want the image checked, %s", got, checked)
	}
}
