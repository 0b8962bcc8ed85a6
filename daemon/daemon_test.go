package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/connhelper"
)

func TestConnectionHelpersRegistered(t *testing.T) {
	for _, scheme := range Schemes {
		if scheme == "unix" || scheme == "tcp" || scheme == "docker" {
			continue
		}
		t.Run(scheme, func(t *testing.T) {
			h, err := connhelper.GetConnectionHelper(scheme + "://name")
			if err != nil {
				t.Fatalf("helper for %s://name: %v", scheme, err)
			}
			if h == nil {
				t.Fatalf("no connection helper registered for %s://", scheme)
			}
		})
	}
}

func TestDaemonValidate(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(pem, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		d      Config
		want   string // in the error; empty for none
		scheme bool   // the error is ErrUnknownScheme
	}{
		{name: "unix", d: Config{Addr: "unix:///run/buildkit/buildkitd.sock"}},
		{name: "tcp with TLS", d: Config{Addr: "tcp://10.0.0.1:1234", CACert: pem, Cert: pem, Key: pem}},
		{name: "ssh", d: Config{Addr: "ssh://root@host:2222/run/buildkit/buildkitd.sock"}},
		{name: "kube-pod", d: Config{Addr: "kube-pod://buildkitd-0?namespace=ci&context=prod"}},
		{name: "unknown scheme", d: Config{Addr: "http://buildkitd"}, want: `buildkit address "http://buildkitd": unknown scheme "http"; BuildKit is reached by unix://, tcp://, docker://, docker-container://, podman-container://, nerdctl-container://, kube-pod:// or ssh://`, scheme: true},
		{name: "engine host without a scheme", d: Config{Addr: "docker://buildkitd"}, want: `buildkit address docker://buildkitd: docker host "buildkitd": want unix:///PATH, tcp://HOST:PORT or ssh://`},
		{name: "engine with TLS files", d: Config{Addr: "docker://", CACert: pem}, want: "a Docker Engine is reached as docker reaches it"},
		{name: "no scheme", d: Config{Addr: "localhost:1234"}, want: `unknown scheme "localhost"`, scheme: true},
		{name: "host and port", d: Config{Addr: "10.0.0.1:1234"}, want: `unknown scheme ""`, scheme: true},
		{name: "tcp without port", d: Config{Addr: "tcp://buildkit.example.com"}, want: `buildkit address "tcp://buildkit.example.com": want tcp://HOST:PORT`},
		{name: "unix without path", d: Config{Addr: "unix://buildkitd.sock"}, want: "want unix:///PATH/TO/buildkitd.sock"},
		{name: "ssh with password", d: Config{Addr: "ssh://ci:hunter2@host/run/buildkit/buildkitd.sock"}, want: `buildkit address "ssh://ci:xxxxx@host/run/buildkit/buildkitd.sock": a password in the address is not supported`},
		{name: "kube-pod bad name", d: Config{Addr: "kube-pod://Buildkitd_0"}, want: `unsupported pod name: "Buildkitd_0"`},
		{name: "cert without key", d: Config{Addr: "tcp://h:1", Cert: pem}, want: "a client certificate and its key go together"},
		{name: "missing CA", d: Config{Addr: "tcp://h:1", CACert: filepath.Join(dir, "nope.pem")}, want: "CA certificate " + filepath.Join(dir, "nope.pem") + " is not a readable file"},
		{name: "key is a folder", d: Config{Addr: "tcp://h:1", Cert: pem, Key: dir}, want: "client key " + dir + " is not a readable file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Validate = %v, which holds the address's password", err)
			}
			if got := errors.Is(err, ErrUnknownScheme); got != tt.scheme {
				t.Errorf("errors.Is(err, ErrUnknownScheme) = %v, want %v", got, tt.scheme)
			}
		})
	}
}

func TestConnectNoDaemon(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("tcp://%s", l.Addr())
	l.Close()
	for _, addr := range []string{"unix://" + filepath.Join(t.TempDir(), "none.sock"), closed} {
		t.Run(addr, func(t *testing.T) {
			c, err := Connect(context.Background(), Config{Addr: addr})
			if err == nil {
				c.Close()
				t.Fatal("Connect succeeded with no daemon")
			}
			if !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), addr) {
				t.Errorf("Connect = %v, want ErrNoDaemon naming %s", err, addr)
			}
		})
	}
}

func TestDialReason(t *testing.T) {
	tests := []struct{ name, err, want string }{
		{
			name: "tcp",
			err:  `failed to call info: Unavailable: connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`,
			want: "dial tcp 127.0.0.1:1: connect: connection refused",
		},
		{
			name: "ssh",
			err:  `failed to call info: Unavailable: connection error: desc = "error reading server preface: command [ssh -l root -p 1 -- 127.0.0.1 buildctl --addr unix:///x.sock dial-stdio] has exited with exit status 255, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr=ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n"`,
			want: "ssh -l root -p 1 -- 127.0.0.1 buildctl --addr unix:///x.sock dial-stdio exited with exit status 255: ssh: connect to host 127.0.0.1 port 1: Connection refused",
		},
		{
			name: "kubectl, last line of several",
			err:  `failed to call info: Unavailable: connection error: desc = "error reading server preface: command [kubectl --context= --namespace= exec --container= -i nope -- buildctl dial-stdio] has exited with exit status 1, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr=E1128 memcache.go:265] \"Unhandled Error\"\nThe connection to the server localhost:8080 was refused - did you specify the right host or port?\n"`,
			want: "kubectl --context= --namespace= exec --container= -i nope -- buildctl dial-stdio exited with exit status 1: The connection to the server localhost:8080 was refused - did you specify the right host or port?",
		},
		{name: "other", err: "context deadline exceeded", want: "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dialReason(errors.New(tt.err)); got != tt.want {
				t.Errorf("dialReason = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEngineHost: docker:// alone is the engine DOCKER_HOST names, else the
// current Docker context's, else /var/run/docker.sock; docker://HOST names
// its own.
func TestEngineHost(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	for _, k := range []string{"DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} {
		t.Setenv(k, "")
	}
	check := func(addr, want string) {
		t.Helper()
		ep, err := engineEndpoint(addr)
		if got := ep.Host; err != nil || got != want {
			t.Errorf("engineEndpoint(%q) = %q, %v; want %q", addr, ep.Host, err, want)
		}
	}
	check("docker://", DefaultEngineHost)
	check("docker://unix:///run/user/1000/docker.sock", "unix:///run/user/1000/docker.sock")
	// A context, as `docker context create desktop --docker host=...` stores it.
	sum := sha256.Sum256([]byte("desktop"))
	meta := filepath.Join(cfg, "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name":"desktop","Endpoints":{"docker":{"Host":"unix:///Users/me/.docker/run/docker.sock"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"desktop"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	check("docker://", "unix:///Users/me/.docker/run/docker.sock")
	t.Setenv("DOCKER_CONTEXT", "nonesuch")
	if _, err := engineEndpoint("docker://"); err == nil || !strings.Contains(err.Error(), `docker context "nonesuch"`) {
		t.Errorf("an unknown context: %v", err)
	}
	t.Setenv("DOCKER_HOST", "tcp://10.0.0.2:2376")
	check("docker://", "tcp://10.0.0.2:2376")
}
