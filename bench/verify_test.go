//go:build linux

package bench

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
)

// BenchmarkVerify runs `imagebuild verify image.tar` on the example's image
// (the largest the tests build) as a user does: the command, which unpacks
// the OCI tarball and checks the image, and reports the command's peak
// resident memory.
func BenchmarkVerify(b *testing.B) {
	env := benchEnv(b)
	dest := filepath.Join(b.TempDir(), "image.tar")
	build(b, env, testenv.ExampleContext(b, "# offline\n"), dest)
	var size int64
	sizes := testenv.LayerSizes(b, testenv.OCIImage(b, dest))
	for _, s := range sizes {
		size += s
	}
	b.Logf("image: %d layers, %d bytes compressed", len(sizes), size)

	var peak int64
	for b.Loop() {
		cmd := exec.Command(testenv.BuildCLI(b), "verify", dest)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("imagebuild verify: %v\n%s", err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss) // KiB
		}
	}
	b.ReportMetric(float64(peak)/1024, "peak-rss-MiB")
}
