package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/internal/testenv"
	dockerclient "github.com/moby/moby/client"
)

// clearDockerEnv leaves the test with none of docker's environment and a
// Docker config folder of its own, which it returns.
func clearDockerEnv(t *testing.T) string {
	t.Helper()
	for _, k := range []string{"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION"} {
		t.Setenv(k, "")
	}
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	return cfg
}

// checkEngine checks that e is the engine want, by the version it gave
// against what the engine says on its own socket, and that its BuildKit
// answers through the same connection.
func checkEngine(t *testing.T, e *daemon.Engine, want *testenv.Engine) {
	t.Helper()
	v, err := want.API.ServerVersion(context.Background(), dockerclient.ServerVersionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Version != v.Version || e.APIVersion != v.APIVersion {
		t.Errorf("the engine answered version %s (API %s), want %s (API %s)", e.Version, e.APIVersion, v.Version, v.APIVersion)
	}
	c, err := e.BuildKit(context.Background())
	if err != nil {
		t.Fatalf("the engine's BuildKit: %v", err)
	}
	if !e.Builds(c) || !e.HoldsIndexes() {
		t.Errorf("the engine's BuildKit client is not its own, or its store is not containerd's")
	}
}

// TestEngineOverTLS: an engine that listens on tcp:// with mutual TLS
// (dockerd --tlsverify) is reached over TLS, as docker reaches it, with
// the files DOCKER_TLS_VERIFY and DOCKER_CERT_PATH name, or a Docker
// context's TLS material; its BuildKit answers through the same TLS
// connection. Without them it would be spoken to in plain HTTP.
func TestEngineOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short (make unit)")
	}
	engine := testenv.StartTLSEngine(t)
	ctx := context.Background()

	t.Run("DOCKER_TLS_VERIFY and DOCKER_CERT_PATH", func(t *testing.T) {
		clearDockerEnv(t)
		t.Setenv("DOCKER_TLS_VERIFY", "1")
		t.Setenv("DOCKER_CERT_PATH", engine.ClientDir)
		e, err := daemon.DialEngine(ctx, engine.Addr)
		if err != nil {
			t.Fatalf("docker://%s with DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=%s: %v", engine.Addr, engine.ClientDir, err)
		}
		defer e.Close()
		checkEngine(t, e, engine.Engine)
	})
	t.Run("DOCKER_HOST", func(t *testing.T) {
		clearDockerEnv(t)
		t.Setenv("DOCKER_HOST", engine.Addr)
		t.Setenv("DOCKER_TLS_VERIFY", "1")
		t.Setenv("DOCKER_CERT_PATH", engine.ClientDir)
		e, err := daemon.DialEngine(ctx, "")
		if err != nil {
			t.Fatalf("docker:// with DOCKER_HOST=%s: %v", engine.Addr, err)
		}
		defer e.Close()
		checkEngine(t, e, engine.Engine)
	})
	t.Run("context", func(t *testing.T) {
		cfg := clearDockerEnv(t)
		docker, err := exec.LookPath("docker")
		if err != nil {
			testenv.Unavailable(t, "no docker CLI to make a context with (scripts/engine.sh installs Debian's docker.io)")
		}
		f := func(name string) string { return filepath.Join(engine.ClientDir, name) }
		out, err := exec.Command(docker, "context", "create", "remote", "--docker",
			fmt.Sprintf("host=%s,ca=%s,cert=%s,key=%s", engine.Addr, f("ca.pem"), f("cert.pem"), f("key.pem"))).CombinedOutput()
		if err != nil {
			t.Fatalf("docker context create: %v: %s", err, out)
		}
		if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"remote"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := daemon.DialEngine(ctx, "")
		if err != nil {
			t.Fatalf("docker:// with the context remote (%s, with TLS): %v", engine.Addr, err)
		}
		defer e.Close()
		checkEngine(t, e, engine.Engine)
	})
	t.Run("a CA that did not sign the engine's certificate", func(t *testing.T) {
		clearDockerEnv(t)
		t.Setenv("DOCKER_TLS_VERIFY", "1")
		t.Setenv("DOCKER_CERT_PATH", engine.OtherDir)
		e, err := daemon.DialEngine(ctx, engine.Addr)
		if err == nil {
			e.Close()
			t.Fatal("the engine was reached with a CA that did not sign its certificate")
		}
		t.Log(err)
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, engine.Addr) || !strings.Contains(msg, "certificate") {
			t.Errorf("error %q: want one line naming the engine and its certificate", msg)
		}
		if errors.Is(err, daemon.ErrNoDaemon) {
			t.Errorf("error %q: an engine that answers with a certificate the CA did not sign is no ErrNoDaemon", err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		clearDockerEnv(t)
		dir := t.TempDir()
		ca, err := os.ReadFile(filepath.Join(engine.ClientDir, "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("DOCKER_TLS_VERIFY", "1")
		t.Setenv("DOCKER_CERT_PATH", dir)
		e, err := daemon.DialEngine(ctx, engine.Addr)
		if err == nil {
			e.Close()
			t.Fatal("the engine, which asks for a client certificate, was reached without one")
		}
		t.Log(err)
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "client certificate") {
			t.Errorf("error %q: want one line saying the engine wants a client certificate", msg)
		}
	})
	t.Run("no TLS", func(t *testing.T) {
		clearDockerEnv(t)
		e, err := daemon.DialEngine(ctx, engine.Addr)
		if err == nil {
			e.Close()
			t.Fatal("the engine, which asks for TLS, was reached without it")
		}
		t.Log(err)
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "speaks TLS") || !strings.Contains(msg, "DOCKER_TLS_VERIFY=1") {
			t.Errorf("error %q: want one line saying the engine speaks TLS and what to set", msg)
		}
	})
}

// TestEngineBuildOverTLS builds on an engine's BuildKit reached over
// mutual TLS (the build's context, secrets and credentials go through
// it) and loads the image there.
func TestEngineBuildOverTLS(t *testing.T) {
	env := testenv.Get(t)
	engine := testenv.StartTLSEngine(t)
	clearDockerEnv(t)
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	t.Setenv("DOCKER_CERT_PATH", engine.ClientDir)
	tag := "imagebuild-test/tracker:tls"
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", "docker://"+engine.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "plain", "--source-date-epoch", "1700000000",
		"--network", "host", "--load", "-t", tag)
	if code != 0 {
		t.Fatalf("build on the engine over TLS exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, lastLines(stderr, 20))
	}
	img, err := engine.API.ImageInspect(context.Background(), tag)
	if err != nil {
		t.Fatalf("the engine does not list %s: %v", tag, err)
	}
	if digest := strings.TrimSpace(stdout); img.ID != digest {
		t.Errorf("the engine holds %s as %s, want the digest the build printed, %s", tag, img.ID, digest)
	}
}

// TestEngineOverSSH: docker://ssh://USER@HOST/PATH reaches an engine
// through the docker CLI's connection helper, which runs `docker system
// dial-stdio` on the far side (here through Debian's sshd on 127.0.0.1,
// to the test engine's socket); the engine's BuildKit answers through it.
func TestEngineOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short (make unit)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		testenv.Unavailable(t, "no docker CLI to run docker system dial-stdio (scripts/engine.sh installs Debian's docker.io)")
	}
	engine := testenv.StartEngine(t)
	s := testenv.StartSSHD(t)
	clearDockerEnv(t)
	t.Setenv("PATH", s.Bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	host := fmt.Sprintf("ssh://root@127.0.0.1:%d%s", s.Port, strings.TrimPrefix(engine.Host, "unix://"))
	if err := (daemon.Config{Addr: "docker://" + host}).Validate(); err != nil {
		t.Fatalf("Validate(docker://%s): %v", host, err)
	}
	e, err := daemon.DialEngine(context.Background(), host)
	if err != nil {
		t.Fatalf("docker://%s: %v", host, err)
	}
	defer e.Close()
	checkEngine(t, e, engine)
}

// TestEnginePlainTCPRefusedByBuild: a build whose engine is on another
// machine and reached by plain tcp:// (here DOCKER_HOST, TEST-NET-1's
// 192.0.2.1) is refused as a usage error in one line saying what to do,
// before anything is dialed or written.
func TestEnginePlainTCPRefusedByBuild(t *testing.T) {
	clearDockerEnv(t)
	t.Setenv("DOCKER_HOST", "tcp://192.0.2.1:2375")
	out := t.TempDir()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", "docker://", "--context", appContext(t),
		"--progress", "quiet", "-o", "type=oci,dest="+filepath.Join(out, "image.oci.tar"))
	if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and one line", code, stdout, stderr)
	}
	for _, want := range []string{"tcp://192.0.2.1:2375", "plain tcp://", "secrets", "DOCKER_TLS_VERIFY=1", "ssh://"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	assertNoOutputs(t, out)
}
