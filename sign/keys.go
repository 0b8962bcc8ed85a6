package sign

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// The PEM types of the private keys cosign writes: cosign v2 writes
// SIGSTORE, older releases wrote COSIGN; the content is the same.
const (
	sigstorePrivateKeyType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	cosignPrivateKeyType   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// LoadSigner reads a private key file as `cosign generate-key-pair` writes
// it (PEM "ENCRYPTED SIGSTORE PRIVATE KEY", or the older "ENCRYPTED COSIGN
// PRIVATE KEY": a PKCS #8 key encrypted with scrypt and secretbox) and
// decrypts it with password, which cosign reads from COSIGN_PASSWORD. The
// signer hashes as cosign's does (SHA-256 for ECDSA P-256, Ed25519ph for
// Ed25519 keys), and also verifies, which [Sign] uses to find its own
// signatures already stored. The password is never part of an error.
func LoadSigner(path string, password []byte) (signature.SignerVerifier, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	block, _ := pem.Decode(dt)
	if block == nil {
		return nil, fmt.Errorf("private key %s: not PEM", path)
	}
	if block.Type != sigstorePrivateKeyType && block.Type != cosignPrivateKeyType {
		return nil, fmt.Errorf("private key %s: PEM type %q, want %q as cosign generate-key-pair writes", path, block.Type, sigstorePrivateKeyType)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		// The only error that is not about a damaged file is the
		// authentication failure of a wrong password.
		if err.Error() == "encrypted: decryption failed" {
			return nil, fmt.Errorf("private key %s: wrong password", path)
		}
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	// As cosign's LoadPrivateKey: its default load options.
	sv, err := signature.LoadDefaultSignerVerifier(key, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	return sv, nil
}

// LoadVerifier reads a public key file as `cosign generate-key-pair` writes
// it (cosign.pub, PEM "PUBLIC KEY") and returns a verifier that hashes as
// `cosign verify --key` does: SHA-256.
func LoadVerifier(path string) (signature.Verifier, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(dt)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return v, nil
}

// Fingerprint names the public key of v in messages: "sha256:" and the
// hex SHA-256 of its PKIX (DER) encoding, as `openssl pkey -pubin -outform
// DER | sha256sum` prints it.
func Fingerprint(v signature.PublicKeyProvider) (string, error) {
	pub, err := v.PublicKey()
	if err != nil {
		return "", err
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// keyName is [Fingerprint] for messages, or what is wrong with the key.
func keyName(v signature.Verifier) string {
	fp, err := Fingerprint(v)
	if err != nil {
		return fmt.Sprintf("(unreadable public key: %v)", err)
	}
	return fp
}
