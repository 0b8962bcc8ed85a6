package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/connhelper"
	"github.com/moby/buildkit/util/grpcerrors"
	"google.golang.org/grpc/codes"

	// BuildKit's connection helpers, registered for their schemes: each runs
	// `buildctl dial-stdio` on the far side.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/nerdctlcontainer"
	_ "github.com/moby/buildkit/client/connhelper/podmancontainer"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
)

// Schemes are the address schemes [Connect] reaches a daemon by: a unix
// socket, plain TCP (with TLS when the [Config] names files for it), a
// Docker Engine's own BuildKit (docker://, see [Engine]), and BuildKit's
// connection helpers.
var Schemes = []string{"unix", "tcp", "docker", "docker-container", "podman-container", "nerdctl-container", "kube-pod", "ssh"}

// Config says how to reach a BuildKit daemon: its address and, for a daemon
// behind TLS, the files that verify it and prove who the client is. The
// files are PEM, named as buildctl's --tlscacert, --tlscert and --tlskey.
type Config struct {
	// Addr is the daemon's address: unix:///PATH, tcp://HOST:PORT,
	// docker:// (the Docker Engine DOCKER_HOST or the current Docker
	// context names, else /var/run/docker.sock) or docker://HOST (the
	// engine at HOST, as DOCKER_HOST names it), reached as the docker CLI
	// reaches it (see [DialEngine]), docker-container://NAME, podman-container://NAME,
	// nerdctl-container://NAME, kube-pod://POD?namespace=NS&context=CTX or
	// ssh://USER@HOST[:PORT]/PATH/TO/buildkitd.sock.
	Addr string
	// CACert is the CA certificate that signed the daemon's certificate.
	// When set, the connection uses TLS and the daemon is verified with it.
	CACert string
	// Cert and Key are the client's certificate and key, for a daemon that
	// asks for one. Without CACert the daemon is verified with the system's
	// certificate authorities.
	Cert, Key string
	// ServerName is the name the daemon's certificate must be valid for;
	// default the host in Addr.
	ServerName string
}

// IsEngine reports whether the address is a Docker Engine's (docker://).
func (d Config) IsEngine() bool { return strings.HasPrefix(d.Addr, engineScheme) }

// Engine reaches the Docker Engine a docker:// address names.
func (d Config) Engine(ctx context.Context) (*Engine, error) {
	return dialEngine(ctx, d.Addr)
}

// TLS reports whether the connection uses TLS.
func (d Config) TLS() bool { return d.CACert != "" || d.Cert != "" || d.Key != "" }

// ErrUnknownScheme is returned for an address whose scheme no daemon is
// reached by.
var ErrUnknownScheme = errors.New("unknown scheme")

// Validate reports whether the address is one [Connect] can reach (a scheme
// in [Schemes], the parts that scheme needs, no password) and the TLS files
// exist, with a certificate and a key given together. It dials nothing.
func (d Config) Validate() error {
	u, err := url.Parse(d.Addr)
	scheme := ""
	if err == nil {
		scheme = u.Scheme
	}
	if err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return fmt.Errorf("buildkit address %q: a password in the address is not supported; ssh:// logs in with ssh's keys or agent", u.Redacted())
		}
	}
	if !slices.Contains(Schemes, scheme) {
		return fmt.Errorf("buildkit address %q: %w %q; BuildKit is reached by %s", d.Addr, ErrUnknownScheme, scheme, schemeList())
	}
	if scheme == "docker" {
		if d.TLS() {
			return fmt.Errorf("buildkit address %s: a Docker Engine is reached as docker reaches it (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), not with these TLS files", d.Addr)
		}
		// The engine's errors name the engine or the Docker context.
		ep, err := engineEndpoint(d.Addr)
		if err != nil {
			return err
		}
		if err := checkEngineTransport(ep); err != nil {
			if errors.Is(err, ErrInsecureEngine) {
				return err
			}
			return fmt.Errorf("buildkit address %s: %w", d.Addr, err)
		}
		return nil
	}
	switch {
	case scheme == "tcp" && u.Port() == "":
		return fmt.Errorf("buildkit address %q: want tcp://HOST:PORT", d.Addr)
	case scheme == "unix" && u.Path == "":
		return fmt.Errorf("buildkit address %q: want unix:///PATH/TO/buildkitd.sock", d.Addr)
	}
	// A connection helper reads its address when it is made; it runs
	// nothing until it dials.
	if _, err := connhelper.GetConnectionHelper(d.Addr); err != nil {
		return fmt.Errorf("buildkit address %q: %v", d.Addr, err)
	}
	if (d.Cert == "") != (d.Key == "") {
		return fmt.Errorf("buildkit address %s: a client certificate and its key go together; give both or neither", d.Addr)
	}
	for _, f := range []struct{ what, path string }{{"CA certificate", d.CACert}, {"client certificate", d.Cert}, {"client key", d.Key}} {
		if f.path == "" {
			continue
		}
		if fi, err := os.Stat(f.path); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("buildkit address %s: %s %s is not a readable file", d.Addr, f.what, f.path)
		}
	}
	return nil
}

func schemeList() string {
	s := make([]string, len(Schemes))
	for i, sc := range Schemes {
		s[i] = sc + "://"
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// serverName is ServerName, else the host in Addr, else (a unix socket)
// localhost.
func (d Config) serverName() string {
	if d.ServerName != "" {
		return d.ServerName
	}
	if u, err := url.Parse(d.Addr); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "localhost"
}

// answerTimeout is how long [Connect] waits for the daemon's first answer.
const answerTimeout = 10 * time.Second

// ErrNoDaemon is returned by [Connect] when no daemon answers at the address.
var ErrNoDaemon = errors.New("no BuildKit daemon answers")

// ErrLost is returned (wrapped) when the daemon stops answering
// during a build: it stopped, crashed or became unreachable. Nothing was
// written.
var ErrLost = errors.New("the BuildKit daemon went away during the build")

// Lost wraps err, from a call to the daemon, in [ErrLost] when the
// connection broke, with the reason and without gRPC's wrapping; else it
// returns err.
func Lost(err error) error {
	if err == nil || grpcerrors.Code(err) != codes.Unavailable {
		return err
	}
	return fmt.Errorf("%w (%s)", ErrLost, dialReason(err))
}

// AddrError is an error of the daemon at Addr, named by its address: a
// build on several daemons says which one failed.
type AddrError struct {
	Addr string
	Err  error
}

func (e *AddrError) Error() string { return "buildkit at " + e.Addr + ": " + e.Err.Error() }
func (e *AddrError) Unwrap() error { return e.Err }

// ErrTLSRequired is returned by [Connect] when the daemon was reached
// without TLS and speaks only TLS.
var ErrTLSRequired = errors.New("the daemon speaks TLS")

// Connect makes a client for the daemon and checks that the daemon answers,
// within a few seconds. A TLS handshake that fails is told apart: a daemon
// whose certificate the CA did not sign, a daemon that asks for a client
// certificate none was given for, a client certificate the daemon refuses.
func Connect(ctx context.Context, d Config) (*client.Client, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if d.IsEngine() {
		e, err := d.Engine(ctx)
		if err != nil {
			return nil, err
		}
		c, err := e.BuildKit(ctx)
		if err != nil {
			e.Close()
			return nil, err
		}
		return c, nil
	}
	if d.TLS() {
		if _, err := d.tlsConfig(); err != nil {
			return nil, fmt.Errorf("buildkit at %s: %w", d.Addr, err)
		}
	}
	var opts []client.ClientOpt
	switch {
	case d.CACert != "":
		opts = append(opts, client.WithServerConfig(d.serverName(), d.CACert))
	case d.Cert != "":
		opts = append(opts, client.WithServerConfigSystem(d.serverName()))
	}
	if d.Cert != "" {
		opts = append(opts, client.WithCredentials(d.Cert, d.Key))
	}
	c, err := client.New(ctx, d.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("buildkit at %s: %w", d.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	if _, err := c.Info(pctx); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if d.TLS() {
			if terr := d.handshake(ctx); terr != nil {
				return nil, terr
			}
		} else if d.speaksTLS(ctx) {
			return nil, fmt.Errorf("buildkit at %s: %w; connect with the CA that signed its certificate and, when it asks for one, a client certificate and key", d.Addr, ErrTLSRequired)
		}
		return nil, fmt.Errorf("%w at %s: %s", ErrNoDaemon, d.Addr, dialReason(err))
	}
	return c, nil
}

// helperExit is how BuildKit's connection helpers report a command (ssh,
// kubectl, docker) that ended before the daemon answered.
var helperExit = regexp.MustCompile(`(?s)command \[(.*?)\] has exited with (.*?), make sure the URL is valid.*?: stderr=(.*)$`)

// dialReason is why a call to the daemon failed, without gRPC's wrapping:
// the dial error, or the command a connection helper ran, how it ended and
// the last line it wrote on stderr.
func dialReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, `desc = "`); i >= 0 {
		if q, qerr := strconv.QuotedPrefix(msg[i+len("desc = "):]); qerr == nil {
			msg, _ = strconv.Unquote(q)
		}
	}
	msg = strings.TrimPrefix(msg, "transport: Error while dialing: ")
	msg = strings.TrimPrefix(msg, "error reading server preface: ")
	if m := helperExit.FindStringSubmatch(msg); m != nil {
		lines := strings.Split(strings.TrimSpace(m[3]), "\n")
		msg = fmt.Sprintf("%s exited with %s: %s", m[1], m[2], strings.TrimSpace(lines[len(lines)-1]))
	}
	return msg
}

// handshake dials the daemon as the client does and runs the TLS handshake
// alone, to tell why a TLS connection failed. It returns nil when the
// handshake succeeds or the daemon cannot be reached at all.
func (d Config) handshake(ctx context.Context) error {
	cfg, err := d.tlsConfig()
	if err != nil {
		return fmt.Errorf("buildkit at %s: %w", d.Addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	conn, err := d.dial(ctx)
	if err != nil {
		return nil
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	tc := tls.Client(conn, cfg)
	err = tc.HandshakeContext(ctx)
	if err == nil {
		// In TLS 1.3 the daemon judges the client's certificate after the
		// client's side of the handshake is done: its verdict is an alert
		// in place of the first bytes it sends (HTTP/2's settings).
		_, err = tc.Read(make([]byte, 1))
	}
	if err == nil {
		return nil
	}
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var remote *net.OpError
	switch {
	case errors.As(err, &unknownCA):
		if d.CACert == "" {
			return fmt.Errorf("buildkit at %s: TLS: the daemon's certificate is not signed by a certificate authority this system trusts; give the CA that signed it", d.Addr)
		}
		return fmt.Errorf("buildkit at %s: TLS: the daemon's certificate is not signed by the CA in %s", d.Addr, d.CACert)
	case errors.As(err, &badHost):
		return fmt.Errorf("buildkit at %s: TLS: the daemon's certificate is not valid for the server name %q (%v)", d.Addr, cfg.ServerName, err)
	case errors.As(err, &remote) && remote.Op == "remote error":
		switch remote.Err.Error() {
		case "tls: certificate required":
			return fmt.Errorf("buildkit at %s: TLS: the daemon asks for a client certificate and none was given", d.Addr)
		case "tls: bad certificate", "tls: unknown certificate authority":
			return fmt.Errorf("buildkit at %s: TLS: the daemon refused the client certificate %s (%v)", d.Addr, d.Cert, remote.Err)
		}
		return fmt.Errorf("buildkit at %s: TLS: the daemon ended the handshake: %v", d.Addr, remote.Err)
	case errors.As(err, new(tls.RecordHeaderError)), errors.Is(err, io.EOF):
		return fmt.Errorf("buildkit at %s: TLS: the daemon does not speak TLS (%v)", d.Addr, err)
	}
	return fmt.Errorf("buildkit at %s: TLS handshake: %v", d.Addr, err)
}

// speaksTLS reports whether the daemon answers a TLS handshake. The
// daemon's certificate is not checked: nothing is sent over the
// connection, which only tells a daemon behind TLS from one that is not.
func (d Config) speaksTLS(ctx context.Context) bool {
	if !strings.HasPrefix(d.Addr, "tcp://") {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	conn, err := d.dial(ctx)
	if err != nil {
		return false
	}
	defer conn.Close()
	err = tls.Client(conn, &tls.Config{ServerName: d.serverName(), InsecureSkipVerify: true}).HandshakeContext(ctx)
	var remote *net.OpError
	return err == nil || errors.As(err, &remote) && remote.Op == "remote error"
}

// tlsConfig is the client's TLS configuration, as BuildKit's client makes
// it from the same files.
func (d Config) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: d.serverName(), NextProtos: []string{"h2"}}
	if d.CACert != "" {
		pem, err := os.ReadFile(d.CACert)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s holds no PEM certificate", d.CACert)
		}
	}
	if d.Cert != "" {
		cert, err := tls.LoadX509KeyPair(d.Cert, d.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s and key %s: %w", d.Cert, d.Key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// dial opens a connection to the daemon as BuildKit's client does: through
// the scheme's connection helper, else to the socket or TCP address.
func (d Config) dial(ctx context.Context) (net.Conn, error) {
	ch, err := connhelper.GetConnectionHelper(d.Addr)
	if err != nil {
		return nil, err
	}
	if ch != nil {
		return ch.ContextDialer(ctx, d.Addr)
	}
	u, err := url.Parse(d.Addr)
	if err != nil {
		return nil, err
	}
	var dialer net.Dialer
	if u.Scheme == "unix" {
		return dialer.DialContext(ctx, "unix", u.Path)
	}
	return dialer.DialContext(ctx, "tcp", u.Host)
}
