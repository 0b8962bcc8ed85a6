package cli

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/sign"
)

// passingImage is a small image that passes every check of `imagebuild
// verify`: a non-root user without a home or shell, its app and venv
// owned by it, no compilers, no ELF files, no caches.
func passingImage(t *testing.T) v1.Image {
	t.Helper()
	return testenv.Image(t, "appuser", testenv.Layer(t, []testenv.Entry{
		{Path: "etc/", Dir: true},
		{Path: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/bash\nappuser:x:1000:1000::/nonexistent:/sbin/nologin\n")},
		{Path: "opt/", Dir: true},
		{Path: "opt/venv/", Dir: true, UID: 1000, GID: 1000},
		{Path: "app/", Dir: true, UID: 1000, GID: 1000},
		{Path: "app/main.py", Body: []byte("print('hi')\n"), UID: 1000, GID: 1000},
	}...))
}

// writeLayout writes img as the only image of an OCI layout at dir.
func writeLayout(t *testing.T, dir string, img v1.Image) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyKeyChecksTheSignedDigestNotALocalPath: after `verify --key`
// checks the signature of the digest REF points at, the image it checks is
// that digest's, from the registry, even where a file or folder in the
// working directory is named REPO@DIGEST and holds another image that
// passes.
func TestVerifyKeyChecksTheSignedDigestNotALocalPath(t *testing.T) {
	repo := testenv.MemoryRepository(t)
	key, pub := testenv.CosignKeyPair(t, "secret")
	s, err := sign.LoadSigner(key, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	// The signed image in the registry runs as root: verify fails it.
	signed, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag("v1"), signed); err != nil {
		t.Fatal(err)
	}
	d, err := signed.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := sign.Sign(context.Background(), repo, d, s); err != nil {
		t.Fatal(err)
	}
	pinned := repo.Digest(d.String()).String()

	// In the working directory, a layout named REPO@DIGEST holds an image
	// that passes.
	t.Chdir(t.TempDir())
	writeLayout(t, pinned, passingImage(t))
	if _, err := os.Stat(filepath.Join(pinned, "index.json")); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := cliNoDaemon(t, "verify", pinned); code != 0 {
		t.Fatalf("verify of the local layout exited %d, want 0: the test needs an image that passes\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	for _, target := range []string{repo.Tag("v1").String(), pinned} {
		t.Run(target, func(t *testing.T) {
			stdout, stderr, code := cliNoDaemon(t, "verify", "--key", pub, target)
			if !strings.Contains(stdout, "pass signature: "+pinned) {
				t.Fatalf("verify --key %s: no passed signature of %s\nstdout:\n%s\nstderr:\n%s", target, pinned, stdout, stderr)
			}
			if code != 1 || !strings.Contains(stdout, "fail non-root") {
				t.Errorf("verify --key %s exited %d, want 1 with the signed image's failed non-root check (the registry's image, not the local %s)\nstdout:\n%s\nstderr:\n%s", target, code, pinned, stdout, stderr)
			}
		})
	}
}

// TestVerifyKeyTypes signs an image with each type of key cosign signs
// with (package sign, as build --sign and push --sign do) and checks that
// `imagebuild verify --key` accepts the signature and goes on to the image.
func TestVerifyKeyTypes(t *testing.T) {
	repo := testenv.MemoryRepository(t)
	img := passingImage(t)
	if err := remote.Write(repo.Tag("v1"), img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		new  func() (crypto.Signer, error)
	}{
		{"ECDSA P-256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{"ECDSA P-384", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }},
		{"ECDSA P-521", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) }},
		{"Ed25519", func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }},
		{"RSA 2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			priv, err := tc.new()
			if err != nil {
				t.Fatal(err)
			}
			key, pub := testenv.CosignKeyPairOf(t, priv, "secret")
			s, err := sign.LoadSigner(key, []byte("secret"))
			if err != nil {
				t.Fatal(err)
			}
			if err := sign.Sign(context.Background(), repo, d, s); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := cliNoDaemon(t, "verify", "--key", pub, repo.Tag("v1").String())
			if code != 0 || !strings.Contains(stdout, "pass signature: "+repo.Digest(d.String()).String()+" is signed by "+pub) {
				t.Errorf("verify --key with an %s key exited %d, want 0 with the signature passed\nstdout:\n%s\nstderr:\n%s", tc.name, code, stdout, stderr)
			}
		})
	}
}

// TestVerifyKeyRefusesKeysCosignDoesNotSignWith: a public key of a type
// cosign does not sign with is a usage error of one line naming it, before
// any registry is asked.
func TestVerifyKeyRefusesKeysCosignDoesNotSignWith(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, pub := testenv.CosignKeyPairOf(t, priv, "secret")
	stdout, stderr, code := cliNoDaemon(t, "verify", "--key", pub, "127.0.0.1:1/test/app:v1")
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if code != 2 || len(lines) != 1 || !strings.Contains(stderr, "--key "+pub+": public key "+pub+": an ECDSA key on curve P-224, which cosign does not sign with") {
		t.Errorf("verify --key with a P-224 key: exit %d, want 2 with one line naming the curve\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestVerifyKeyIndex: for a signed index, verify --key checks each
// platform's image of the signed index, or the one --platform names.
func TestVerifyKeyIndex(t *testing.T) {
	repo := testenv.MemoryRepository(t)
	key, pub := testenv.CosignKeyPair(t, "secret")
	s, err := sign.LoadSigner(key, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	// arm64's image runs as root: it fails.
	arm, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: passingImage(t), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	if err := remote.WriteIndex(repo.Tag("v1"), idx); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := sign.Sign(context.Background(), repo, d, s); err != nil {
		t.Fatal(err)
	}
	image := repo.Tag("v1").String()
	if stdout, stderr, code := cliNoDaemon(t, "verify", "--key", pub, "--platform", "linux/amd64", image); code != 0 || !strings.Contains(stdout, "pass signature: "+repo.Digest(d.String()).String()) {
		t.Errorf("verify --key --platform linux/amd64 exited %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if stdout, stderr, code := cliNoDaemon(t, "verify", "--key", pub, image); code != 1 || !strings.Contains(stderr, "linux/arm64 non-root user") {
		t.Errorf("verify --key of both platforms exited %d, want 1 naming arm64's failed check\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
