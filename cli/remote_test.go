package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client/llb"
)

// These tests reach BuildKit daemons the way a team's shared builders are
// reached: a second buildkitd behind mutual TLS on a TCP port, and the test
// daemon through ssh://, each started by the test.

// remoteBuild builds python-alpine on the test base through the given
// daemon flags into an OCI tarball in out.
func remoteBuild(t *testing.T, env *testenv.Env, out string, daemon ...string) (string, string, int) {
	t.Helper()
	args := append([]string{"build", "python-alpine", "--context", appContext(t), "--base", env.Base.String(),
		"--progress", "plain", "--source-date-epoch", "1700000000",
		"-o", "type=oci,dest=" + filepath.Join(out, "image.oci.tar")}, daemon...)
	return cli(t, args...)
}

// checkRemoteImage checks that the build printed the digest of the image
// it wrote, and that the image is the recipe's.
func checkRemoteImage(t *testing.T, stdout, out string) {
	t.Helper()
	img := testenv.OCIImage(t, filepath.Join(out, "image.oci.tar"))
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(stdout); got != d.String() {
		t.Errorf("stdout = %q, want the image's digest %s", got, d)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "appuser" || cfg.Config.WorkingDir != "/app" {
		t.Errorf("config user %q, working dir %q; want appuser, /app", cfg.Config.User, cfg.Config.WorkingDir)
	}
	files := testenv.Files(t, img)
	if _, ok := files["opt/venv/bin/python3"]; !ok {
		t.Error("image lacks /opt/venv/bin/python3")
	}
}

// checkFailure checks a build that must fail: exit 1, one line on stderr
// that holds each of want, nothing on stdout, nothing in out.
func checkFailure(t *testing.T, out, stdout, stderr string, code int, want ...string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit code %d, want 1\nstderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "imagebuild: ") {
		t.Errorf("stderr = %q, want one line", stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr = %q, want it to say %q", stderr, w)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("output folder has %v, want nothing", entries)
	}
}

func TestRemoteDaemonMutualTLS(t *testing.T) {
	env := testenv.Get(t)
	d := testenv.StartTLSDaemon(t)
	ca := filepath.Join(d.ClientDir, "ca.pem")
	cert := filepath.Join(d.ClientDir, "cert.pem")
	key := filepath.Join(d.ClientDir, "key.pem")

	t.Run("tlsdir", func(t *testing.T) {
		out := t.TempDir()
		stdout, stderr, code := remoteBuild(t, env, out, "--addr", d.Addr, "--tlsdir", d.ClientDir)
		if code != 0 {
			t.Fatalf("build exited %d\nstderr:\n%s", code, stderr)
		}
		checkRemoteImage(t, stdout, out)
	})
	t.Run("tls files and server name", func(t *testing.T) {
		out := t.TempDir()
		stdout, stderr, code := remoteBuild(t, env, out, "--addr", d.Addr,
			"--tlscacert", ca, "--tlscert", cert, "--tlskey", key, "--tlsservername", d.ServerName)
		if code != 0 {
			t.Fatalf("build exited %d\nstderr:\n%s", code, stderr)
		}
		checkRemoteImage(t, stdout, out)
	})

	failures := []struct {
		name   string
		addr   string // default the TLS daemon's
		daemon []string
		want   []string
	}{
		{
			name:   "no client certificate",
			daemon: []string{"--tlscacert", ca},
			want:   []string{"buildkit at " + d.Addr + ": TLS: the daemon asks for a client certificate and none was given"},
		},
		{
			name:   "CA that did not sign the daemon",
			daemon: []string{"--tlscacert", d.OtherCA, "--tlscert", cert, "--tlskey", key},
			want:   []string{"buildkit at " + d.Addr + ": TLS: the daemon's certificate is not signed by the CA in " + d.OtherCA},
		},
		{
			name:   "wrong server name",
			daemon: []string{"--tlsdir", d.ClientDir, "--tlsservername", "other.test"},
			want:   []string{"buildkit at " + d.Addr + `: TLS: the daemon's certificate is not valid for the server name "other.test"`},
		},
		{
			name:   "no TLS",
			daemon: nil,
			want:   []string{"buildkit at " + d.Addr + ": the daemon speaks TLS", "--tlsdir DIR, or --tlscacert, --tlscert and --tlskey"},
		},
		{
			name:   "TLS to a daemon without it",
			addr:   env.Addr,
			daemon: []string{"--tlsdir", d.ClientDir},
			want:   []string{"buildkit at " + env.Addr + ": TLS: the daemon does not speak TLS"},
		},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			addr := d.Addr
			if tt.addr != "" {
				addr = tt.addr
			}
			stdout, stderr, code := remoteBuild(t, env, out, append([]string{"--addr", addr}, tt.daemon...)...)
			checkFailure(t, out, stdout, stderr, code, tt.want...)
		})
	}
}

func TestRemoteDaemonOverSSH(t *testing.T) {
	env := testenv.Get(t)
	// ssh:// reaches a daemon's unix socket: the test daemon's, or where
	// that is not on this machine's file system, a daemon of the test's own.
	sock, ok := strings.CutPrefix(env.Addr, "unix://")
	if !ok {
		sock = testenv.StartTLSDaemon(t).Socket
	}
	s := testenv.StartSSHD(t)
	t.Setenv("PATH", s.Bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	t.Run("build", func(t *testing.T) {
		out := t.TempDir()
		addr := fmt.Sprintf("ssh://root@127.0.0.1:%d%s", s.Port, sock)
		stdout, stderr, code := remoteBuild(t, env, out, "--addr", addr)
		if code != 0 {
			t.Fatalf("build exited %d\nstderr:\n%s", code, stderr)
		}
		checkRemoteImage(t, stdout, out)
	})
	t.Run("unreachable host", func(t *testing.T) {
		out := t.TempDir()
		port := testenv.FreePort(t)
		addr := fmt.Sprintf("ssh://root@127.0.0.1:%d%s", port, sock)
		stdout, stderr, code := remoteBuild(t, env, out, "--addr", addr)
		checkFailure(t, out, stdout, stderr, code, "no BuildKit daemon answers at "+addr,
			fmt.Sprintf("exited with exit status 255: ssh: connect to host 127.0.0.1 port %d: Connection refused", port))
	})
	t.Run("no daemon at the socket", func(t *testing.T) {
		out := t.TempDir()
		addr := fmt.Sprintf("ssh://root@127.0.0.1:%d%s", s.Port, filepath.Join(t.TempDir(), "none.sock"))
		stdout, stderr, code := remoteBuild(t, env, out, "--addr", addr)
		checkFailure(t, out, stdout, stderr, code, "no BuildKit daemon answers at "+addr, "buildctl --addr unix://")
	})
}

// sleepRecipe runs one step that sleeps for ten minutes on the base it is
// given: a build that is still running when a test ends its daemon.
type sleepRecipe struct{}

func (sleepRecipe) Name() string        { return "sleeps" }
func (sleepRecipe) Description() string { return "sleeps in a step" }
func (sleepRecipe) Validate() error     { return nil }
func (sleepRecipe) Image(in recipes.Inputs) (graph.Image, error) {
	root := llb.Image(in.Base.Pin.String(), llb.Platform(in.Platform)).
		Run(llb.Args([]string{"sleep", "600"}), llb.WithCustomName("sleep: waits for the daemon to go")).Root()
	return graph.Image{Platform: in.Platform, Root: root, Base: in.Base.Pin, Context: in.Context}, nil
}

// TestDaemonGoneMidBuild kills a daemon of the test's own (SIGKILL, as a
// crash or an OOM kill would) while a step runs: the build fails in one
// line that names the daemon's address, exit 1, and writes nothing. The
// daemon is the build's own (--addr), or the builder of one platform of two
// (--builder), which the line names with its platform.
func TestDaemonGoneMidBuild(t *testing.T) {
	env := testenv.Get(t)
	t.Run("the build's daemon", func(t *testing.T) {
		d := testenv.StartTLSDaemon(t)
		addr := "unix://" + d.Socket
		goneMidBuild(t, env, d, "imagebuild: buildkit at "+addr+": the BuildKit daemon went away during the build (", "--addr", addr)
	})
	t.Run("a platform's builder", func(t *testing.T) {
		ps := env.NeedArm64(t)
		d := testenv.StartTLSDaemon(t)
		addr := "unix://" + d.Socket
		goneMidBuild(t, env, d, "imagebuild: linux/arm64: buildkit at "+addr+": the BuildKit daemon went away during the build (",
			"--addr", env.Addr, "--platform", builder.PlatformID(ps[0])+","+builder.PlatformID(ps[1]), "--builder", "linux/arm64="+addr)
	})
}

// goneMidBuild runs a build with flags whose step sleeps, kills d once the
// step runs, and checks the build's end: exit 1, one error line starting
// with want, nothing on stdout, no output written.
func goneMidBuild(t *testing.T, env *testenv.Env, d *testenv.TLSDaemon, want string, flags ...string) {
	t.Helper()
	out := t.TempDir()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(context.Background(), append([]string{"build", "sleeps", "--base", env.Base.String(),
			"--progress", "plain", "--context", t.TempDir(),
			"-o", "type=oci,dest=" + filepath.Join(out, "image.oci.tar"),
			"--metadata-file", filepath.Join(out, "metadata.json")}, flags...), &stdout, &stderr, sleepRecipe{})
	}()
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(stderr.String(), "sleep: waits for the daemon to go"); {
		if time.Now().After(deadline) {
			t.Fatalf("the step never started:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // the step's container is running
	d.Kill()
	var code int
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the build did not end within a minute of its daemon's end")
	}
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if strings.HasPrefix(l, "imagebuild: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.HasPrefix(errLines[0], want) || !strings.HasSuffix(errLines[0], "); nothing was written") {
		t.Errorf("error lines %q, want one starting %q", errLines, want)
	}
	if stdout.String() != "" {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
	assertNoOutputs(t, out)
}
