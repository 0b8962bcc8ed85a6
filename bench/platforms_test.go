package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkPlatforms builds the example's code for one platform (amd64)
// and for two (amd64, and arm64 under QEMU emulation) into one OCI
// tarball: cold (the daemon's whole cache pruned first) and no-op (nothing
// changed since the last build).
func BenchmarkPlatforms(b *testing.B) {
	env := testenv.Get(b)
	two := env.NeedArm64(b)
	dir := testenv.ExampleContext(b, "# offline\n")
	bctx, err := builder.LoadContext(dir)
	if err != nil {
		b.Fatal(err)
	}
	dest := filepath.Join(b.TempDir(), "image.tar")
	for _, tc := range []struct {
		name string
		ps   []ocispecs.Platform
	}{{"one", two[:1]}, {"two", two}} {
		var imgs []builder.Image
		for _, p := range tc.ps {
			img, err := recipes.PythonAlpine{}.Image(recipes.Inputs{Platform: p, Base: env.Base, Context: bctx})
			if err != nil {
				b.Fatal(err)
			}
			imgs = append(imgs, img)
		}
		build := func(b *testing.B) {
			_, err := builder.Build(context.Background(), env.Client, imgs, builder.SolveOpt{
				ContextDir: dir,
				Outputs:    []builder.Output{{Type: client.ExporterOCI, Dest: dest}},
			}, nil)
			if err != nil {
				b.Fatal(err)
			}
		}
		b.Run(tc.name+"/cold", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				env.Prune(b)
				b.StartTimer()
				build(b)
			}
		})
		b.Run(tc.name+"/noop", func(b *testing.B) {
			build(b)
			for b.Loop() {
				build(b)
			}
		})
	}
}
