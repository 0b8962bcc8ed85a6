package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
)

// BenchmarkRuntimeBaseBump measures a bump of the runtime base (the base
// patched for a CVE: the same base plus one layer) on a warm daemon, against
// a cold build on the daemon pruned (a daemon of its own), for the example app with asyncpg and hiredis compiled from
// their upstream sdists, each build pushed to the test registry through a
// proxy that records the uploads:
//
//   - imagebuild: `build python-alpine` cold on the pruned daemon, then
//     again with --runtime-base PATCHED;
//   - dockerfile: ADR-003's Dockerfile (testdata/Dockerfile, one BASE for
//     both stages) cold, then with BASE=PATCHED, which is the bump a
//     Dockerfile of one base can make;
//   - dockerfile-runtime-arg: the same Dockerfile with a runtime stage on a
//     base of its own (testdata/Dockerfile.runtime-base), built on the warm
//     daemon with RUNTIME_BASE=BASE, then with RUNTIME_BASE=PATCHED (before
//     the dockerfile bump, so that nothing of it is cached for it).
//
// It reports each bump's time, its ratio to its tool's cold build, and the
// blobs its push uploaded (and mounted from another repository of the
// registry, which sends no bytes) and the bytes it uploaded; each tool
// pushes through a proxy on a loopback address of its own, as to a
// registry of its own, so none mounts another's blobs. Run with
//
//	go test ./bench -run '^$' -bench RuntimeBaseBump -benchtime 1x -timeout 60m
func BenchmarkRuntimeBaseBump(b *testing.B) {
	// A daemon of the benchmark's own, whose cache it empties.
	shared := benchEnv(b)
	d := testenv.StartTLSDaemon(b)
	env := *shared
	env.Addr = "unix://" + d.Socket
	c, err := client.New(context.Background(), env.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	env.Client = c
	cmds := newCommands(b, &env)
	patched, _ := env.PatchedBase(b, cmds.base, "imagebuild-test/debian-gcc-patched:bookworm", "CVE-0000-0001 fixed")
	realconf := filepath.Join(b.TempDir(), "pip.conf")
	if err := os.WriteFile(realconf, testenv.RealIndex(b), 0o600); err != nil {
		b.Fatal(err)
	}
	// Each tool pushes through a proxy on an address of its own, so that
	// no push mounts a blob another tool pushed, nor the base's from the
	// registry's own address (see testenv.RecordUploads).
	recs := map[string]*testenv.UploadRecorder{}
	for i, tl := range []string{"imagebuild", "dockerfile", "dockerfile-runtime-arg"} {
		recs[tl] = testenv.RecordUploads(b, env.Registry, fmt.Sprintf("127.0.0.%d", i+2))
	}

	// A push's figures: how long the build took, what it uploaded and
	// mounted.
	type figures struct {
		d              time.Duration
		blobs, mounted int
		bytes          int64
	}
	results := map[string][]figures{}
	// run runs the build command line args of the tool tl, which pushes
	// what it builds, and records its figures as tl's build.
	run := func(tl, build string, args []string) {
		rec := recs[tl]
		rec.Reset()
		d, out := tool{name: tl, build: func(string, string) []string { return args }}.run(b, "", "")
		if logs := os.Getenv("BENCH_LOGS"); logs != "" {
			os.WriteFile(filepath.Join(logs, "runtime-base-"+tl+"-"+build+".log"), out, 0o644)
		}
		results[tl+"-"+build] = append(results[tl+"-"+build], figures{d: d, blobs: len(rec.Uploaded()), mounted: len(rec.Mounted()), bytes: rec.Bytes()})
	}
	round := 0
	for b.Loop() {
		round++
		dir := testenv.ExampleContext(b, "asyncpg==0.30.0\nhiredis==2.3.2\n")
		tag := func(tl, build string) string {
			return fmt.Sprintf("%s/imagebuild-bench/runtime-base-%s:%s-%d", recs[tl].Host, tl, build, round)
		}

		env.Prune(b)
		run("imagebuild", "cold", cmds.line("imagebuild", dir, realconf, "-t", tag("imagebuild", "cold"), "--push"))
		run("imagebuild", "bump", cmds.line("imagebuild", dir, realconf, "--runtime-base", patched.String(), "-t", tag("imagebuild", "bump"), "--push"))

		env.Prune(b)
		push := func(ref string) []string { return []string{"--output", "type=image,name=" + ref + ",push=true"} }
		run("dockerfile", "cold", cmds.line("dockerfile", dir, realconf, push(tag("dockerfile", "cold"))...))
		runtimeArg := func(build string, runtimeBase ref.Pin) []string {
			return append(cmds.line("dockerfile", dir, realconf, push(tag("dockerfile-runtime-arg", build))...),
				"--opt", "filename=Dockerfile.runtime-base", "--opt", "build-arg:RUNTIME_BASE="+runtimeBase.String())
		}
		run("dockerfile-runtime-arg", "warm", runtimeArg("warm", cmds.base))
		run("dockerfile-runtime-arg", "bump", runtimeArg("bump", patched))
		bump := cmds.line("dockerfile", dir, realconf, push(tag("dockerfile", "bump"))...)
		for i, a := range bump {
			if a == "build-arg:BASE="+cmds.base.String() {
				bump[i] = "build-arg:BASE=" + patched.String()
			}
		}
		run("dockerfile", "bump", bump)
	}

	med := func(name string) figures {
		var ds []time.Duration
		for _, f := range results[name] {
			ds = append(ds, f.d)
		}
		last := results[name][len(results[name])-1]
		return figures{d: median(ds), blobs: last.blobs, mounted: last.mounted, bytes: last.bytes}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-24s %10s %10s %10s %9s %8s %14s\n", "tool", "cold", "bump", "bump/cold", "uploaded", "mounted", "bytes pushed")
	for _, row := range []struct{ name, cold, bump string }{
		{"imagebuild", "imagebuild-cold", "imagebuild-bump"},
		{"dockerfile", "dockerfile-cold", "dockerfile-bump"},
		// Its cold build is the Dockerfile's, the same steps.
		{"dockerfile-runtime-arg", "dockerfile-cold", "dockerfile-runtime-arg-bump"},
	} {
		cold, bump := med(row.cold), med(row.bump)
		ratio := bump.d.Seconds() / cold.d.Seconds()
		fmt.Fprintf(&table, "%-24s %9.2fs %9.2fs %9.2fx %9d %8d %14d\n", row.name, cold.d.Seconds(), bump.d.Seconds(), ratio, bump.blobs, bump.mounted, bump.bytes)
		b.ReportMetric(bump.d.Seconds(), row.name+"-bump-s")
		b.ReportMetric(ratio, row.name+"-bump/cold")
		b.ReportMetric(float64(bump.blobs), row.name+"-blobs")
		b.ReportMetric(float64(bump.bytes), row.name+"-bytes")
	}
	ib, df := med("imagebuild-bump"), med("dockerfile-bump")
	b.ReportMetric(ib.d.Seconds()/df.d.Seconds(), "bump-ratio")
	b.Logf("runtime-base bump, median of %d rounds (blobs and bytes: the bump's push):\n%s", round, table.String())
}
