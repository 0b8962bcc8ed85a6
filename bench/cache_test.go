package bench

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkCacheImport is a CI runner's first build: a daemon with an empty
// cache (the whole cache pruned) building the example service with the
// registry cache (mode=max) an earlier build exported, against the same cold
// build without it and a warm no-op. It reports the bytes the cache holds.
// alpine is the python-alpine example (no requirements: PyPI is out of reach
// here); slim is python-slim compiling the example's C extension, with gcc and
// python3-dev installed from Debian's mirror.
func BenchmarkCacheImport(b *testing.B) {
	env := testenv.Get(b)
	b.Run("alpine", func(b *testing.B) {
		dir := testenv.ExampleContext(b, "# offline\n")
		benchCacheImport(b, env, dir, recipes.PythonAlpine{}, nil)
	})
	b.Run("slim", func(b *testing.B) {
		dir := testenv.ExampleContext(b, "incident-severity==1.0\n")
		pipconf := testenv.SeverityIndex(b, false)
		r := recipes.PythonSlim{Python: recipes.Python{Packages: []string{"gcc", "libc6-dev", "python3-dev"}}}
		benchCacheImport(b, env, dir, r, []session.Attachable{secretsprovider.FromMap(map[string][]byte{recipes.PipConfSecret: pipconf})})
	})
}

func benchCacheImport(b *testing.B, env *testenv.Env, dir string, r recipes.Recipe, attach []session.Attachable) {
	bctx, err := builder.LoadContext(dir)
	if err != nil {
		b.Fatal(err)
	}
	img, err := r.Image(recipes.Inputs{Platform: testenv.Platform, Base: env.Base, Context: bctx})
	if err != nil {
		b.Fatal(err)
	}
	ref := env.Registry + "/imagebuild-bench/cache-" + r.Name() + ":main"
	cache := []client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{"ref": ref}}}
	dest := filepath.Join(b.TempDir(), "image.tar")
	solve := func(imports, exports []client.CacheOptionsEntry) {
		_, err := builder.Solve(context.Background(), env.Client, img, builder.SolveOpt{
			ContextDir:   dir,
			Outputs:      []builder.Output{{Type: client.ExporterOCI, Dest: dest}},
			Session:      attach,
			CacheImports: imports,
			CacheExports: exports,
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
	}
	env.Prune(b)
	solve(nil, cache)
	size := cacheSize(b, ref)
	b.Logf("registry cache %s: %d bytes", ref, size)

	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			env.Prune(b)
			b.StartTimer()
			solve(nil, nil)
		}
	})
	b.Run("imported", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			env.Prune(b)
			b.StartTimer()
			solve(cache, nil)
		}
		b.ReportMetric(float64(size), "cache-bytes")
	})
	b.Run("warm", func(b *testing.B) {
		solve(nil, nil)
		for b.Loop() {
			solve(nil, nil)
		}
	})
}

// cacheSize is the bytes of the blobs a registry cache's index lists
// (its layers and its cache config).
func cacheSize(b *testing.B, ref string) int64 {
	b.Helper()
	r, err := builder.ParseReference(ref)
	if err != nil {
		b.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		b.Fatalf("read cache %s: %v", ref, err)
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(desc.Manifest, &idx); err != nil {
		b.Fatalf("cache %s: %v", ref, err)
	}
	var n int64
	for _, m := range idx.Manifests {
		n += m.Size
	}
	return n
}
