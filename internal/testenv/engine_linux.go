package testenv

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	dockerclient "github.com/moby/moby/client"
)

// Engine is a Docker Engine a test started, on a socket, data root and exec
// root of its own, without a bridge network (steps and containers use the
// host's network or none), stopped when the test ends.
type Engine struct {
	// Host is its address as DOCKER_HOST names it: unix:///.../docker.sock.
	Host string
	// API is a client of its API.
	API *dockerclient.Client
}

// StartEngine starts a current Docker Engine: dockerd from moby's v2
// module on the containerd image store, with Debian's containerd and runc
// 1.5.3 (scripts/engine.sh builds them once per machine), and more of
// dockerd's flags.
func StartEngine(t testing.TB, args ...string) *Engine {
	t.Helper()
	bin := engineBin(t)
	return startEngine(t, filepath.Join(bin, "dockerd"), append([]string{
		"--add-runtime", "imagebuild-runc=" + filepath.Join(bin, "runc"), "--default-runtime", "imagebuild-runc"}, args...)...)
}

// StartOldEngine starts Debian's Docker Engine 20.10 (docker.io), whose
// BuildKit is 0.8 and whose images are in a graph driver store.
func StartOldEngine(t testing.TB) *Engine {
	t.Helper()
	engineBin(t)
	return startEngine(t, "/usr/sbin/dockerd")
}

func engineBin(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "starting a Docker Engine needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, err := script(ctx, "engine.sh")
	if err != nil {
		Unavailable(t, "set up the Docker Engines: %v", err)
	}
	return bin
}

func startEngine(t testing.TB, dockerd string, args ...string) *Engine {
	t.Helper()
	// A short folder: the socket's path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "ibengine-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerd, append([]string{"--host", "unix://" + sock,
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--bridge", "none", "--iptables=false", "--ip6tables=false", "--userland-proxy=false"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", dockerd, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	e := &Engine{Host: "unix://" + sock}
	t.Cleanup(func() {
		if e.API != nil {
			e.API.Close()
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		unmountUnder(t, dir)
		os.RemoveAll(dir)
	})
	if e.API, err = dockerclient.New(dockerclient.WithHost(e.Host)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := e.API.Ping(context.Background(), dockerclient.PingOptions{})
		if err == nil {
			return e
		}
		select {
		case <-exited:
			dt, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("%s exited before it answered:\n%s", dockerd, lastLines(string(dt), 15))
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			dt, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("%s does not answer at %s within a minute: %v\n%s", dockerd, e.Host, err, lastLines(string(dt), 15))
		}
	}
}

// Run runs image's command in a container of the engine, without a
// network, and returns what it printed on stdout and stderr.
func (e *Engine) Run(t testing.TB, image string) string {
	t.Helper()
	ctx := context.Background()
	c, err := e.API.ContainerCreate(ctx, dockerclient.ContainerCreateOptions{
		Image:      image,
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatalf("create a container of %s: %v", image, err)
	}
	defer e.API.ContainerRemove(ctx, c.ID, dockerclient.ContainerRemoveOptions{Force: true})
	if _, err := e.API.ContainerStart(ctx, c.ID, dockerclient.ContainerStartOptions{}); err != nil {
		t.Fatalf("start a container of %s: %v", image, err)
	}
	wait := e.API.ContainerWait(ctx, c.ID, dockerclient.ContainerWaitOptions{})
	select {
	case res := <-wait.Result:
		if res.StatusCode != 0 {
			t.Errorf("the container of %s exited %d", image, res.StatusCode)
		}
	case err := <-wait.Error:
		t.Fatalf("wait for the container of %s: %v", image, err)
	}
	logs, err := e.API.ContainerLogs(ctx, c.ID, dockerclient.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, logs); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TLSEngine is a current Docker Engine a test started that listens, besides
// its unix socket, on tcp://127.0.0.1:PORT with mutual TLS (dockerd
// --tlsverify), as a remote engine is reached.
type TLSEngine struct {
	*Engine
	// Addr is tcp://127.0.0.1:PORT.
	Addr string
	// ClientDir holds the client's files as DOCKER_CERT_PATH names them:
	// ca.pem (the CA that signed the engine's certificate and the
	// client's), cert.pem and key.pem (the client's).
	ClientDir string
	// OtherDir holds the same files, but its ca.pem is a CA that signed
	// neither: the engine's certificate does not verify with it.
	OtherDir string
}

// StartTLSEngine makes a CA and certificates for an engine and a client,
// and starts a current Docker Engine (see [StartEngine]) listening on a
// free loopback port with mutual TLS, and on its unix socket without.
func StartTLSEngine(t testing.TB, args ...string) *TLSEngine {
	t.Helper()
	dir := t.TempDir()
	e := &TLSEngine{
		Addr:      fmt.Sprintf("tcp://127.0.0.1:%d", FreePort(t)),
		ClientDir: filepath.Join(dir, "client"),
		OtherDir:  filepath.Join(dir, "other"),
	}
	serverDir := filepath.Join(dir, "server")
	for _, p := range []string{e.ClientDir, e.OtherDir, serverDir} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ca := newCA(t, "imagebuild test CA")
	ca.writeCert(t, filepath.Join(e.ClientDir, "ca.pem"))
	ca.writeCert(t, filepath.Join(serverDir, "ca.pem"))
	newCA(t, "another CA").writeCert(t, filepath.Join(e.OtherDir, "ca.pem"))
	server := ca.issue(t, "dockerd", x509.ExtKeyUsageServerAuth, []string{"localhost"}, net.IPv4(127, 0, 0, 1))
	server.writeCert(t, filepath.Join(serverDir, "cert.pem"))
	server.writeKey(t, filepath.Join(serverDir, "key.pem"))
	cl := ca.issue(t, "imagebuild test client", x509.ExtKeyUsageClientAuth, nil, nil)
	for _, d := range []string{e.ClientDir, e.OtherDir} {
		cl.writeCert(t, filepath.Join(d, "cert.pem"))
		cl.writeKey(t, filepath.Join(d, "key.pem"))
	}
	e.Engine = StartEngine(t, append([]string{"--host", e.Addr, "--tlsverify",
		"--tlscacert", filepath.Join(serverDir, "ca.pem"),
		"--tlscert", filepath.Join(serverDir, "cert.pem"),
		"--tlskey", filepath.Join(serverDir, "key.pem")}, args...)...)
	return e
}
