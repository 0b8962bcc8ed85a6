package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/internal/testenv"
)

// BenchmarkCross measures an arm64 image built on this amd64 machine: a
// locked asyncpg + hiredis venv (each compiled from its upstream sdist,
// each line pinned with its hash), cold (the daemon's whole cache pruned
// before each build), with the python-slim recipe with gcc and Debian's
// Python headers (slim-compile, internal/testcmd) on the Debian test base:
//
//   - amd64: the platform alone, native;
//   - arm64-cross: arm64, the venv cross-compiled on amd64 (the default);
//   - arm64-emulated: arm64 with --emulate, every step under QEMU;
//   - two-platform: amd64 and arm64 in one build (cross);
//   - dockerfile-amd64, dockerfile-arm64: the same image from a Dockerfile
//     (testdata/Dockerfile.debian) through BuildKit's frontend, arm64 under
//     QEMU as buildx builds it on an amd64 runner.
//
// It reports each time and arm64's against amd64's. Run with
//
//	go test ./bench -run '^$' -bench Cross -benchtime 1x -timeout 90m
func BenchmarkCross(b *testing.B) {
	env := benchEnv(b)
	env.NeedArm64(b)
	cmds := newCommands(b, env)
	pipconf := filepath.Join(b.TempDir(), "pip.conf")
	if err := os.WriteFile(pipconf, testenv.RealIndex(b), 0o600); err != nil {
		b.Fatal(err)
	}
	dir := testenv.ExampleContext(b, locked(b, "asyncpg-0.30.0.tar.gz")+locked(b, "hiredis-2.3.2.tar.gz"))
	cli := testenv.BuildCommand(b, testenv.TestCommand)
	imagebuild := func(flags ...string) tool {
		return tool{name: "imagebuild", build: func(dir, dest string) []string {
			return append([]string{cli, "build", "slim-compile", "--addr", env.Addr, "--context", dir, "--base", env.Base.String(),
				"--secret", "id=pipconf,src=" + pipconf, "--progress", "plain", "--output", "type=oci,dest=" + dest}, flags...)
		}}
	}
	dockerfile := func(platform string) tool {
		return tool{name: "dockerfile", build: func(dir, dest string) []string {
			return []string{cmds.buildctl, "--addr", env.Addr, "build", "--frontend", "dockerfile.v0",
				"--local", "context=" + dir, "--local", "dockerfile=" + cmds.dockerfileDir, "--opt", "filename=Dockerfile.debian",
				"--opt", "build-arg:BASE=" + env.Base.String(), "--opt", "platform=" + platform,
				"--secret", "id=pipconf,src=" + pipconf, "--progress", "plain", "--output", "type=oci,dest=" + dest}
		}}
	}
	cases := []struct {
		name string
		tool tool
	}{
		{"amd64", imagebuild("--platform", "linux/amd64")},
		{"arm64-cross", imagebuild("--platform", "linux/arm64")},
		{"arm64-emulated", imagebuild("--platform", "linux/arm64", "--emulate")},
		{"two-platform", imagebuild("--platform", "linux/amd64,linux/arm64")},
		{"dockerfile-amd64", dockerfile("linux/amd64")},
		{"dockerfile-arm64", dockerfile("linux/arm64")},
	}
	took := map[string][]time.Duration{}
	dest := filepath.Join(b.TempDir(), "image.oci.tar")
	for b.Loop() {
		for _, c := range cases {
			b.StopTimer()
			env.Prune(b)
			b.StartTimer()
			d, out := c.tool.run(b, dir, dest)
			took[c.name] = append(took[c.name], d)
			if c.name == "arm64-cross" && !strings.Contains(string(out), "cross-compiled") {
				b.Fatalf("arm64-cross compiled nothing cross:\n%s", out)
			}
		}
	}
	med := map[string]float64{}
	for _, c := range cases {
		med[c.name] = median(took[c.name]).Seconds()
		b.ReportMetric(med[c.name], c.name+"-s")
		b.Logf("%s: %.2fs (rounds: %v)", c.name, med[c.name], took[c.name])
	}
	b.Logf("arm64 against amd64: cross %.2fx, emulated %.2fx; the Dockerfile's arm64 %.2fx its amd64; imagebuild's arm64 %.2fx the Dockerfile's",
		med["arm64-cross"]/med["amd64"], med["arm64-emulated"]/med["amd64"], med["dockerfile-arm64"]/med["dockerfile-amd64"], med["arm64-cross"]/med["dockerfile-arm64"])
}
