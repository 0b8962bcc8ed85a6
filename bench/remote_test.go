package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
)

// BenchmarkRemoteWarmBuild is a warm build of the example's code on one
// daemon (a second buildkitd, started for it) through each way to reach it:
// its unix socket, ssh:// (Debian's sshd on loopback, `buildctl
// dial-stdio` on the far side), and tcp://127.0.0.1 with mutual TLS. The
// differences are what the transport costs: the connection, and the
// context and the image's bytes going through it.
func BenchmarkRemoteWarmBuild(b *testing.B) {
	env := benchEnv(b)
	dir := testenv.ExampleContext(b, "# offline\n")
	dest := filepath.Join(b.TempDir(), "image.tar")
	s := testenv.StartSSHD(b)
	d := testenv.StartTLSDaemon(b)
	path := "PATH=" + s.Bin + string(os.PathListSeparator) + os.Getenv("PATH")
	ways := []struct {
		name   string
		daemon []string
	}{
		{"unix", []string{"--addr", "unix://" + d.Socket}},
		{"ssh", []string{"--addr", fmt.Sprintf("ssh://root@127.0.0.1:%d%s", s.Port, d.Socket)}},
		{"tcp+mTLS", []string{"--addr", d.Addr, "--tlsdir", d.ClientDir}},
	}
	for _, w := range ways {
		b.Run(w.name, func(b *testing.B) {
			build := func() {
				cmd := exec.Command(testenv.BuildCLI(b), append([]string{"build", "python-alpine", "--context", dir,
					"--base", env.Base.String(), "--progress", "quiet", "--output", "type=oci,dest=" + dest}, w.daemon...)...)
				cmd.Env = append(os.Environ(), path)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("imagebuild build: %v\n%s", err, out)
				}
			}
			build()
			for b.Loop() {
				build()
			}
		})
	}
}
