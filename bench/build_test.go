package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func build(b *testing.B, env *testenv.Env, dir, dest string) {
	b.Helper()
	bctx, err := builder.LoadContext(dir)
	if err != nil {
		b.Fatal(err)
	}
	img, err := recipes.PythonAlpine{}.Image(recipes.Inputs{Platform: testenv.Platform, Base: env.Base, Context: bctx})
	if err != nil {
		b.Fatal(err)
	}
	_, err = builder.Solve(context.Background(), env.Client, img, builder.SolveOpt{
		ContextDir: dir,
		Outputs:    []builder.Output{{Type: client.ExporterOCI, Dest: dest}},
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkBuild(b *testing.B) {
	env := testenv.Get(b)
	// PyPI cannot be reached here: the example's code with no requirements.
	dir := testenv.ExampleContext(b, "# offline\n")
	dest := filepath.Join(b.TempDir(), "image.tar")
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			env.Prune(b)
			b.StartTimer()
			build(b, env, dir, dest)
		}
	})
	b.Run("warm", func(b *testing.B) {
		build(b, env, dir, dest)
		for b.Loop() {
			build(b, env, dir, dest)
		}
	})
	var total int64
	for i, size := range testenv.LayerSizes(b, testenv.OCIImage(b, dest)) {
		total += size
		b.Logf("layer %d: %d bytes compressed", i, size)
	}
	b.Logf("image: %d bytes compressed", total)
}
