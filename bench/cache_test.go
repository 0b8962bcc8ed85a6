package bench

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/ref"
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
	env := benchEnv(b)
	b.Run("small", func(b *testing.B) {
		dir := testenv.ExampleContext(b, "# offline\n")
		benchCacheImport(b, env, env.Base, dir)
	})
	b.Run("large", func(b *testing.B) {
		big := make([]byte, 100<<20)
		rand.Read(big)
		bigName, bigWheel := testenv.Wheel(b, "imagebuild-bigdep", "1.0", map[string][]byte{"imagebuild_bigdep/data.bin": big, "imagebuild_bigdep/__init__.py": nil})
		pipconf := filepath.Join(b.TempDir(), "pip.conf")
		if err := os.WriteFile(pipconf, testenv.SeverityIndex(b, false, map[string][]byte{bigName: bigWheel}), 0o600); err != nil {
			b.Fatal(err)
		}
		dir := testenv.ExampleContext(b, "incident-severity==1.0\nimagebuild-bigdep==1.0\n")
		benchCacheImport(b, env, env.CompilerBase(b), dir, "--secret", "id=pipconf,src="+pipconf)
	})
}

// benchCacheImport builds dir through the CLI with flags, as a user runs it.
func benchCacheImport(b *testing.B, env *testenv.Env, base ref.Pin, dir string, flags ...string) {
	ref := env.Registry + "/imagebuild-bench/cache:" + b.Name()[strings.LastIndex(b.Name(), "/")+1:]
	dest := filepath.Join(b.TempDir(), "image.tar")
	solve := func(cache ...string) {
		buildWith(b, env, base, dir, dest, append(cache, flags...)...)
	}
	env.Prune(b)
	solve("--cache-to", "type=registry,ref="+ref)
	size := cacheSize(b, ref)
	b.Logf("registry cache %s: %d bytes", ref, size)

	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			env.Prune(b)
			b.StartTimer()
			solve()
		}
	})
	b.Run("imported", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			env.Prune(b)
			b.StartTimer()
			solve("--cache-from", "type=registry,ref="+ref)
		}
		b.ReportMetric(float64(size), "cache-bytes")
	})
	b.Run("warm", func(b *testing.B) {
		solve()
		for b.Loop() {
			solve()
		}
	})
}

// cacheSize is the bytes of the blobs a registry cache lists: its layers
// and its cache config, in an image manifest (image-manifest=true, BuildKit's
// default) or an index.
func cacheSize(b *testing.B, cacheRef string) int64 {
	b.Helper()
	r, err := ref.Parse(cacheRef)
	if err != nil {
		b.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		b.Fatalf("read cache %s: %v", cacheRef, err)
	}
	var m struct {
		ocispecs.Manifest
		Manifests []ocispecs.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		b.Fatalf("cache %s: %v", cacheRef, err)
	}
	n := m.Config.Size
	for _, d := range append(m.Layers, m.Manifests...) {
		n += d.Size
	}
	if n == 0 {
		b.Fatalf("cache %s lists no blobs: %s", cacheRef, desc.Manifest)
	}
	return n
}
