package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client"
)

// BenchmarkSlimExample builds the example service with python-slim on the
// Debian test base through the command (a team's binary that registers
// python-slim with gcc and Debian's Python headers as slim-compile, see
// internal/testcmd), compiling its C extension with packages from Debian's
// mirror in the builder, cold and warm, and logs the runtime image's and
// the builder stage's sizes.
func BenchmarkSlimExample(b *testing.B) {
	env := benchEnv(b)
	dir := testenv.ExampleContext(b, "incident-severity==1.0\n")
	pipconf := testenv.SeverityIndex(b, false)
	conf := filepath.Join(b.TempDir(), "pip.conf")
	if err := os.WriteFile(conf, pipconf, 0o600); err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	runtimeTar := filepath.Join(out, "runtime.tar")
	build := func() {
		cmd := exec.Command(testenv.BuildCommand(b, testenv.TestCommand), "build", "slim-compile", "--addr", env.Addr,
			"--context", dir, "--base", env.Base.String(), "--progress", "quiet",
			"--secret", "id=pipconf,src="+conf, "--output", "type=oci,dest="+runtimeTar)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build slim-compile: %v\n%s", err, out)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			env.Prune(b)
			b.StartTimer()
			build()
		}
	})
	b.Run("warm", func(b *testing.B) {
		build()
		for b.Loop() {
			build()
		}
	})

	// The builder stage alone, for its size (not timed).
	bctx, err := graph.LoadContext(dir)
	if err != nil {
		b.Fatal(err)
	}
	r := recipes.PythonSlim{Packages: []string{"gcc", "libc6-dev", "python3-dev"}}
	in := recipes.Inputs{Platform: testenv.Platform, Base: recipes.Base{Pin: env.Base}, Context: bctx}
	builderTar := filepath.Join(out, "builder.tar")
	if _, err := builder.Build(b.Context(), env.Client, []graph.Image{{Platform: testenv.Platform, Root: r.BuilderStage(in), Base: env.Base, Context: bctx}}, builder.Options{
		Outputs: []output.Output{{Type: client.ExporterOCI, Dest: builderTar}},
		Secrets: map[string]string{recipes.PipConfSecret: testenv.PipConf(b, pipconf)},
	}, nil); err != nil {
		b.Fatal(err)
	}
	for _, x := range []struct{ name, path string }{{"runtime image", runtimeTar}, {"builder stage", builderTar}} {
		sizes := testenv.LayerSizes(b, testenv.OCIImage(b, x.path))
		var total int64
		for _, s := range sizes {
			total += s
		}
		b.Logf("%s: %d layers, %d bytes compressed", x.name, len(sizes), total)
	}
}
