package sign_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/sign"
	"github.com/sigstore/sigstore/pkg/signature"
)

// pushRandom pushes a random image to repo:tag and returns its digest.
func pushRandom(t *testing.T, repo name.Repository, tag string) v1.Hash {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag(tag), img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// loadPair loads a key pair that testenv.CosignKeyPair wrote.
func loadPair(t *testing.T, password string) (signature.Signer, signature.Verifier) {
	t.Helper()
	key, pub := testenv.CosignKeyPair(t, password)
	return loadKeys(t, key, pub, password)
}

// loadKeys loads the private key file key, encrypted with password, and
// the public key file pub.
func loadKeys(t *testing.T, key, pub, password string) (signature.Signer, signature.Verifier) {
	t.Helper()
	s, err := sign.LoadSigner(key, []byte(password))
	if err != nil {
		t.Fatalf("LoadSigner %s: %v", key, err)
	}
	v, err := sign.LoadVerifier(pub)
	if err != nil {
		t.Fatalf("LoadVerifier %s: %v", pub, err)
	}
	return s, v
}

// sigManifest returns the signature image's manifest.
func sigManifest(t *testing.T, repo name.Repository, d v1.Hash) *v1.Manifest {
	t.Helper()
	img, err := remote.Image(sign.SignatureTag(repo, d))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// signatureLayer returns the descriptor and the content (the payload) of
// the only layer of the signature image tag.
func signatureLayer(t *testing.T, tag name.Tag) (v1.Descriptor, []byte) {
	t.Helper()
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("%s: %d signature layers, want 1", tag, len(m.Layers))
	}
	layer, err := img.LayerByDigest(m.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	pl, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers[0], pl
}

func oneLine(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, want) {
		t.Fatalf("error %q: want one line containing %q", msg, want)
	}
}

func TestSignStoresWhatCosignStores(t *testing.T) {
	ctx := context.Background()
	repo := testenv.MemoryRepository(t)
	d := pushRandom(t, repo, "v1")
	s, v := loadPair(t, "secret")
	if err := sign.Sign(ctx, repo, d, s); err != nil {
		t.Fatal(err)
	}
	if err := sign.Verify(ctx, repo, d, v); err != nil {
		t.Fatalf("Verify after Sign: %v", err)
	}

	if got, want := sign.SignatureTag(repo, d).TagStr(), "sha256-"+d.Hex+".sig"; got != want {
		t.Errorf("signature tag %q, want %q", got, want)
	}
	m := sigManifest(t, repo, d)
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %s with config %s, want %s with %s as cosign writes", m.MediaType, m.Config.MediaType, types.OCIManifestSchema1, types.OCIConfigJSON)
	}
	l, pl := signatureLayer(t, sign.SignatureTag(repo, d))
	if l.MediaType != sign.SimpleSigningMediaType {
		t.Errorf("layer media type %s, want %s", l.MediaType, sign.SimpleSigningMediaType)
	}
	if l.Annotations[sign.SignatureAnnotation] == "" {
		t.Errorf("layer annotations %v: no %s", l.Annotations, sign.SignatureAnnotation)
	}
	// The payload byte for byte as cosign v2 writes it (field order included).
	want := `{"critical":{"identity":{"docker-reference":"` + repo.Name() + `"},"image":{"docker-manifest-digest":"` + d.String() + `"},"type":"cosign container image signature"},"optional":null}`
	if diff := cmp.Diff(want, string(pl)); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestVerifyFails(t *testing.T) {
	ctx := context.Background()
	repo := testenv.MemoryRepository(t)
	signed := pushRandom(t, repo, "signed")
	unsigned := pushRandom(t, repo, "unsigned")
	s, v := loadPair(t, "secret")
	_, other := loadPair(t, "secret")
	if err := sign.Sign(ctx, repo, signed, s); err != nil {
		t.Fatal(err)
	}
	otherRepo, err := name.NewRepository(repo.RegistryStr() + "/test/other")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		repo name.Repository
		d    v1.Hash
		v    signature.Verifier
		want string
	}{
		{"another key", repo, signed, other, "verifies with key sha256:"},
		{"another digest", repo, unsigned, v, "no signature for " + unsigned.String() + " in " + repo.Name()},
		{"another repository", otherRepo, signed, v, "no signature for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oneLine(t, sign.Verify(ctx, tc.repo, tc.d, tc.v), tc.want)
		})
	}
}

// A valid signature moved to the signature tag of another image (or
// another repository) must not pass for that image.
func TestVerifyChecksWhatThePayloadNames(t *testing.T) {
	ctx := context.Background()
	repo := testenv.MemoryRepository(t)
	signed := pushRandom(t, repo, "signed")
	victim := pushRandom(t, repo, "victim")
	s, v := loadPair(t, "secret")
	if err := sign.Sign(ctx, repo, signed, s); err != nil {
		t.Fatal(err)
	}
	sigs, err := remote.Image(sign.SignatureTag(repo, signed))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(sign.SignatureTag(repo, victim), sigs); err != nil {
		t.Fatal(err)
	}
	oneLine(t, sign.Verify(ctx, repo, victim, v), `payload names digest "`+signed.String()+`"`)

	other, err := name.NewRepository(repo.RegistryStr() + "/test/other")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(sign.SignatureTag(other, signed), sigs); err != nil {
		t.Fatal(err)
	}
	oneLine(t, sign.Verify(ctx, other, signed, v), `payload names repository "`+repo.Name()+`"`)
}

func TestSignKeepsOneSignaturePerKey(t *testing.T) {
	ctx := context.Background()
	repo := testenv.MemoryRepository(t)
	d := pushRandom(t, repo, "v1")
	s1, va := loadPair(t, "one")
	s2, vb := loadPair(t, "two")

	for i := 0; i < 2; i++ {
		if err := sign.Sign(ctx, repo, d, s1); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(sigManifest(t, repo, d).Layers); n != 1 {
		t.Fatalf("signed twice with one key: %d layers, want 1", n)
	}
	for i := 0; i < 2; i++ {
		if err := sign.Sign(ctx, repo, d, s2); err != nil {
			t.Fatal(err)
		}
	}
	m := sigManifest(t, repo, d)
	if n := len(m.Layers); n != 2 {
		t.Fatalf("signed twice with each of two keys: %d layers, want 2", n)
	}
	if m.Layers[0].Annotations[sign.SignatureAnnotation] == m.Layers[1].Annotations[sign.SignatureAnnotation] {
		t.Errorf("both layers hold the same signature")
	}
	for _, v := range []signature.Verifier{va, vb} {
		if err := sign.Verify(ctx, repo, d, v); err != nil {
			t.Error(err)
		}
	}
}

func TestLoadSigner(t *testing.T) {
	const password = "correct horse battery staple"
	key, _ := testenv.CosignKeyPair(t, password)
	dt, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(dt)
	if block == nil || block.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" {
		t.Fatalf("test key is not what cosign v2 writes: %q", dt)
	}
	// Older cosign wrote the same content under another PEM type.
	block.Type = "ENCRYPTED COSIGN PRIVATE KEY"
	old := filepath.Join(t.TempDir(), "old.key")
	if err := os.WriteFile(old, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	block.Type = "PRIVATE KEY"
	plain := filepath.Join(t.TempDir(), "plain.key")
	if err := os.WriteFile(plain, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path, password string
		want                 string // in the error; "" for none
	}{
		{"sigstore type", key, password, ""},
		{"cosign type", old, password, ""},
		{"wrong password", key, "correct horse battery stapler", key + ": wrong password"},
		{"empty password", key, "", key + ": wrong password"},
		{"not encrypted", plain, password, `PEM type "PRIVATE KEY"`},
		{"missing", filepath.Join(t.TempDir(), "none.key"), password, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sign.LoadSigner(tc.path, []byte(tc.password))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				sig, err := s.SignMessage(bytes.NewReader([]byte("payload")))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.VerifySignature(bytes.NewReader(sig), bytes.NewReader([]byte("payload"))); err != nil {
					t.Fatal(err)
				}
				return
			}
			oneLine(t, err, tc.want)
			if tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}

func TestLoadVerifierRejectsAPrivateKey(t *testing.T) {
	key, _ := testenv.CosignKeyPair(t, "secret")
	_, err := sign.LoadVerifier(key)
	oneLine(t, err, "public key "+key)
}

// TestSigned: Signed returns the digest whose signature it verified, what
// a tag points at when it is asked, or the digest a reference names.
func TestSigned(t *testing.T) {
	ctx := context.Background()
	repo := testenv.MemoryRepository(t)
	s, v := loadPair(t, "secret")
	d := pushRandom(t, repo, "v1")
	if err := sign.Sign(ctx, repo, d, s); err != nil {
		t.Fatal(err)
	}
	got, err := sign.Signed(ctx, repo.Tag("v1"), v)
	if err != nil {
		t.Fatal(err)
	}
	if want := repo.Digest(d.String()); got != want {
		t.Errorf("Signed(%s) = %s, want %s", repo.Tag("v1"), got, want)
	}

	moved := pushRandom(t, repo, "v1")
	_, err = sign.Signed(ctx, repo.Tag("v1"), v)
	oneLine(t, err, repo.Tag("v1").String()+": no signature for "+moved.String())
	got, err = sign.Signed(ctx, repo.Digest(d.String()), v)
	if err != nil || got != repo.Digest(d.String()) {
		t.Errorf("Signed(%s) = %s, %v; want it back, signed", repo.Digest(d.String()), got, err)
	}
}
