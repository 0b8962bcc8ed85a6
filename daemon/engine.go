package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	dockerclient "github.com/moby/moby/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultEngineHost is where a Docker Engine listens when neither
// DOCKER_HOST nor a Docker context names another.
const DefaultEngineHost = "unix:///var/run/docker.sock"

// engineScheme is the address scheme of a Docker Engine's BuildKit:
// docker:// alone is the default engine, docker://HOST the engine at HOST
// as DOCKER_HOST names it (docker://unix:///run/docker.sock,
// docker://tcp://host:2376, docker://ssh://user@host).
const engineScheme = "docker://"

// Engine is a Docker Engine reached through its API: the BuildKit it embeds
// builds, reached through the API's /grpc and /session endpoints as
// buildx's docker driver reaches it, and its image store takes what a build
// loads.
type Engine struct {
	// Host is the engine's address, as DOCKER_HOST names it.
	Host string
	// Version is the engine's version; APIVersion its API's.
	Version, APIVersion string
	api                 *dockerclient.Client
	buildkit            *client.Client
	// containerdStore is whether the engine keeps images in containerd's
	// image store (which holds indexes, and whose BuildKit has the merge
	// and diff ops), found when its BuildKit is reached.
	containerdStore bool
}

// noEngine is an [ErrNoDaemon] for a Docker Engine: it names the engine.
type noEngine string

func (e noEngine) Error() string        { return string(e) }
func (e noEngine) Is(target error) bool { return target == ErrNoDaemon }

// ErrEngineTooOld is returned (wrapped) for a Docker Engine whose BuildKit
// cannot build imagebuild's graphs.
var ErrEngineTooOld = errors.New("the Docker Engine cannot build imagebuild's graphs")

// minEngine is the first Docker Engine release whose BuildKit has the merge
// and diff ops (BuildKit 0.11, Docker Engine 23.0).
const minEngine = 23

// DialEngine reaches the Docker Engine at host ("" for the default: see
// the docker:// scheme) as the docker CLI reaches it, and asks its
// version, within a few seconds. TLS is the environment's
// (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) or, for the default engine, the
// current Docker context's; ssh://USER@HOST runs `docker system
// dial-stdio` there through ssh. An engine on another machine reached by
// plain tcp://, or by TLS that does not verify it, is refused
// ([ErrInsecureEngine]) before anything is dialed.
func DialEngine(ctx context.Context, host string) (*Engine, error) {
	return dialEngine(ctx, engineScheme+host)
}

// dialEngine reaches the engine a docker:// address names.
func dialEngine(ctx context.Context, addr string) (*Engine, error) {
	ep, err := engineTarget(addr)
	if err != nil {
		return nil, err
	}
	host := ep.Host
	opts, err := ep.ClientOpts()
	if err != nil {
		return nil, fmt.Errorf("docker engine at %s: %w", host, err)
	}
	api, err := dockerclient.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker engine at %s: %w", host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	v, err := api.ServerVersion(pctx, dockerclient.ServerVersionOptions{})
	if err != nil {
		api.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if terr := engineTLSError(host, ep.TLSData != nil || ep.SkipTLSVerify, err); terr != nil {
			return nil, terr
		}
		reason := err
		var op *net.OpError
		if errors.As(err, &op) {
			reason = op
		}
		return nil, noEngine(fmt.Sprintf("no Docker Engine answers at %s (%s)", host, oneLine(reason)))
	}
	return &Engine{Host: host, Version: v.Version, APIVersion: v.APIVersion, api: api}, nil
}

// engineTLSError tells an engine that answered but whose TLS handshake
// failed (the certificate does not verify, the engine refused the
// client's) from one that does not answer, and an engine that speaks TLS
// from a client that does not; else it returns nil.
func engineTLSError(host string, withTLS bool, err error) error {
	var verify *tls.CertificateVerificationError
	var remote *net.OpError
	var header tls.RecordHeaderError
	switch {
	case !withTLS && strings.Contains(err.Error(), "HTTP request to an HTTPS server"):
		return fmt.Errorf("docker engine at %s: the engine speaks TLS; set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), or use a Docker context with TLS", host)
	case !withTLS:
		return nil
	case errors.As(err, &verify):
		return fmt.Errorf("docker engine at %s: TLS: the engine's certificate does not verify with the CA given (%v)", host, verify.Err)
	case errors.As(err, &remote) && remote.Op == "remote error":
		return fmt.Errorf("docker engine at %s: TLS: the engine ended the handshake (%v); it may want a client certificate (cert.pem and key.pem) signed by the CA it trusts", host, remote.Err)
	case errors.As(err, &header), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("docker engine at %s: TLS: the engine does not speak TLS", host)
	}
	return nil
}

// BuildKit returns a client for the engine's BuildKit, having checked that
// it can build imagebuild's graphs: an engine of 23.0 or later (older ones
// embed a BuildKit without the merge op, and without the calls a client
// probes a daemon with), whose images are in containerd's image store (an
// engine on a graph driver store disables the merge and diff ops in its
// BuildKit). It refuses others in one line naming the engine's version and
// what it lacks.
func (e *Engine) BuildKit(ctx context.Context) (*client.Client, error) {
	major, _, _ := strings.Cut(e.Version, ".")
	if n, err := strconv.Atoi(major); err == nil && n < minEngine {
		return nil, fmt.Errorf("docker engine %s at %s: %w: its %s has no merge op, with which every image is made; upgrade the engine to 23.0 or later on the containerd image store, or build on a buildkitd (--addr unix://... or tcp://...)", e.Version, e.Host, ErrEngineTooOld, embeddedBuildKit(e.Version))
	}
	c, err := client.New(ctx, "",
		client.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return e.api.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		client.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return e.api.DialHijack(ctx, "/session", proto, meta)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("docker engine %s at %s: %w", e.Version, e.Host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	workers, err := c.ListWorkers(pctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("docker engine %s at %s: its BuildKit does not answer: %v", e.Version, e.Host, oneLine(err))
	}
	for _, w := range workers {
		if _, ok := w.Labels["org.mobyproject.buildkit.worker.snapshotter"]; ok {
			e.containerdStore = true
		}
	}
	if !e.containerdStore {
		c.Close()
		return nil, fmt.Errorf("docker engine %s at %s: %w: it keeps images in a graph driver store, whose BuildKit has no merge and diff ops; switch it to the containerd image store (\"features\": {\"containerd-snapshotter\": true} in daemon.json), or build on a buildkitd", e.Version, e.Host, ErrEngineTooOld)
	}
	e.buildkit = c
	engines.Store(c, e)
	return c, nil
}

// engines are the engines whose BuildKit clients [Engine.BuildKit] made,
// by client.
var engines sync.Map

// EngineOf returns the Docker Engine whose BuildKit c is, or nil when c is
// not a Docker Engine's.
func EngineOf(c *client.Client) *Engine {
	if e, ok := engines.Load(c); ok {
		return e.(*Engine)
	}
	return nil
}

// embeddedBuildKit is the BuildKit an engine release before 23.0 embeds.
func embeddedBuildKit(version string) string {
	switch {
	case strings.HasPrefix(version, "20.10."):
		return "BuildKit 0.8"
	case strings.HasPrefix(version, "19.03."):
		return "BuildKit 0.6"
	case strings.HasPrefix(version, "18.09."):
		return "BuildKit 0.3"
	}
	return "a BuildKit before 0.11"
}

// Builds reports whether c is the engine's own BuildKit, which can export
// into the engine's image store itself.
func (e *Engine) Builds(c *client.Client) bool { return e != nil && c != nil && c == e.buildkit }

// HoldsIndexes reports whether the engine's image store holds an image
// index (several platforms): containerd's image store does, a graph
// driver store does not. It is known once the engine's BuildKit has been
// reached, or an image inspected.
func (e *Engine) HoldsIndexes() bool { return e.containerdStore }

// Load loads a docker tarball (docker save's format) into the engine's
// image store.
func (e *Engine) Load(ctx context.Context, tarball io.Reader) error {
	res, err := e.api.ImageLoad(ctx, tarball, dockerclient.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("docker engine at %s: load: %w", e.Host, err)
	}
	defer res.Close()
	// The engine reports a failed load in the stream, not the status.
	dec := json.NewDecoder(res)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("docker engine at %s: load: %w", e.Host, err)
		}
		if m.Error != "" {
			return fmt.Errorf("docker engine at %s: load: %s", e.Host, m.Error)
		}
	}
}

// LoadedImage is what the engine's image store holds under a name.
type LoadedImage struct {
	// ID is the image's ID: the digest of its manifest or index in
	// containerd's image store, of its config in a graph driver store.
	ID string
	// Manifests are, where the engine lists them (API 1.48 and later),
	// the digests of the image's platform manifests, by platform.
	Manifests map[string]string
}

// Image inspects the image the engine holds under name.
func (e *Engine) Image(ctx context.Context, name string) (LoadedImage, error) {
	var opts []dockerclient.ImageInspectOption
	manifests := e.apiAtLeast(1, 48)
	if manifests {
		opts = append(opts, dockerclient.ImageInspectWithManifests(true))
	}
	res, err := e.api.ImageInspect(ctx, name, opts...)
	if err != nil {
		return LoadedImage{}, fmt.Errorf("docker engine at %s: inspect %s: %w", e.Host, name, err)
	}
	out := LoadedImage{ID: res.ID}
	if manifests {
		out.Manifests = map[string]string{}
		for _, m := range res.Manifests {
			if m.Kind == "image" && m.Descriptor.Platform != nil {
				out.Manifests[platformID(*m.Descriptor.Platform)] = m.Descriptor.Digest.String()
			}
		}
		if res.Descriptor != nil {
			e.containerdStore = true
		}
	}
	return out, nil
}

// apiAtLeast reports whether the engine's API is major.minor or later.
func (e *Engine) apiAtLeast(major, minor int) bool {
	ma, mi, _ := strings.Cut(e.APIVersion, ".")
	a, err1 := strconv.Atoi(ma)
	b, err2 := strconv.Atoi(mi)
	return err1 == nil && err2 == nil && (a > major || a == major && b >= minor)
}

// platformID is how BuildKit names a platform: linux/arm64.
func platformID(p ocispecs.Platform) string { return platforms.FormatAll(platforms.Normalize(p)) }

// Close closes the engine's clients.
func (e *Engine) Close() error {
	if e.buildkit != nil {
		engines.Delete(e.buildkit)
		e.buildkit.Close()
	}
	return e.api.Close()
}

// oneLine is s on one line.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
