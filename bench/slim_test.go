package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
)

// BenchmarkSlimExample builds the example service with python-slim on the
// Debian test base, compiling its C extension (gcc and python3-dev from
// Debian's mirror in the builder), cold and warm, and logs the runtime
// image's and the builder stage's sizes.
func BenchmarkSlimExample(b *testing.B) {
	env := testenv.Get(b)
	dir := testenv.ExampleContext(b, "incident-severity==1.0\n")
	pipconf := testenv.SeverityIndex(b, false)
	bctx, err := builder.LoadContext(dir)
	if err != nil {
		b.Fatal(err)
	}
	r := recipes.PythonSlim{Packages: []string{"gcc", "libc6-dev", "python3-dev"}}
	in := recipes.Inputs{Platform: testenv.Platform, Base: recipes.Base{Pin: env.Base}, Context: bctx}
	img, err := r.Image(in)
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	// As `imagebuild build` does for a context outside git: the epoch 0.
	epoch := time.Unix(0, 0).UTC()
	solve := func(img builder.Image, dest string) {
		_, err := builder.Build(context.Background(), env.Client, []builder.Image{img}, builder.SolveOpt{
			SourceDateEpoch: &epoch,
			Outputs:         []builder.Output{{Type: client.ExporterOCI, Dest: dest}},
			Session:         []session.Attachable{secretsprovider.FromMap(map[string][]byte{recipes.PipConfSecret: pipconf})},
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
	}
	runtimeTar := filepath.Join(out, "runtime.tar")
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			env.Prune(b)
			b.StartTimer()
			solve(img, runtimeTar)
		}
	})
	b.Run("warm", func(b *testing.B) {
		solve(img, runtimeTar)
		for b.Loop() {
			solve(img, runtimeTar)
		}
	})
	builderTar := filepath.Join(out, "builder.tar")
	solve(builder.Image{Platform: testenv.Platform, Root: r.BuilderStage(in), Base: env.Base, Context: bctx}, builderTar)
	for _, x := range []struct{ name, path string }{{"runtime image", runtimeTar}, {"builder stage", builderTar}} {
		sizes := testenv.LayerSizes(b, testenv.OCIImage(b, x.path))
		var total int64
		for _, s := range sizes {
			total += s
		}
		b.Logf("%s: %d layers, %d bytes compressed", x.name, len(sizes), total)
	}
}
