package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
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

// LoadSigner reads a private key file as `cosign generate-key-pair` or
// `cosign import-key-pair` writes it (PEM "ENCRYPTED SIGSTORE PRIVATE KEY",
// or the older "ENCRYPTED COSIGN PRIVATE KEY": a PKCS #8 key encrypted with
// scrypt and secretbox) and decrypts it with password, which cosign reads
// from COSIGN_PASSWORD. The key is one cosign signs with (ECDSA P-256, P-384
// or P-521, Ed25519, RSA of 2048, 3072 or 4096 bits); another is refused
// here, in one line. The signer signs in the form `cosign verify --key`
// checks by default (see [LoadVerifier]) and also verifies that form, which
// [Sign] uses to find its own signatures already stored. The password is
// never part of an error.
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
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key %s: %w", path, unsupported(key))
	}
	if err := supported(signer.Public()); err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	sv, err := signature.LoadSignerVerifierWithOpts(key, signForm...)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	return sv, nil
}

// LoadVerifier reads a public key file as `cosign generate-key-pair` writes
// it (cosign.pub, PEM "PUBLIC KEY"), of a type [LoadSigner] accepts, and
// returns a verifier that accepts two forms of signature: the form [Sign]
// writes, which is the one `cosign verify --key` checks by default (its
// --signature-digest-algorithm is sha256): SHA-256 with ECDSA, whatever the
// curve, and RSA (PKCS #1 v1.5), and pure Ed25519; and the form `cosign
// sign --key` writes (sigstore's default for the key, as cosign's
// LoadPrivateKey loads it): SHA-384 for P-384, SHA-512 for P-521 and
// Ed25519ph for Ed25519, the others as above.
func LoadVerifier(path string) (signature.Verifier, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(dt)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	if err := supported(pub); err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	v, err := newVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return v, nil
}

// signForm are the load options of the form [Sign] writes: SHA-256
// (sigstore's LoadSignerVerifierWithOpts then signs pure Ed25519), what
// `cosign verify --key` checks without --signature-digest-algorithm.
var signForm = []signature.LoadOption{options.WithHash(crypto.SHA256)}

// cosignSignForm are the load options cosign's LoadPrivateKey signs with,
// given to sigstore's LoadDefaultSignerVerifier: the hash the algorithm
// registry gives the key (SHA-256 for P-256 and RSA, SHA-384 for P-384,
// SHA-512 for P-521), Ed25519ph for Ed25519.
var cosignSignForm = []signature.LoadOption{options.WithED25519ph()}

// supported checks that pub is of a type cosign v2 signs with and imports
// (its import-key-pair's goodkey policy): ECDSA on P-256, P-384 or P-521,
// Ed25519, or RSA of 2048, 3072 or 4096 bits.
func supported(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
	case ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		switch k.Size() * 8 {
		case 2048, 3072, 4096:
			return nil
		}
	}
	return unsupported(pub)
}

// unsupported names what key is not one cosign signs with, and which are.
func unsupported(key any) error {
	what := fmt.Sprintf("a %T key", key)
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		what = "an ECDSA key on curve " + k.Curve.Params().Name
	case *rsa.PublicKey:
		what = fmt.Sprintf("an RSA key of %d bits", k.Size()*8)
	}
	return fmt.Errorf("%s, which cosign does not sign with: use ECDSA P-256 (cosign generate-key-pair), P-384 or P-521, Ed25519, or RSA of 2048, 3072 or 4096 bits", what)
}

// verifier accepts a signature in any of its forms, each a verifier of the
// same public key.
type verifier struct {
	pub   crypto.PublicKey
	forms []signature.Verifier
}

// newVerifier returns the verifier of pub's signatures in the form [Sign]
// writes and in the form cosign sign writes.
func newVerifier(pub crypto.PublicKey) (*verifier, error) {
	ours, err := signature.LoadVerifierWithOpts(pub, signForm...)
	if err != nil {
		return nil, err
	}
	theirs, err := signature.LoadDefaultVerifier(pub, cosignSignForm...)
	if err != nil {
		return nil, err
	}
	return &verifier{pub: pub, forms: []signature.Verifier{ours, theirs}}, nil
}

// PublicKey returns the public key the signatures are checked with.
func (v *verifier) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return v.pub, nil
}

// VerifySignature checks sig, a signature of message, in each form in turn;
// it returns nil when one accepts it, else the first form's error.
func (v *verifier) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	s, err := io.ReadAll(sig)
	if err != nil {
		return err
	}
	m, err := io.ReadAll(message)
	if err != nil {
		return err
	}
	var first error
	for _, f := range v.forms {
		err := f.VerifySignature(bytes.NewReader(s), bytes.NewReader(m), opts...)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
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
