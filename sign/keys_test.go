package sign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// keyType is a kind of key cosign makes or imports.
type keyType struct {
	name string
	new  func() (crypto.Signer, error)
}

// keyTypes are the keys cosign v2 signs with: `cosign generate-key-pair`
// makes ECDSA P-256, `cosign import-key-pair` takes the others.
var keyTypes = []keyType{
	{"ECDSA P-256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
	{"ECDSA P-384", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }},
	{"ECDSA P-521", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) }},
	{"Ed25519", func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }},
	{"RSA 2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
}

// newKey makes a key of kt.
func newKey(t *testing.T, kt keyType) crypto.Signer {
	t.Helper()
	k, err := kt.new()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKeyTypes signs with each key type cosign signs with and checks that
// Verify accepts the signature, that cosign's verifier accepts it as
// `cosign verify --key` loads it (sigstore's LoadVerifier with SHA-256,
// cosign's default --signature-digest-algorithm), and that Verify accepts
// what `cosign sign --key` writes with that key (sigstore's default signer
// for the key, Ed25519ph for Ed25519, as cosign's LoadPrivateKey loads it).
func TestKeyTypes(t *testing.T) {
	ctx := context.Background()
	repo := testenv.MemoryRepository(t)
	for _, kt := range keyTypes {
		t.Run(kt.name, func(t *testing.T) {
			priv := newKey(t, kt)
			key, pub := testenv.CosignKeyPairOf(t, priv, "secret")
			s, v := loadKeys(t, key, pub, "secret")

			d := pushRandom(t, repo, "ours")
			if err := sign.Sign(ctx, repo, d, s); err != nil {
				t.Fatal(err)
			}
			if err := sign.Verify(ctx, repo, d, v); err != nil {
				t.Errorf("Verify of our signature: %v", err)
			}
			sig, pl := storedSignature(t, sign.SignatureTag(repo, d))
			cosignVerifier, err := signature.LoadVerifier(priv.Public(), crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if err := cosignVerifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pl)); err != nil {
				t.Errorf("our signature does not verify as cosign verify --key checks it: %v", err)
			}

			cosignSigner, err := signature.LoadDefaultSignerVerifier(priv, options.WithED25519ph())
			if err != nil {
				t.Fatal(err)
			}
			theirs := pushRandom(t, repo, "theirs")
			if err := sign.Sign(ctx, repo, theirs, cosignSigner); err != nil {
				t.Fatal(err)
			}
			if err := sign.Verify(ctx, repo, theirs, v); err != nil {
				t.Errorf("Verify of cosign sign's form: %v", err)
			}
			_, other := loadPair(t, "secret")
			oneLine(t, sign.Verify(ctx, repo, d, other), "verifies with key sha256:")
		})
	}
}

// TestKeyTypesCosignCannotUse: keys cosign refuses are refused when
// loaded, in one line naming the key, before anything is signed.
func TestKeyTypesCosignCannotUse(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func() (crypto.Signer, error)
		want string
	}{
		{"ECDSA P-224", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P224(), rand.Reader) }, "P-224"},
		{"RSA 1024", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 1024) }, "1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			priv := newKey(t, keyType{tc.name, tc.new})
			key, pub := testenv.CosignKeyPairOf(t, priv, "secret")
			_, err := sign.LoadSigner(key, []byte("secret"))
			oneLine(t, err, "private key "+key+": ")
			oneLine(t, err, tc.want)
			_, err = sign.LoadVerifier(pub)
			oneLine(t, err, "public key "+pub+": ")
			oneLine(t, err, tc.want)
		})
	}
}

// storedSignature returns the signature and payload of the only layer of
// the signature image tag.
func storedSignature(t *testing.T, tag name.Tag) (sig, payload []byte) {
	t.Helper()
	l, payload := signatureLayer(t, tag)
	sig, err := base64.StdEncoding.DecodeString(l.Annotations[sign.SignatureAnnotation])
	if err != nil {
		t.Fatal(err)
	}
	return sig, payload
}
