package bench

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
)

// BenchmarkPlatforms builds the example's code with `imagebuild build
// python-alpine --platform ...` into one OCI tarball for one platform
// (amd64) and for two (amd64, and arm64 under QEMU emulation): cold (the
// daemon's whole cache pruned first) and no-op (nothing changed since the
// last build).
func BenchmarkPlatforms(b *testing.B) {
	env := benchEnv(b)
	ps := env.NeedArm64(b)
	dir := testenv.ExampleContext(b, "# offline\n")
	dest := filepath.Join(b.TempDir(), "image.tar")
	for _, n := range []int{1, 2} {
		var ids []string
		for _, p := range ps[:n] {
			ids = append(ids, builder.PlatformID(p))
		}
		build := func(b *testing.B) {
			cmd := exec.Command(testenv.BuildCLI(b), "build", "python-alpine", "--addr", env.Addr, "--context", dir,
				"--base", env.Base.String(), "--progress", "quiet", "--platform", strings.Join(ids, ","),
				"--output", "type=oci,dest="+dest)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("imagebuild build: %v\n%s", err, out)
			}
		}
		name := map[int]string{1: "one", 2: "two"}[n]
		b.Run(name+"/cold", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				env.Prune(b)
				b.StartTimer()
				build(b)
			}
		})
		b.Run(name+"/noop", func(b *testing.B) {
			build(b)
			for b.Loop() {
				build(b)
			}
		})
	}
}
