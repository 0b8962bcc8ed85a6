package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
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

// certDir writes ca.pem, cert.pem and key.pem into a folder and returns it
// and what it wrote. Their content is not parsed until a connection is
// made.
func certDir(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{"ca.pem": []byte("the CA\n"), "cert.pem": []byte("the client's certificate\n"), "key.pem": []byte("the client's key\n")}
	for name, dt := range files {
		if err := os.WriteFile(filepath.Join(dir, name), dt, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

// makeContext stores a Docker context as `docker context create NAME
// --docker host=HOST,ca=...,cert=...,key=...` stores it, with the docker
// CLI's own context store, and makes it the current one.
func makeContext(t *testing.T, cfg, name, host string, tlsFiles map[string][]byte) {
	t.Helper()
	s := store.New(filepath.Join(cfg, "contexts"), store.NewConfig(func() any { return &map[string]any{} },
		store.EndpointTypeGetter(docker.DockerEndpoint, func() any { return &docker.EndpointMeta{} })))
	if err := s.CreateOrUpdate(store.Metadata{
		Name:      name,
		Metadata:  map[string]any{"Description": "a test's"},
		Endpoints: map[string]any{docker.DockerEndpoint: docker.EndpointMeta{Host: host}},
	}); err != nil {
		t.Fatal(err)
	}
	if tlsFiles != nil {
		if err := s.ResetEndpointTLSMaterial(name, docker.DockerEndpoint, &store.EndpointTLSData{Files: tlsFiles}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"`+name+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEnginePlainTCPRefused: an engine on another machine reached by plain
// tcp:// (no TLS, or TLS that does not verify the engine) would carry the
// build's secrets and registry credentials where anyone between can read
// them: refused in one line saying what to do, before anything is dialed
// (192.0.2.1 is TEST-NET-1, and each dial is made with a context already
// canceled, so that a dial would fail with the context's error instead).
func TestEnginePlainTCPRefused(t *testing.T) {
	const remote = "tcp://192.0.2.1:2375"
	tests := []struct {
		name string
		addr string
		env  map[string]string
		ctx  string // a current Docker context's host, without TLS
		want string
	}{
		{name: "address", addr: "docker://" + remote, want: "plain tcp://"},
		{name: "DOCKER_HOST", addr: "docker://", env: map[string]string{"DOCKER_HOST": remote}, want: "plain tcp://"},
		{name: "context without TLS", addr: "docker://", ctx: remote, want: "plain tcp://"},
		{name: "a name that is not loopback", addr: "docker://tcp://engine.example.com:2375", want: "plain tcp://"},
		{name: "TLS without verifying the engine", addr: "docker://tcp://192.0.2.1:2376", env: map[string]string{"DOCKER_TLS": "1", "DOCKER_CERT_PATH": "{certs}"}, want: "does not verify the engine's certificate"},
		{name: "DOCKER_CERT_PATH alone", addr: "docker://tcp://192.0.2.1:2376", env: map[string]string{"DOCKER_CERT_PATH": "{certs}"}, want: "does not verify the engine's certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clearDockerEnv(t)
			certs, _ := certDir(t)
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "{certs}", certs))
			}
			if tt.ctx != "" {
				makeContext(t, cfg, "remote", tt.ctx, nil)
			}
			check := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error", what)
				}
				msg := err.Error()
				if !errors.Is(err, ErrInsecureEngine) {
					t.Errorf("%s = %q, want ErrInsecureEngine", what, msg)
				}
				for _, want := range []string{tt.want, "192.0.2.1", "secrets", "DOCKER_TLS_VERIFY=1", "ssh://"} {
					if want == "192.0.2.1" && strings.Contains(tt.addr, "example.com") {
						want = "engine.example.com"
					}
					if !strings.Contains(msg, want) {
						t.Errorf("%s = %q, does not say %q", what, msg, want)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("%s = %q: more than one line", what, msg)
				}
			}
			check("Validate", Config{Addr: tt.addr}.Validate())
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := Connect(ctx, Config{Addr: tt.addr})
			check("Connect", err)
			_, err = DialEngine(ctx, strings.TrimPrefix(tt.addr, "docker://"))
			check("DialEngine", err)
		})
	}
}

// TestEngineLoopbackAllowed: plain tcp:// to this machine, and sockets,
// are not refused: nothing crosses a network.
func TestEngineLoopbackAllowed(t *testing.T) {
	for _, host := range []string{"tcp://127.0.0.1:2375", "tcp://127.9.8.7:2375", "tcp://localhost:2375", "tcp://LOCALHOST:2375", "tcp://[::1]:2375", "unix:///var/run/docker.sock", "ssh://ci@engine.example.com"} {
		t.Run(host, func(t *testing.T) {
			clearDockerEnv(t)
			if err := (Config{Addr: "docker://" + host}).Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	t.Run("TLS verified", func(t *testing.T) {
		clearDockerEnv(t)
		certs, _ := certDir(t)
		t.Setenv("DOCKER_TLS_VERIFY", "1")
		t.Setenv("DOCKER_CERT_PATH", certs)
		if err := (Config{Addr: "docker://tcp://192.0.2.1:2376"}).Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}

// TestEngineEndpoint: docker:// resolves an engine and its TLS material
// as docker does: the address's host or DOCKER_HOST with the files
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH name, else the current context's
// host and the TLS material its store keeps.
func TestEngineEndpoint(t *testing.T) {
	t.Run("DOCKER_CERT_PATH", func(t *testing.T) {
		clearDockerEnv(t)
		certs, files := certDir(t)
		t.Setenv("DOCKER_TLS_VERIFY", "1")
		t.Setenv("DOCKER_CERT_PATH", certs)
		ep, err := engineEndpoint("docker://tcp://192.0.2.1:2376")
		if err != nil {
			t.Fatal(err)
		}
		checkEndpoint(t, ep, "tcp://192.0.2.1:2376", files, false)
		t.Setenv("DOCKER_HOST", "tcp://192.0.2.2:2376")
		if ep, err = engineEndpoint("docker://"); err != nil {
			t.Fatal(err)
		}
		checkEndpoint(t, ep, "tcp://192.0.2.2:2376", files, false)
	})
	t.Run("no client certificate", func(t *testing.T) {
		clearDockerEnv(t)
		certs, files := certDir(t)
		os.Remove(filepath.Join(certs, "cert.pem"))
		os.Remove(filepath.Join(certs, "key.pem"))
		t.Setenv("DOCKER_TLS_VERIFY", "1")
		t.Setenv("DOCKER_CERT_PATH", certs)
		ep, err := engineEndpoint("docker://tcp://192.0.2.1:2376")
		if err != nil {
			t.Fatal(err)
		}
		checkEndpoint(t, ep, "tcp://192.0.2.1:2376", map[string][]byte{"ca.pem": files["ca.pem"]}, false)
	})
	t.Run("no CA", func(t *testing.T) {
		clearDockerEnv(t)
		certs := t.TempDir()
		t.Setenv("DOCKER_TLS_VERIFY", "1")
		t.Setenv("DOCKER_CERT_PATH", certs)
		_, err := engineEndpoint("docker://tcp://192.0.2.1:2376")
		if err == nil || !strings.Contains(err.Error(), "DOCKER_CERT_PATH="+certs) || !strings.Contains(err.Error(), "ca.pem") {
			t.Errorf("engineEndpoint = %v, want an error naming DOCKER_CERT_PATH and ca.pem", err)
		}
	})
	t.Run("the Docker config folder by default", func(t *testing.T) {
		cfg := clearDockerEnv(t)
		certs, files := certDir(t)
		for name := range files {
			if err := os.Rename(filepath.Join(certs, name), filepath.Join(cfg, name)); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("DOCKER_TLS_VERIFY", "1")
		ep, err := engineEndpoint("docker://")
		if err != nil {
			t.Fatal(err)
		}
		// docker's default host when TLS is asked for.
		checkEndpoint(t, ep, "tcp://localhost:2376", files, false)
	})
	t.Run("context", func(t *testing.T) {
		cfg := clearDockerEnv(t)
		_, files := certDir(t)
		makeContext(t, cfg, "remote", "tcp://192.0.2.1:2376", files)
		ep, err := engineEndpoint("docker://")
		if err != nil {
			t.Fatal(err)
		}
		checkEndpoint(t, ep, "tcp://192.0.2.1:2376", files, false)
		if err := (Config{Addr: "docker://"}).Validate(); err != nil {
			t.Errorf("Validate with a context with TLS: %v", err)
		}
		// DOCKER_HOST names the default context, whose TLS is the environment's.
		t.Setenv("DOCKER_HOST", "tcp://192.0.2.1:2376")
		if err := (Config{Addr: "docker://"}).Validate(); !errors.Is(err, ErrInsecureEngine) {
			t.Errorf("Validate with DOCKER_HOST and no TLS in the environment = %v, want ErrInsecureEngine", err)
		}
		t.Setenv("DOCKER_HOST", "")
		// DOCKER_CONTEXT names another.
		makeContext(t, cfg, "local", "unix:///run/user/1000/docker.sock", nil)
		t.Setenv("DOCKER_CONTEXT", "remote")
		if ep, err = engineEndpoint("docker://"); err != nil {
			t.Fatal(err)
		}
		checkEndpoint(t, ep, "tcp://192.0.2.1:2376", files, false)
		t.Setenv("DOCKER_CONTEXT", "nonesuch")
		if _, err := engineEndpoint("docker://"); err == nil || !strings.Contains(err.Error(), `docker context "nonesuch"`) {
			t.Errorf("an unknown context: %v", err)
		}
	})
}

func checkEndpoint(t *testing.T, ep docker.Endpoint, host string, files map[string][]byte, skipVerify bool) {
	t.Helper()
	if ep.Host != host {
		t.Errorf("host %q, want %q", ep.Host, host)
	}
	if ep.SkipTLSVerify != skipVerify {
		t.Errorf("SkipTLSVerify %v, want %v", ep.SkipTLSVerify, skipVerify)
	}
	if ep.TLSData == nil {
		t.Fatalf("no TLS material, want %d files", len(files))
	}
	for name, got := range map[string][]byte{"ca.pem": ep.TLSData.CA, "cert.pem": ep.TLSData.Cert, "key.pem": ep.TLSData.Key} {
		if string(got) != string(files[name]) {
			t.Errorf("%s: %q, want %q", name, got, files[name])
		}
	}
}
