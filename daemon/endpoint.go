package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/connhelper"
	dockercontext "github.com/docker/cli/cli/context"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	dockerclient "github.com/moby/moby/client"
)

// defaultTLSEngineHost is where docker looks for an engine when the
// environment asks for TLS and names no host.
const defaultTLSEngineHost = "tcp://localhost:2376"

// ErrInsecureEngine is returned (wrapped) for a Docker Engine on another
// machine that would be reached by plain tcp://, or by TLS that does not
// verify the engine's certificate: the build's secrets and registry
// credentials go over that connection.
var ErrInsecureEngine = errors.New("a Docker Engine on another machine reached without TLS that verifies it")

// insecureEngine is an [ErrInsecureEngine] that says what to do.
type insecureEngine string

func (e insecureEngine) Error() string        { return string(e) }
func (e insecureEngine) Is(target error) bool { return target == ErrInsecureEngine }

// engineTarget is the engine a docker:// address names and how to reach
// it ([engineEndpoint]), having checked that the way is one a build may
// take ([checkEngineTransport]). It dials nothing.
func engineTarget(addr string) (docker.Endpoint, error) {
	ep, err := engineEndpoint(addr)
	if err != nil {
		return ep, err
	}
	return ep, checkEngineTransport(ep)
}

// engineEndpoint is the engine a docker:// address names and how to reach
// it, as the docker CLI resolves its own:
//   - docker://HOST: HOST, with the environment's TLS;
//   - docker:// alone: DOCKER_HOST with the environment's TLS; else the
//     Docker context DOCKER_CONTEXT or the config's currentContext names,
//     its engine host and the TLS material its store keeps; else
//     [DefaultEngineHost] (tcp://localhost:2376 when the environment asks
//     for TLS, as docker's default).
//
// The environment asks for TLS as docker and moby's client.FromEnv read
// it: DOCKER_TLS_VERIFY (TLS, and the engine's certificate verified),
// DOCKER_TLS or DOCKER_CERT_PATH (TLS); the files are ca.pem and, when
// both are there, cert.pem and key.pem, in DOCKER_CERT_PATH else the
// Docker config folder. A socket or ssh:// takes no TLS.
func engineEndpoint(addr string) (docker.Endpoint, error) {
	if host := strings.TrimPrefix(addr, engineScheme); host != "" {
		return envEndpoint(host)
	}
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		return envEndpoint(host)
	}
	name := os.Getenv("DOCKER_CONTEXT")
	if name == "" {
		if cf, err := config.Load(dockerConfigDir()); err == nil {
			name = cf.CurrentContext
		}
	}
	if name == "" || name == "default" {
		return envEndpoint("")
	}
	contexts := filepath.Join(dockerConfigDir(), "contexts")
	s := store.New(contexts, store.NewConfig(func() any { return &map[string]any{} },
		store.EndpointTypeGetter(docker.DockerEndpoint, func() any { return &docker.EndpointMeta{} })))
	meta, err := s.GetMetadata(name)
	if errors.Is(err, fs.ErrNotExist) {
		return docker.Endpoint{}, fmt.Errorf("docker context %q: not in %s; 'docker context ls' lists the contexts", name, contexts)
	}
	if err != nil {
		return docker.Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	epMeta, err := docker.EndpointFromContext(meta)
	if err != nil || epMeta.Host == "" {
		return docker.Endpoint{}, fmt.Errorf("docker context %q names no engine host", name)
	}
	ep, err := docker.WithTLSData(s, name, epMeta)
	if err != nil {
		return docker.Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	return ep, nil
}

// envEndpoint is the engine at host ("" for docker's default) with the
// TLS the environment asks for (see [engineEndpoint]).
func envEndpoint(host string) (docker.Endpoint, error) {
	verify := os.Getenv("DOCKER_TLS_VERIFY") != ""
	certPath := os.Getenv("DOCKER_CERT_PATH")
	useTLS := verify || certPath != "" || os.Getenv("DOCKER_TLS") != ""
	switch {
	case host != "":
	case useTLS:
		host = defaultTLSEngineHost
	default:
		host = DefaultEngineHost
	}
	ep := docker.Endpoint{EndpointMeta: docker.EndpointMeta{Host: host}}
	if !useTLS || !strings.HasPrefix(host, "tcp://") {
		return ep, nil
	}
	dir, from := certPath, "DOCKER_CERT_PATH="+certPath
	if dir == "" {
		dir = dockerConfigDir()
		from = "the Docker config folder " + dir
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return ep, fmt.Errorf("docker engine at %s: TLS from %s: %w; the CA that signed the engine's certificate goes there as ca.pem", host, from, err)
	}
	cert, certErr := os.ReadFile(filepath.Join(dir, "cert.pem"))
	key, keyErr := os.ReadFile(filepath.Join(dir, "key.pem"))
	switch {
	case certErr == nil && keyErr == nil:
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
		cert, key = nil, nil
	case certErr != nil:
		return ep, fmt.Errorf("docker engine at %s: TLS from %s: %w (a client certificate and its key go together)", host, from, certErr)
	default:
		return ep, fmt.Errorf("docker engine at %s: TLS from %s: %w (a client certificate and its key go together)", host, from, keyErr)
	}
	ep.SkipTLSVerify = !verify
	ep.TLSData = &dockercontext.TLSData{CA: ca, Cert: cert, Key: key}
	return ep, nil
}

// dockerConfigDir is the Docker config folder: DOCKER_CONFIG, else
// ~/.docker. (The docker CLI's config.Dir reads DOCKER_CONFIG once per
// process.)
func dockerConfigDir() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return dir
	}
	return config.Dir()
}

// checkEngineTransport checks that the engine's host is one docker
// reaches (unix://, npipe://, tcp:// or ssh://) and refuses an engine on
// another machine reached by plain tcp://, or by TLS that does not verify
// its certificate: the build's secrets and registry credentials would go
// over that connection. Loopback (127.0.0.0/8, ::1, localhost), sockets
// and ssh:// are allowed.
func checkEngineTransport(ep docker.Endpoint) error {
	u, err := dockerclient.ParseHostURL(ep.Host)
	if err != nil {
		return fmt.Errorf("docker host %q: want unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST", ep.Host)
	}
	switch u.Scheme {
	case "unix", "npipe":
		return nil
	case "ssh":
		// The connection helper reads its address when it is made; it
		// runs ssh only when it dials.
		if _, err := connhelper.GetConnectionHelper(ep.Host); err != nil {
			return fmt.Errorf("docker host %q: %w", ep.Host, err)
		}
		return nil
	case "tcp":
	default:
		return fmt.Errorf("docker host %q: want unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST", ep.Host)
	}
	if isLoopback(u.Hostname()) {
		return nil
	}
	switch {
	case ep.TLSData == nil && !ep.SkipTLSVerify:
		return insecureEngine(fmt.Sprintf("docker engine at %s: plain tcp:// to another machine is refused: the build's secrets, registry credentials and images would cross the network in the clear, to whoever answers; set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), use a Docker context with TLS, or reach the engine by ssh://USER@HOST", ep.Host))
	case ep.SkipTLSVerify:
		return insecureEngine(fmt.Sprintf("docker engine at %s: TLS that does not verify the engine's certificate is refused for another machine: whoever sits between could take the build's secrets, registry credentials and images; set DOCKER_TLS_VERIFY=1 with the CA that signed the engine's certificate in DOCKER_CERT_PATH/ca.pem (or a context that verifies it), or reach the engine by ssh://USER@HOST", ep.Host))
	}
	return nil
}

// isLoopback reports whether host names this machine: localhost, or an
// address in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
