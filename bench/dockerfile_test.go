package bench

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/ref"
)

// BenchmarkAgainstDockerfile builds the example app with `imagebuild build
// python-alpine` (the CLI, with its defaults, as a user runs it) and with
// ADR-003's Dockerfile (docs/adr-003.md; testdata/Dockerfile) through BuildKit's own
// Dockerfile frontend (`buildctl build --frontend dockerfile.v0`), on the
// same daemon and base, and reports each case's median time for both and
// their ratio (imagebuild / Dockerfile):
//
//   - cold: the daemon's whole cache pruned first;
//   - noop: the same build again;
//   - app-edit: after editing a file of the app;
//   - req-edit: after adding a package to requirements.txt, which already
//     holds a C extension pip builds from its sdist;
//   - bytes: the compressed bytes the image adds over the base.
//
// Each round runs every case for one tool, then for the other, the first
// tool alternating between rounds; each round's ratio is printed beside
// the medians, to show the spread. The base is the Debian test base with a
// C compiler; the requirements come from a private index on loopback. small
// has incident-severity alone (the probe wheel added); large adds a 100 MB
// wheel; real compiles asyncpg from its upstream sdist, then adds hiredis,
// compiled from its own; real-locked is real with each line pinned with
// its hash. Run with
//
//	go test ./bench -run '^$' -bench AgainstDockerfile -benchtime 3x -timeout 60m
func BenchmarkAgainstDockerfile(b *testing.B) {
	env := benchEnv(b)
	cmds := newCommands(b, env)
	big := make([]byte, 100<<20)
	rand.Read(big)
	bigName, bigWheel := testenv.Wheel(b, "imagebuild-bigdep", "1.0", map[string][]byte{"imagebuild_bigdep/data.bin": big, "imagebuild_bigdep/__init__.py": nil})
	probeName, probe := testenv.Wheel(b, "imagebuild-probe", "1.0", map[string][]byte{"imagebuild_probe/__init__.py": []byte("VALUE = 42\n")})
	pipconf := filepath.Join(b.TempDir(), "pip.conf")
	if err := os.WriteFile(pipconf, testenv.SeverityIndex(b, false, map[string][]byte{bigName: bigWheel, probeName: probe}), 0o600); err != nil {
		b.Fatal(err)
	}

	realconf := filepath.Join(b.TempDir(), "pip.conf")
	if err := os.WriteFile(realconf, testenv.RealIndex(b), 0o600); err != nil {
		b.Fatal(err)
	}
	tools := func(pipconf string) []tool {
		var out []tool
		for _, name := range []string{"imagebuild", "dockerfile"} {
			out = append(out, tool{name: name, build: func(dir, dest string) []string {
				return cmds.line(name, dir, pipconf, "--output", "type=oci,dest="+dest)
			}})
		}
		return out
	}
	baseLayers := len(testenv.LayerSizes(b, testenv.RegistryImage(b, cmds.base.String())))
	for _, sc := range []struct{ name, requirements, added, pipconf string }{
		{"small", "incident-severity==1.0\n", "imagebuild-probe==1.0\n", pipconf},
		{"large", "incident-severity==1.0\nimagebuild-bigdep==1.0\n", "imagebuild-probe==1.0\n", pipconf},
		// Upstream sdists: asyncpg compiled, then hiredis added.
		{"real", "asyncpg==0.30.0\n", "hiredis==2.3.2\n", realconf},
		// The same, locked with hashes as pip-compile --generate-hashes
		// writes them: no resolve step for imagebuild.
		{"real-locked", locked(b, "asyncpg-0.30.0.tar.gz"), locked(b, "hiredis-2.3.2.tar.gz"), realconf},
	} {
		tools := tools(sc.pipconf)
		b.Run(sc.name, func(b *testing.B) {
			times := map[string]map[string][]time.Duration{}
			bytesAdded := map[string]int64{}
			round := 0
			for b.Loop() {
				order := slices.Clone(tools)
				if round%2 == 1 {
					slices.Reverse(order)
				}
				round++
				for _, tl := range order {
					if times[tl.name] == nil {
						times[tl.name] = map[string][]time.Duration{}
					}
					dir := testenv.ExampleContext(b, sc.requirements)
					dest := filepath.Join(b.TempDir(), "image.tar")
					run := func(c string) {
						d, out := tl.run(b, dir, dest)
						times[tl.name][c] = append(times[tl.name][c], d)
						if logs := os.Getenv("BENCH_LOGS"); logs != "" {
							os.WriteFile(filepath.Join(logs, sc.name+"-"+tl.name+"-"+c+".log"), out, 0o644)
						}
					}
					env.Prune(b)
					run("cold")
					bytesAdded[tl.name] = added(b, dest, baseLayers)
					run("noop")
					appendTo(b, filepath.Join(dir, "app", "__main__.py"), fmt.Sprintf("# edit %d\n", round))
					run("app-edit")
					appendTo(b, filepath.Join(dir, "requirements.txt"), sc.added)
					run("req-edit")
				}
			}
			var table strings.Builder
			fmt.Fprintf(&table, "%-9s %12s %12s %7s  %s\n", "case", "imagebuild", "dockerfile", "ratio", "each round's ratio")
			for _, c := range []string{"cold", "noop", "app-edit", "req-edit"} {
				ib, df := median(times["imagebuild"][c]), median(times["dockerfile"][c])
				r := ib.Seconds() / df.Seconds()
				var rounds []string
				for i := range times["imagebuild"][c] {
					rounds = append(rounds, fmt.Sprintf("%.2f", times["imagebuild"][c][i].Seconds()/times["dockerfile"][c][i].Seconds()))
				}
				fmt.Fprintf(&table, "%-9s %11.2fs %11.2fs %6.2fx  %s\n", c, ib.Seconds(), df.Seconds(), r, strings.Join(rounds, " "))
				b.ReportMetric(ib.Seconds(), c+"-imagebuild-s")
				b.ReportMetric(r, c+"-ratio")
			}
			r := float64(bytesAdded["imagebuild"]) / float64(bytesAdded["dockerfile"])
			fmt.Fprintf(&table, "%-9s %12d %12d %6.2fx\n", "bytes", bytesAdded["imagebuild"], bytesAdded["dockerfile"], r)
			b.ReportMetric(r, "bytes-ratio")
			b.Logf("%s, median of %d rounds:\n%s", sc.name, round, table.String())
		})
	}
}

// locked is the requirement line, pinned with its hash, of the sdist file
// in the real sdists' folder.
func locked(b *testing.B, file string) string {
	dt, err := os.ReadFile(filepath.Join(testenv.RealSdistsDir(), file))
	if err != nil {
		b.Fatal(err)
	}
	name, version, _ := strings.Cut(strings.TrimSuffix(file, ".tar.gz"), "-")
	return fmt.Sprintf("%s==%s --hash=sha256:%x\n", name, version, sha256.Sum256(dt))
}

// commands makes the command lines of the two tools the benchmarks
// compare, on one daemon and base: imagebuild's command and buildctl with
// BuildKit's Dockerfile frontend and testdata/Dockerfile.
type commands struct {
	env                          *testenv.Env
	base                         ref.Pin
	cli, buildctl, dockerfileDir string
}

// newCommands builds both tools and the test base with a C compiler.
func newCommands(b *testing.B, env *testenv.Env) commands {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		b.Fatal(err)
	}
	return commands{env: env, base: env.CompilerBase(b), cli: testenv.BuildCLI(b), buildctl: testenv.Buildctl(b), dockerfileDir: dir}
}

// line is tool's command line that builds the context dir with the pip
// config pipconf as the pipconf secret, and flags (the outputs, caches).
func (c commands) line(tool, dir, pipconf string, flags ...string) []string {
	if tool == "imagebuild" {
		return append([]string{c.cli, "build", "python-alpine", "--addr", c.env.Addr, "--context", dir, "--base", c.base.String(),
			"--secret", "id=pipconf,src=" + pipconf, "--progress", "plain"}, flags...)
	}
	return append([]string{c.buildctl, "--addr", c.env.Addr, "build", "--frontend", "dockerfile.v0",
		"--local", "context=" + dir, "--local", "dockerfile=" + c.dockerfileDir, "--opt", "build-arg:BASE=" + c.base.String(),
		"--secret", "id=pipconf,src=" + pipconf, "--progress", "plain"}, flags...)
}

// tool is one way of building the app: build returns its command line.
type tool struct {
	name  string
	build func(dir, dest string) []string
}

// with is tl with flags added to its command line.
func (tl tool) with(flags ...string) tool {
	build := tl.build
	tl.build = func(dir, dest string) []string { return append(build(dir, dest), flags...) }
	return tl
}

// run builds the context dir into the OCI tarball dest and returns how
// long the command took, and what it printed.
func (tl tool) run(b *testing.B, dir, dest string) (time.Duration, []byte) {
	b.Helper()
	args := tl.build(dir, dest)
	var out bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s", tl.name, err, out.Bytes())
	}
	return d, out.Bytes()
}

// added is the compressed size of the layers of the image in the OCI
// tarball path above its base's baseLayers layers.
func added(b *testing.B, path string, baseLayers int) int64 {
	var n int64
	for _, s := range testenv.LayerSizes(b, testenv.OCIImage(b, path))[baseLayers:] {
		n += s
	}
	return n
}

func appendTo(b *testing.B, path, text string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
