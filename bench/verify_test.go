package bench

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/verify"
)

// BenchmarkVerify verifies the example's image (the largest the tests
// build) from its OCI tarball, and reports the peak Go heap while it runs.
func BenchmarkVerify(b *testing.B) {
	env := testenv.Get(b)
	dest := filepath.Join(b.TempDir(), "image.tar")
	build(b, env, testenv.ExampleContext(b, "# offline\n"), dest)
	img := testenv.OCIImage(b, dest)
	var size int64
	sizes := testenv.LayerSizes(b, img)
	for _, s := range sizes {
		size += s
	}
	b.Logf("image: %d layers, %d bytes compressed", len(sizes), size)

	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	for b.Loop() {
		r, err := verify.Image(context.Background(), img, verify.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if !r.Passed() {
			b.Fatal("the example image fails verify")
		}
	}
	close(done)
	wg.Wait()
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
