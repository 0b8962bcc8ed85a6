package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Tripwire returns a daemon address, tcp://127.0.0.1:PORT, whose listener
// fails the test when anything connects to it: for checks that are made
// before a daemon is contacted. A connection is closed at once, so a client
// that connects fails fast instead of waiting for an answer.
func Tripwire(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp://" + l.Addr().String()
	conns := make(chan int)
	go func() {
		n := 0
		for {
			c, err := l.Accept()
			if err != nil {
				conns <- n
				return
			}
			n++
			c.Close()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		if n := <-conns; n > 0 {
			t.Errorf("%d connection(s) reached the daemon address %s, where nothing may connect", n, addr)
		}
	})
	return addr
}

// TLSDaemon is a second buildkitd, started by a test, that listens on
// tcp://127.0.0.1 and asks for mutual TLS.
type TLSDaemon struct {
	// Addr is tcp://127.0.0.1:PORT.
	Addr string
	// Socket is the path of the same daemon's unix socket, without TLS.
	Socket string
	// ClientDir holds the client's files as buildctl's --tlsdir reads them:
	// ca.pem (the CA that signed the daemon's and the client's
	// certificates), cert.pem and key.pem (the client's).
	ClientDir string
	// OtherCA is a CA certificate that signed neither.
	OtherCA string
	// ServerName is a DNS name the daemon's certificate is valid for,
	// besides 127.0.0.1.
	ServerName string
	// Kill kills the daemon at once (SIGKILL), as a crash or an OOM kill
	// would, and waits for it to exit.
	Kill func()
}

// StartTLSDaemon makes a CA and certificates for a daemon and a client,
// starts buildkitd as root with its own root folder, listening on a free
// loopback port with mutual TLS and on a unix socket, and stops it when the
// test ends. args are more of buildkitd's flags.
func StartTLSDaemon(t testing.TB, args ...string) *TLSDaemon {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "starting buildkitd needs root")
	}
	bin := filepath.Join(filepath.Dir(Buildctl(t)), "buildkitd")
	dir := t.TempDir()
	d := &TLSDaemon{
		Addr:       fmt.Sprintf("tcp://127.0.0.1:%d", FreePort(t)),
		ClientDir:  filepath.Join(dir, "client"),
		OtherCA:    filepath.Join(dir, "other-ca.pem"),
		ServerName: "buildkitd.test",
		Socket:     filepath.Join(dir, "buildkitd.sock"),
	}
	serverDir := filepath.Join(dir, "server")
	for _, p := range []string{d.ClientDir, serverDir} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ca := newCA(t, "imagebuild test CA")
	ca.writeCert(t, filepath.Join(d.ClientDir, "ca.pem"))
	ca.writeCert(t, filepath.Join(serverDir, "ca.pem"))
	newCA(t, "another CA").writeCert(t, d.OtherCA)
	server := ca.issue(t, "buildkitd", x509.ExtKeyUsageServerAuth, []string{d.ServerName}, net.IPv4(127, 0, 0, 1))
	server.writeCert(t, filepath.Join(serverDir, "cert.pem"))
	server.writeKey(t, filepath.Join(serverDir, "key.pem"))
	cl := ca.issue(t, "imagebuild test client", x509.ExtKeyUsageClientAuth, nil, nil)
	cl.writeCert(t, filepath.Join(d.ClientDir, "cert.pem"))
	cl.writeKey(t, filepath.Join(d.ClientDir, "key.pem"))

	logf, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--root", filepath.Join(dir, "root"), "--addr", d.Addr, "--addr", "unix://" + d.Socket,
		"--tlscacert", filepath.Join(serverDir, "ca.pem"),
		"--tlscert", filepath.Join(serverDir, "cert.pem"),
		"--tlskey", filepath.Join(serverDir, "key.pem"),
		"--otel-socket-path", filepath.Join(dir, "otel.sock"),
		"--oci-worker=true", "--containerd-worker=false"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start buildkitd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	d.Kill = func() {
		cmd.Process.Kill()
		<-exited
		// What the daemon ran goes on without it: end the processes of its
		// containers and take away its mounts, so its folder can go.
		reap(t, dir)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	c, err := client.New(context.Background(), d.Addr,
		client.WithServerConfig("", filepath.Join(d.ClientDir, "ca.pem")),
		client.WithCredentials(filepath.Join(d.ClientDir, "cert.pem"), filepath.Join(d.ClientDir, "key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		ictx, icancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Info(ictx)
		icancel()
		if err == nil {
			return d
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
			t.Fatalf("buildkitd on %s exited: %s", d.Addr, lastLines(string(log), 10))
		case <-ctx.Done():
			log, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
			t.Fatalf("buildkitd on %s did not answer within a minute (%v): %s", d.Addr, err, lastLines(string(log), 10))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// certKey is a certificate and its private key.
type certKey struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t testing.TB, name string) certKey {
	t.Helper()
	return makeCert(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, certKey{})
}

// issue makes a leaf certificate signed by ca, for the given use, names and IP.
func (ca certKey) issue(t testing.TB, name string, use x509.ExtKeyUsage, dnsNames []string, ip net.IP) certKey {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{use},
		DNSNames:    dnsNames,
	}
	if ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	return makeCert(t, tmpl, ca)
}

// makeCert signs tmpl with parent, or with its own key when parent is empty.
func makeCert(t testing.TB, tmpl *x509.Certificate, parent certKey) certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signer, signerKey := tmpl, key
	if parent.cert != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certKey{cert: cert, key: key}
}

func (ck certKey) writeCert(t testing.TB, path string) {
	t.Helper()
	writePEM(t, path, "CERTIFICATE", ck.cert.Raw)
}

func (ck certKey) writeKey(t testing.TB, path string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(ck.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "PRIVATE KEY", der)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// SSHServer is Debian's sshd, started by a test on a loopback port. It lets
// root in with a key the test made, and puts BuildKit's binaries first on
// the remote PATH, so that `buildctl dial-stdio` runs there as BuildKit's
// ssh:// connection helper expects.
type SSHServer struct {
	// Port is the port sshd listens on, on 127.0.0.1.
	Port int
	// Bin is a folder with an ssh that logs in with the test's key and
	// checks the server's host key; the test puts it first on PATH, as a
	// user's ~/.ssh/config would set the same.
	Bin string
}

// StartSSHD makes a host key and a client key, starts sshd with its own
// configuration, and stops it when the test ends.
func StartSSHD(t testing.TB) *SSHServer {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "starting sshd needs root")
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if sshd, err = exec.LookPath("/usr/sbin/sshd"); err != nil {
			Unavailable(t, "sshd not found; install Debian's openssh-server (apt-get install openssh-server)")
		}
	}
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		Unavailable(t, "ssh not found; install Debian's openssh-client")
	}
	buildctl := Buildctl(t)
	// sshd refuses to start without its privilege separation folder.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &SSHServer{Port: FreePort(t), Bin: filepath.Join(dir, "bin")}
	for _, k := range []string{"host_key", "id_ed25519"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", k, "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	read := func(name string) string {
		dt, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(dt))
	}
	path := filepath.Dir(buildctl) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	files := map[string]string{
		"authorized_keys": fmt.Sprintf("environment=\"PATH=%s\" %s\n", path, read("id_ed25519.pub")),
		"known_hosts":     fmt.Sprintf("[127.0.0.1]:%d %s\n", s.Port, read("host_key.pub")),
		"sshd_config": fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserEnvironment PATH
StrictModes no
UsePAM no
`, s.Port, filepath.Join(dir, "host_key"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys")),
		"ssh_config": fmt.Sprintf(`Host 127.0.0.1
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
  BatchMode yes
`, filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "known_hosts")),
		"bin/ssh": fmt.Sprintf("#!/bin/sh\nexec %s -F %s \"$@\"\n", sshBin, filepath.Join(dir, "ssh_config")),
	}
	if err := os.Mkdir(s.Bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(s.Bin, "ssh"), 0o755); err != nil {
		t.Fatal(err)
	}

	logf, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port))
		if err == nil {
			conn.Close()
			return s
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			t.Fatalf("sshd exited: %s", lastLines(string(log), 10))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd does not listen on 127.0.0.1:%d: %v", s.Port, err)
		}
	}
}
