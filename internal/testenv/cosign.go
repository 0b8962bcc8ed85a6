package testenv

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Cosign returns the path of the cosign v2 that tools/cosign pins, built
// once by scripts/cosign.sh from the Go module proxy and cached. With -short
// the test is skipped (make unit); without cosign it is skipped with the
// reason, or failed where integration tests are [Required].
func Cosign(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short (make unit)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, err := script(ctx, "cosign.sh")
	if err != nil {
		Unavailable(t, "cosign not available: %v", err)
	}
	return bin
}

// CosignPassword is the password of the keys [CosignCLI] generates: what
// cosign and imagebuild read from COSIGN_PASSWORD.
const CosignPassword = "interop password"

// CosignCLI runs the cosign v2 that tools/cosign pins, offline: in a folder
// of its own (Dir, where generate-key-pair writes cosign.key and
// cosign.pub), with its home and TUF cache there too, and with a trusted
// root that trusts nothing, so that it does not fetch Sigstore's
// (key-based verification with --insecure-ignore-tlog needs none).
type CosignCLI struct {
	Dir string
	bin string
	env []string
}

// NewCosignCLI returns a [CosignCLI] in a new folder.
func NewCosignCLI(t testing.TB) *CosignCLI {
	t.Helper()
	c := &CosignCLI{bin: Cosign(t), Dir: t.TempDir()}
	home := t.TempDir()
	c.env = append(os.Environ(),
		"COSIGN_PASSWORD="+CosignPassword,
		"HOME="+home,
		"TUF_ROOT="+filepath.Join(home, "tuf"),
		"DOCKER_CONFIG="+filepath.Join(home, "docker"),
	)
	if err := os.WriteFile(filepath.Join(c.Dir, "trusted_root.json"), []byte(emptyTrustedRoot), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// emptyTrustedRoot is a Sigstore trusted root with no authorities, logs or
// timestamping services.
const emptyTrustedRoot = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`

// Run runs cosign with args in Dir and returns its output (stdout and
// stderr), which it logs.
func (c *CosignCLI) Run(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir, cmd.Env = c.Dir, c.env
	out, err := cmd.CombinedOutput()
	t.Logf("cosign %s:\n%s", strings.Join(args, " "), out)
	return string(out), err
}

// Verify runs `cosign verify --key pub ref` as it runs offline against a
// registry on 127.0.0.1 over plain HTTP, without a transparency log.
func (c *CosignCLI) Verify(t testing.TB, pub, ref string) (string, error) {
	t.Helper()
	return c.Run(t, "verify", "--key", pub, "--insecure-ignore-tlog=true", "--trusted-root", "trusted_root.json", "--allow-http-registry", ref)
}

// Sign runs `cosign sign --key key ref` without a transparency log.
func (c *CosignCLI) Sign(t testing.TB, key, ref string) (string, error) {
	t.Helper()
	return c.Run(t, "sign", "--key", key, "--tlog-upload=false", "-y", "--allow-http-registry", ref)
}

// CosignKeyPair writes an ECDSA P-256 key pair as `cosign
// generate-key-pair` does, the private key encrypted with password, and
// returns the files' paths (see [CosignKeyPairOf]).
func CosignKeyPair(t testing.TB, password string) (key, pub string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return CosignKeyPairOf(t, priv, password)
}

// CosignKeyPairOf writes priv's key pair as `cosign generate-key-pair` and
// `cosign import-key-pair` write one: PKCS #8 encrypted with password by
// go-securesystemslib's encrypted, as PEM "ENCRYPTED SIGSTORE PRIVATE KEY",
// and the public key as PEM "PUBLIC KEY"; it returns the files' paths.
func CosignKeyPairOf(t testing.TB, priv crypto.Signer, password string) (key, pub string) {
	t.Helper()
	der, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, cryptoutils.StaticPasswordFunc([]byte(password)))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, pub = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(key, cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, der), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, pub
}
