package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imagebuild/imagebuild/daemon"
	"github.com/moby/buildkit/client"
	"github.com/spf13/pflag"
)

const defaultAddr = "unix:///run/buildkit/buildkitd.sock"

// daemonOptions are the flags of every command that talks to a BuildKit
// daemon, named as buildctl names them.
type daemonOptions struct {
	addr       string
	caCert     string
	cert       string
	key        string
	serverName string
	tlsDir     string
}

func (o *daemonOptions) addFlags(fs *pflag.FlagSet) {
	addr := os.Getenv("BUILDKIT_HOST")
	if addr == "" {
		addr = defaultAddr
	}
	fs.StringVar(&o.addr, "addr", addr, "BuildKit daemon address ($BUILDKIT_HOST): "+strings.Join(daemon.Schemes, "://, ")+"://")
	fs.StringVar(&o.caCert, "tlscacert", "", "CA certificate that signed the daemon's (PEM); connects with TLS")
	fs.StringVar(&o.cert, "tlscert", "", "client certificate (PEM), for a daemon that asks for one")
	fs.StringVar(&o.key, "tlskey", "", "client key (PEM)")
	fs.StringVar(&o.serverName, "tlsservername", "", "name the daemon's certificate must be valid for (default: the host in --addr)")
	fs.StringVar(&o.tlsDir, "tlsdir", "", "folder with ca.pem|ca.crt and, for a client certificate, cert.pem|tls.crt and key.pem|tls.key")
}

// daemon validates the flags and returns the daemon they name.
func (o *daemonOptions) daemon() (daemon.Config, error) {
	d := daemon.Config{Addr: o.addr, CACert: o.caCert, Cert: o.cert, Key: o.key, ServerName: o.serverName}
	if o.tlsDir != "" {
		if o.caCert != "" || o.cert != "" || o.key != "" {
			return d, usagef("--tlsdir and --tlscacert/--tlscert/--tlskey: give the folder or the files, not both")
		}
		var err error
		if d.CACert, d.Cert, d.Key, err = tlsFiles(o.tlsDir); err != nil {
			return d, err
		}
	}
	if err := d.Validate(); err != nil {
		if errors.Is(err, daemon.ErrUnknownScheme) {
			return d, usagef("--addr: %v", err)
		}
		return d, usagef("%v", err)
	}
	return d, nil
}

// tlsFiles finds the TLS files in dir under buildctl's names: the CA is
// needed, the client's certificate and key only together.
func tlsFiles(dir string) (ca, cert, key string, err error) {
	oneOf := func(names ...string) string {
		for _, n := range names {
			if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.Mode().IsRegular() {
				return filepath.Join(dir, n)
			}
		}
		return ""
	}
	ca, cert, key = oneOf("ca.pem", "ca.crt"), oneOf("cert.pem", "tls.crt"), oneOf("key.pem", "tls.key")
	switch {
	case ca == "":
		return "", "", "", usagef("--tlsdir %s: no ca.pem or ca.crt in it", dir)
	case cert != "" && key == "":
		return "", "", "", usagef("--tlsdir %s: %s without key.pem or tls.key", dir, filepath.Base(cert))
	case key != "" && cert == "":
		return "", "", "", usagef("--tlsdir %s: %s without cert.pem or tls.crt", dir, filepath.Base(key))
	}
	return ca, cert, key, nil
}

// connect connects to the daemon and checks that it answers.
func (o *daemonOptions) connect(ctx context.Context) (*client.Client, error) {
	d, err := o.daemon()
	if err != nil {
		return nil, err
	}
	c, err := daemon.Connect(ctx, d)
	return c, explainConnect(err, d.Addr)
}

// explainConnect says what to do when a daemon, at addr or a builder's,
// did not answer or wanted TLS.
func explainConnect(err error, addr string) error {
	switch {
	case errors.Is(err, daemon.ErrNoDaemon) && strings.HasPrefix(addr, "docker://"):
		return fmt.Errorf("%w; start Docker, or point --addr docker://HOST or DOCKER_HOST at a running engine", err)
	case errors.Is(err, daemon.ErrNoDaemon) && strings.HasPrefix(addr, "unix://") && strings.Contains(err.Error(), addr):
		return fmt.Errorf("%w; start one with 'make buildkitd' or point --addr or BUILDKIT_HOST at a running daemon", err)
	case errors.Is(err, daemon.ErrNoDaemon):
		return fmt.Errorf("%w; check that a daemon runs there and that --addr, --builder or BUILDKIT_HOST names it", err)
	case errors.Is(err, daemon.ErrTLSRequired):
		return fmt.Errorf("%w (--tlsdir DIR, or --tlscacert, --tlscert and --tlskey)", err)
	}
	return err
}
