package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strings"
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
// build without it and a warm no-op. It logs the bytes the cache holds.
// small is the example's code with no requirements (PyPI is out of reach
// here); large builds on the test base with a C compiler and installs, from a
// private index on loopback, incident-severity (a C extension pip compiles
// from its sdist) and a 100 MB wheel. Run with
//
//	go test ./bench -run '^$' -bench CacheImport -benchtime 2x -v
func BenchmarkCacheImport(b *testing.B) {
	env := testenv.Get(b)
	b.Run("small", func(b *testing.B) {
		dir := testenv.ExampleContext(b, "# offline\n")
		benchCacheImport(b, env, env.Base, dir, nil)
	})
	b.Run("large", func(b *testing.B) {
		big := make([]byte, 100<<20)
		rand.Read(big)
		bigName, bigWheel := testenv.Wheel(b, "imagebuild-bigdep", "1.0", map[string][]byte{"imagebuild_bigdep/data.bin": big, "imagebuild_bigdep/__init__.py": nil})
		pipconf := testenv.SeverityIndex(b, false, map[string][]byte{bigName: bigWheel})
		dir := testenv.ExampleContext(b, "incident-severity==1.0\nimagebuild-bigdep==1.0\n")
		benchCacheImport(b, env, env.CompilerBase(b), dir, []session.Attachable{secretsprovider.FromMap(map[string][]byte{recipes.PipConfSecret: pipconf})})
	})
}

func benchCacheImport(b *testing.B, env *testenv.Env, base builder.Pin, dir string, attach []session.Attachable) {
	bctx, err := builder.LoadContext(dir)
	if err != nil {
		b.Fatal(err)
	}
	img, err := recipes.PythonAlpine{}.Image(recipes.Inputs{Platform: testenv.Platform, Base: base, Context: bctx})
	if err != nil {
		b.Fatal(err)
	}
	ref := env.Registry + "/imagebuild-bench/cache:" + b.Name()[strings.LastIndex(b.Name(), "/")+1:]
	cache := []client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{"ref": ref}}}
	dest := filepath.Join(b.TempDir(), "image.tar")
	solve := func(imports, exports []client.CacheOptionsEntry) {
		_, err := builder.Build(context.Background(), env.Client, []builder.Image{img}, builder.SolveOpt{
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

// cacheSize is the bytes of the blobs a registry cache lists: its layers
// and its cache config, in an image manifest (image-manifest=true, BuildKit's
// default) or an index.
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
	var m struct {
		ocispecs.Manifest
		Manifests []ocispecs.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		b.Fatalf("cache %s: %v", ref, err)
	}
	n := m.Config.Size
	for _, d := range append(m.Layers, m.Manifests...) {
		n += d.Size
	}
	if n == 0 {
		b.Fatalf("cache %s lists no blobs: %s", ref, desc.Manifest)
	}
	return n
}
