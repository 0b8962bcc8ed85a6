package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func exampleContext(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	src := filepath.Join("..", "examples", "incident-tracker")
	for _, f := range []string{"app/__init__.py", "app/__main__.py", ".dockerignore"} {
		dt, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), dt, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// PyPI cannot be reached here: the example's code with no requirements.
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("# offline\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

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

func prune(b *testing.B, c *client.Client) {
	b.Helper()
	ch := make(chan client.UsageInfo)
	go func() {
		for range ch {
		}
	}()
	if err := c.Prune(context.Background(), ch, client.PruneAll); err != nil {
		b.Fatal(err)
	}
	close(ch)
}

func BenchmarkBuild(b *testing.B) {
	env := testenv.Get(b)
	dir := exampleContext(b)
	dest := filepath.Join(b.TempDir(), "image.tar")
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			prune(b, env.Client)
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
	img := testenv.OCIImage(b, dest)
	layers, err := img.Layers()
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for i, l := range layers {
		size, err := l.Size()
		if err != nil {
			b.Fatal(err)
		}
		total += size
		b.Logf("layer %d: %d bytes compressed", i, size)
	}
	b.Logf("image: %d layers, %d bytes compressed", len(layers), total)
}
