package bench

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/internal/testenv"
)

// BenchmarkEditShape measures a requirements edit of the shape a service
// makes that BenchmarkAgainstDockerfile's does not: on a warm daemon that
// built asyncpg and hiredis (compiled from their upstream sdists), one
// requirement is added that is a pure wheel (imagebuild-edit-top) depending
// on a new sdist with a C extension (imagebuild-edit-ext), which depends on
// two wheels (imagebuild-edit-a, imagebuild-edit-b). It times the edit's
// build with `imagebuild build python-alpine` and with ADR-003's Dockerfile
// on the same daemon and base, from an unlocked file (names and versions)
// and from a locked one (every line with its hash, the new ones too),
// on the daemon that built the file before the edit (same) and on a fresh
// one, its cache pruned, importing the registry cache (mode=max) that
// build exported (fresh: a CI runner).
//
// Beside each time it reports the edit's floor, the time of the one step
// the edit cannot avoid (the new sdist's compile and install, read from
// imagebuild's plain progress), and where the rest goes: the resolve step,
// the new wheels' steps, and the export (the steps of imagebuild's
// progress by name, each as BuildKit timed it; steps run side by side on
// the daemon, so they add up to more than the whole). Run with
//
//	go test ./bench -run '^$' -bench EditShape -benchtime 3x -timeout 60m
func BenchmarkEditShape(b *testing.B) {
	env := benchEnv(b)
	cmds := newCommands(b, env)
	index := testenv.ServeRealIndex(b)
	newFiles := testenv.EditShape(b)
	for name, data := range newFiles {
		index.Add(name, data)
	}
	pipconf := filepath.Join(b.TempDir(), "pip.conf")
	if err := os.WriteFile(pipconf, index.PipConf(), 0o600); err != nil {
		b.Fatal(err)
	}
	var tools []tool
	for _, name := range []string{"imagebuild", "dockerfile"} {
		tools = append(tools, tool{name: name, build: func(dir, dest string) []string {
			return cmds.line(name, dir, pipconf, "--output", "type=oci,dest="+dest)
		}})
	}
	hashed := func(file string, data []byte) string {
		name, version := distOf(file)
		return fmt.Sprintf("%s==%s --hash=sha256:%x\n", name, version, sha256.Sum256(data))
	}
	var lockedAdded strings.Builder
	for _, f := range slices.Sorted(maps.Keys(newFiles)) {
		lockedAdded.WriteString(hashed(f, newFiles[f]))
	}
	for _, sc := range []struct{ name, requirements, added string }{
		{"unlocked", "asyncpg==0.30.0\nhiredis==2.3.2\n", "imagebuild-edit-top==1.0\n"},
		{"locked", locked(b, "asyncpg-0.30.0.tar.gz") + locked(b, "hiredis-2.3.2.tar.gz"), lockedAdded.String()},
	} {
		b.Run(sc.name, func(b *testing.B) {
			times := map[string][]time.Duration{}
			steps := map[string][]time.Duration{}
			round := 0
			for b.Loop() {
				order := slices.Clone(tools)
				if round%2 == 1 {
					slices.Reverse(order)
				}
				round++
				for _, tl := range order {
					cache := fmt.Sprintf("%s/imagebuild-bench/edit-cache:%s-%d", env.Registry, tl.name, time.Now().UnixNano())
					export := []string{"--cache-to", "type=registry,ref=" + cache + ",mode=max"}
					imp := []string{"--cache-from", "type=registry,ref=" + cache}
					if tl.name == "dockerfile" {
						export = []string{"--export-cache", "type=registry,ref=" + cache + ",mode=max"}
						imp = []string{"--import-cache", "type=registry,ref=" + cache}
					}
					dir := testenv.ExampleContext(b, sc.requirements)
					dest := filepath.Join(b.TempDir(), "image.tar")
					env.Prune(b)
					tl.with(export...).run(b, dir, dest)
					appendTo(b, filepath.Join(dir, "requirements.txt"), sc.added)
					d, out := tl.run(b, dir, dest)
					times[tl.name] = append(times[tl.name], d)
					if logs := os.Getenv("BENCH_LOGS"); logs != "" {
						os.WriteFile(filepath.Join(logs, "edit-"+sc.name+"-"+tl.name+".log"), out, 0o644)
					}
					if tl.name == "imagebuild" {
						for k, v := range editSteps(b, out) {
							steps[k] = append(steps[k], v)
						}
					}
					// A CI runner: a fresh daemon importing the registry
					// cache of the build before the edit.
					env.Prune(b)
					d, out = tl.with(imp...).run(b, dir, dest)
					times[tl.name+"-fresh"] = append(times[tl.name+"-fresh"], d)
					if logs := os.Getenv("BENCH_LOGS"); logs != "" {
						os.WriteFile(filepath.Join(logs, "edit-"+sc.name+"-"+tl.name+"-fresh.log"), out, 0o644)
					}
				}
			}
			ib, df := median(times["imagebuild"]), median(times["dockerfile"])
			ibf, dff := median(times["imagebuild-fresh"]), median(times["dockerfile-fresh"])
			floor := median(steps["floor"])
			var table strings.Builder
			fmt.Fprintf(&table, "%-22s %9s %9s\n", "", "same", "fresh")
			fmt.Fprintf(&table, "%-22s %8.2fs %8.2fs\n", "imagebuild", ib.Seconds(), ibf.Seconds())
			fmt.Fprintf(&table, "%-22s %8.2fs %8.2fs\n", "dockerfile", df.Seconds(), dff.Seconds())
			fmt.Fprintf(&table, "%-22s %8.2fx %8.2fx\n", "ratio", ib.Seconds()/df.Seconds(), ibf.Seconds()/dff.Seconds())
			b.ReportMetric(ibf.Seconds()/dff.Seconds(), "fresh-ratio")
			fmt.Fprintf(&table, "%-22s %9.2fs (%.2fx the Dockerfile's edit)\n", "floor (the new sdist)", floor.Seconds(), floor.Seconds()/df.Seconds())
			for _, k := range []string{"resolve", "new wheels", "export"} {
				fmt.Fprintf(&table, "%-22s %9.2fs\n", k, median(steps[k]).Seconds())
			}
			b.ReportMetric(ib.Seconds(), "imagebuild-s")
			b.ReportMetric(df.Seconds(), "dockerfile-s")
			b.ReportMetric(ib.Seconds()/df.Seconds(), "ratio")
			b.ReportMetric(floor.Seconds(), "floor-s")
			b.Logf("edit (%s), median of %d rounds:\n%s", sc.name, round, table.String())
		})
	}
}

// distOf is the name and version of a wheel's or sdist's file name.
func distOf(file string) (name, version string) {
	base := strings.TrimSuffix(strings.TrimSuffix(file, ".tar.gz"), ".whl")
	parts := strings.Split(base, "-")
	return strings.ReplaceAll(parts[0], "_", "-"), parts[1]
}

// plainStep is a line of BuildKit's plain progress that names a step
// ("#12 builder: pip ...") or ends one ("#12 DONE 9.8s").
var (
	plainStart = regexp.MustCompile(`^#(\d+) (\[[^\]]*\] )?([a-z].*)$`)
	plainDone  = regexp.MustCompile(`^#(\d+) DONE (\d+(\.\d+)?)s$`)
)

// editSteps reads the times of the edit's steps from imagebuild's plain
// progress out: floor, the new sdist's step; resolve, the resolve step;
// new wheels, the longest of the new wheels' steps; export, the export.
// A step the progress does not show fails the benchmark: its name changed.
func editSteps(b *testing.B, out []byte) map[string]time.Duration {
	names := map[string]string{}
	took := map[string]time.Duration{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := plainDone.FindStringSubmatch(line); m != nil {
			s, _ := strconv.ParseFloat(m[2], 64)
			if n, ok := names[m[1]]; ok {
				took[n] = max(took[n], time.Duration(s*float64(time.Second)))
			}
			continue
		}
		if m := plainStart.FindStringSubmatch(line); m != nil {
			if _, ok := names[m[1]]; !ok {
				names[m[1]] = m[3]
			}
		}
	}
	find := func(prefix string) time.Duration {
		var d time.Duration
		found := false
		for n, t := range took {
			if strings.HasPrefix(n, prefix) {
				d, found = max(d, t), true
			}
		}
		if !found {
			b.Fatalf("the progress shows no finished step named %q...; it shows %q", prefix, slices.Sorted(maps.Keys(took)))
		}
		return d
	}
	steps := map[string]time.Duration{
		"floor":      find("builder: pip wheel and install imagebuild-edit-ext"),
		"new wheels": max(find("builder: pip wheel and install imagebuild-edit-a 1.0"), find("builder: pip wheel and install imagebuild-edit-b 1.0"), find("builder: pip wheel and install imagebuild-edit-top 1.0")),
		"export":     find("exporting to oci image format"),
	}
	if _, ok := findOptional(took, "builder: pip resolve"); ok {
		steps["resolve"] = find("builder: pip resolve")
	}
	return steps
}

func findOptional(took map[string]time.Duration, prefix string) (time.Duration, bool) {
	for n, t := range took {
		if strings.HasPrefix(n, prefix) {
			return t, true
		}
	}
	return 0, false
}
