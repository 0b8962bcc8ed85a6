package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
)

func digestOf(t *testing.T, path string) string {
	t.Helper()
	d, err := testenv.OCIImage(t, path).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestCheckReproducibleCLI(t *testing.T) {
	env := testenv.Get(t)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "--check-reproducible",
		"-o", "type=oci,dest="+filepath.Join(out, "image.tar"))
	if code != 0 {
		t.Fatalf("--check-reproducible exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "linux/amd64: reproducible: both builds gave sha256:") {
		t.Errorf("stdout = %q, want the reproducible line naming the platform", stdout)
	}
	d := digestOf(t, filepath.Join(out, "image.tar"))
	if !strings.Contains(stdout, d) {
		t.Errorf("output image %s is not the checked one:\n%s", d, stdout)
	}
}
