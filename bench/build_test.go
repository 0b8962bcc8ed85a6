package bench

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/ref"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// benchEnv returns the test environment, with the commands the benchmarks
// run (imagebuild, and the test command with the test base's recipes)
// built before anything is timed.
func benchEnv(b *testing.B) *testenv.Env {
	b.Helper()
	env := testenv.Get(b)
	testenv.BuildCLI(b)
	testenv.BuildCommand(b, testenv.TestCommand)
	return env
}

// build builds the example's code in dir with `imagebuild build
// python-alpine` on the test base into the OCI tarball dest: the CLI, built
// once, with its defaults, as a user runs it.
func build(b *testing.B, env *testenv.Env, dir, dest string) {
	b.Helper()
	buildWith(b, env, env.Base, dir, dest)
}

// buildWith is build on base, with more flags for `imagebuild build`.
func buildWith(b *testing.B, env *testenv.Env, base ref.Pin, dir, dest string, flags ...string) {
	b.Helper()
	args := append([]string{"build", "python-alpine", "--addr", env.Addr, "--context", dir,
		"--base", base.String(), "--progress", "quiet", "--output", "type=oci,dest=" + dest}, flags...)
	if out, err := exec.Command(testenv.BuildCLI(b), args...).CombinedOutput(); err != nil {
		b.Fatalf("imagebuild build: %v\n%s", err, out)
	}
}

func BenchmarkBuild(b *testing.B) {
	env := benchEnv(b)
	// PyPI cannot be reached here: the example's code with no requirements.
	dir := testenv.ExampleContext(b, "# offline\n")
	dest := filepath.Join(b.TempDir(), "image.tar")
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			env.Prune(b)
			b.StartTimer()
			build(b, env, dir, dest)
		}
	})
	b.Run("warm", func(b *testing.B) {
		build(b, env, dir, dest)
		for b.Loop() {
			build(b, env, dir, dest)
		}
	})
	var total int64
	for i, size := range testenv.LayerSizes(b, testenv.OCIImage(b, dest)) {
		total += size
		b.Logf("layer %d: %d bytes compressed", i, size)
	}
	b.Logf("image: %d bytes compressed", total)
}
