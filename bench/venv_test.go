package bench

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/oci"
)

// BenchmarkVenvGraph measures what the venv as a graph is for, against
// ADR-003's Dockerfile (docs/adr-003.md) through BuildKit's frontend, on the same daemon and
// base (the Debian test base with a C compiler), both tools through their
// command lines:
//
//   - fresh-req-edit: a CI runner's build after a one-line requirements
//     edit: a build of asyncpg (compiled from its upstream sdist) exports a
//     registry cache (mode=max), the daemon's whole cache is pruned, and the
//     build with hiredis added imports it; the second build is timed
//     (fresh-req-edit-locked: the same with each line pinned with its hash);
//   - bump-bytes: the bytes a push uploads after a one-package bump beside
//     a 100 MB dependency that did not change: the layers, config and
//     manifest of the second image its first lacks;
//   - layout-noop: a rebuild with nothing changed into an OCI layout
//     (tar=false) that the same build wrote, with a small venv and with
//     the 100 MB dependency;
//   - sbom: what --sbom adds to a no-op rebuild whose venv holds the 100 MB
//     dependency and 2,000 small files.
//
// Run with
//
//	go test ./bench -run '^$' -bench VenvGraph -benchtime 1x -timeout 60m -v
func BenchmarkVenvGraph(b *testing.B) {
	env := benchEnv(b)
	cmds := newCommands(b, env)
	realconf := filepath.Join(b.TempDir(), "real.conf")
	if err := os.WriteFile(realconf, testenv.RealIndex(b), 0o600); err != nil {
		b.Fatal(err)
	}
	big := make([]byte, 100<<20)
	rand.Read(big)
	wheels := map[string][]byte{}
	many := map[string][]byte{}
	for i := range 2000 {
		many[fmt.Sprintf("imagebuild_manyfiles/m%04d.py", i)] = fmt.Appendf(nil, "VALUE = %d\n", i)
	}
	n, dt := testenv.Wheel(b, "imagebuild-manyfiles", "1.0", many)
	wheels[n] = dt
	for _, w := range []struct{ name, version, body string }{
		{"imagebuild-bigdep", "1.0", ""}, {"imagebuild-probe", "1.0", "VALUE = 1\n"}, {"imagebuild-probe", "1.1", "VALUE = 2\n"},
	} {
		files := map[string][]byte{strings.ReplaceAll(w.name, "-", "_") + "/__init__.py": []byte(w.body)}
		if w.name == "imagebuild-bigdep" {
			files["imagebuild_bigdep/data.bin"] = big
		}
		n, dt := testenv.Wheel(b, w.name, w.version, files)
		wheels[n] = dt
	}
	wheelconf := filepath.Join(b.TempDir(), "wheels.conf")
	if err := os.WriteFile(wheelconf, testenv.SeverityIndex(b, false, wheels), 0o600); err != nil {
		b.Fatal(err)
	}
	// run runs one tool's build of dir with pipconf, out the output flags
	// of the tool, and returns how long it took.
	run := func(b *testing.B, tool, dir, pipconf string, out ...string) time.Duration {
		args := cmds.line(tool, dir, pipconf, out...)
		d, log := tool2(tool, args).run(b, dir, "")
		if logs := os.Getenv("BENCH_LOGS"); logs != "" {
			os.WriteFile(filepath.Join(logs, strings.ReplaceAll(b.Name(), "/", "-")+"-"+tool+".log"), log, 0o644)
		}
		return d
	}
	tools := []string{"imagebuild", "dockerfile"}

	for _, sc := range []struct{ name, requirements, added string }{
		{"fresh-req-edit", "asyncpg==0.30.0\n", "hiredis==2.3.2\n"},
		{"fresh-req-edit-locked", locked(b, "asyncpg-0.30.0.tar.gz"), locked(b, "hiredis-2.3.2.tar.gz")},
	} {
		b.Run(sc.name, func(b *testing.B) {
			times := map[string]time.Duration{}
			for b.Loop() {
				for _, tool := range tools {
					cache := fmt.Sprintf("%s/imagebuild-bench/venv-cache:%s-%d", env.Registry, tool, time.Now().UnixNano())
					dir := testenv.ExampleContext(b, sc.requirements)
					dest := filepath.Join(b.TempDir(), "image.tar")
					export := []string{"--cache-to", "type=registry,ref=" + cache + ",mode=max"}
					imp := []string{"--cache-from", "type=registry,ref=" + cache}
					if tool == "dockerfile" {
						export = []string{"--export-cache", "type=registry,ref=" + cache + ",mode=max"}
						imp = []string{"--import-cache", "type=registry,ref=" + cache}
					}
					env.Prune(b)
					run(b, tool, dir, realconf, append([]string{"--output", "type=oci,dest=" + dest}, export...)...)
					env.Prune(b)
					appendTo(b, filepath.Join(dir, "requirements.txt"), sc.added)
					times[tool] = run(b, tool, dir, realconf, append([]string{"--output", "type=oci,dest=" + dest}, imp...)...)
				}
			}
			r := times["imagebuild"].Seconds() / times["dockerfile"].Seconds()
			b.Logf("%s: requirements edit on a fresh daemon importing a registry cache: imagebuild %.2fs, dockerfile %.2fs, %.2fx", sc.name, times["imagebuild"].Seconds(), times["dockerfile"].Seconds(), r)
			b.ReportMetric(r, "ratio")
		})
	}

	b.Run("bump-bytes", func(b *testing.B) {
		uploaded := map[string]int64{}
		for b.Loop() {
			for _, tool := range tools {
				ref := fmt.Sprintf("%s/imagebuild-bench/bump-%s:%d", env.Registry, tool, time.Now().UnixNano())
				push := []string{"-t", ref, "--push"}
				if tool == "dockerfile" {
					push = []string{"--output", "type=image,name=" + ref + ",push=true,oci-mediatypes=true"}
				}
				dir := testenv.ExampleContext(b, "imagebuild-bigdep==1.0\nimagebuild-probe==1.0\n")
				run(b, tool, dir, wheelconf, push...)
				before := blobSizes(b, ref)
				if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("imagebuild-bigdep==1.0\nimagebuild-probe==1.1\n"), 0o644); err != nil {
					b.Fatal(err)
				}
				run(b, tool, dir, wheelconf, push...)
				var n int64
				for d, size := range blobSizes(b, ref) {
					if _, ok := before[d]; !ok {
						n += size
					}
				}
				uploaded[tool] = n
			}
		}
		r := float64(uploaded["imagebuild"]) / float64(uploaded["dockerfile"])
		b.Logf("bytes a push uploads after a one-package bump beside a 100 MB dependency: imagebuild %d, dockerfile %d, %.3fx", uploaded["imagebuild"], uploaded["dockerfile"], r)
		b.ReportMetric(r, "ratio")
	})

	b.Run("layout-noop", func(b *testing.B) {
		times := map[string]time.Duration{}
		for b.Loop() {
			for _, sc := range []struct{ name, requirements string }{
				{"small", "imagebuild-probe==1.0\n"},
				{"large", "imagebuild-bigdep==1.0\nimagebuild-probe==1.0\n"},
			} {
				dir := testenv.ExampleContext(b, sc.requirements)
				layoutDir := filepath.Join(b.TempDir(), "layout")
				out := []string{"--output", "type=oci,tar=false,dest=" + layoutDir}
				run(b, "imagebuild", dir, wheelconf, out...)
				times[sc.name] = run(b, "imagebuild", dir, wheelconf, out...)
				// The no-op wrote the whole layout again.
				idx, err := oci.OpenLayout(layoutDir)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := oci.Image(idx, testenv.Platform); err != nil {
					b.Fatalf("the layout after the no-op: %v", err)
				}
			}
		}
		b.Logf("layout no-op: small venv %.2fs, with the 100 MB dependency %.2fs (difference %.2fs)", times["small"].Seconds(), times["large"].Seconds(), (times["large"] - times["small"]).Seconds())
		b.ReportMetric((times["large"] - times["small"]).Seconds(), "large-minus-small-s")
	})

	b.Run("sbom", func(b *testing.B) {
		// What --sbom costs a build: a no-op rebuild with and without it,
		// the venv holding the 100 MB dependency and a distribution of
		// 2,000 small files, each of which the SBOM hashes.
		times := map[string]time.Duration{}
		for b.Loop() {
			dir := testenv.ExampleContext(b, "imagebuild-bigdep==1.0\nimagebuild-manyfiles==1.0\n")
			dest := filepath.Join(b.TempDir(), "image.tar")
			out := []string{"--output", "type=oci,dest=" + dest}
			run(b, "imagebuild", dir, wheelconf, out...)
			for _, sc := range []struct {
				name  string
				flags []string
			}{{"without", nil}, {"with", []string{"--sbom"}}} {
				times[sc.name] = run(b, "imagebuild", dir, wheelconf, append(out, sc.flags...)...)
			}
		}
		b.Logf("no-op rebuild with a 100 MB file and 2,000 small ones in the venv: without --sbom %.2fs, with %.2fs (the SBOM: %.2fs)", times["without"].Seconds(), times["with"].Seconds(), (times["with"] - times["without"]).Seconds())
		b.ReportMetric((times["with"] - times["without"]).Seconds(), "sbom-s")
	})
}

// tool2 is a tool whose command line is args.
func tool2(name string, args []string) tool {
	return tool{name: name, build: func(string, string) []string { return args }}
}

// blobSizes returns the sizes of the blobs of the image at ref in its
// registry (its layers, config and manifest), by digest.
func blobSizes(b *testing.B, ref string) map[string]int64 {
	img := testenv.RegistryImage(b, ref)
	out := map[string]int64{}
	m, err := img.Manifest()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		b.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		b.Fatal(err)
	}
	out[d.String()] = int64(len(raw))
	out[m.Config.Digest.String()] = m.Config.Size
	for _, l := range m.Layers {
		out[l.Digest.String()] = l.Size
	}
	return out
}
