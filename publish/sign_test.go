package publish_test

import (
	"context"
	"crypto"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/sign"
	digest "github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/signature"
)

func TestSignedDigests(t *testing.T) {
	a := digest.FromString("a")
	b := digest.FromString("b")
	c := digest.FromString("c")
	tests := []struct {
		name      string
		pushed    digest.Digest
		manifests []digest.Digest
		want      []digest.Digest
	}{
		{"an index and its platforms", a, []digest.Digest{b, c}, []digest.Digest{a, b, c}},
		// A lone image pushed is its platform's manifest too: signed once.
		{"a lone image", a, []digest.Digest{a}, []digest.Digest{a}},
		{"no platform", a, nil, []digest.Digest{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := publish.SignedDigests(tt.pushed, tt.manifests)
			if err != nil {
				t.Fatal(err)
			}
			var gotStr, wantStr []string
			for _, h := range got {
				gotStr = append(gotStr, h.String())
			}
			for _, d := range tt.want {
				wantStr = append(wantStr, d.String())
			}
			if diff := cmp.Diff(wantStr, gotStr); diff != "" {
				t.Errorf("SignedDigests (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []digest.Digest{"", "sha256:nothex"} {
		if _, err := publish.SignedDigests(bad, []digest.Digest{a}); err == nil {
			t.Errorf("SignedDigests(%q) gave no error", bad)
		}
	}
}

// twoPlatformLayout writes, as a build's layout, an index of a linux/amd64
// and a linux/arm64 image and an attestation, and returns its folder and
// the platforms' manifest digests.
func twoPlatformLayout(t *testing.T) (string, []v1.Hash) {
	t.Helper()
	var adds []mutate.IndexAddendum
	var manifests []v1.Hash
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		manifests = append(manifests, d)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	att, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{oci.AttestationAnnotation: "attestation-manifest", oci.ReferenceDigestAnnotation: manifests[0].String()},
	}})
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(mutate.AppendManifests(empty.Index, adds...)); err != nil {
		t.Fatal(err)
	}
	return dir, manifests
}

// TestSignedLayoutSignsWhatWasPushed: push --sign's library call signs the
// digest pushed and each platform's image manifest (not the attestation),
// with signatures the key's verifier accepts, and moves the tag to the
// digest pushed.
func TestSignedLayoutSignsWhatWasPushed(t *testing.T) {
	ctx := context.Background()
	dir, manifests := twoPlatformLayout(t)
	repo := testenv.MemoryRepository(t)
	key, pub := testenv.CosignKeyPair(t, "secret")
	s, err := sign.LoadSigner(key, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := sign.LoadVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	d, tags, err := publish.SignedLayout(ctx, dir, repo.Tag("v1"), s)
	if err != nil {
		t.Fatal(err)
	}
	top, err := v1.NewHash(d.String())
	if err != nil {
		t.Fatal(err)
	}
	signed := append([]v1.Hash{top}, manifests...)
	var want, got []string
	for _, h := range signed {
		want = append(want, sign.SignatureTag(repo, h).String())
		if err := sign.Verify(ctx, repo, h, v); err != nil {
			t.Errorf("signature of %s: %v", h, err)
		}
	}
	for _, tag := range tags {
		got = append(got, tag.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("signature tags (-want +got):\n%s", diff)
	}
	desc, err := remote.Head(repo.Tag("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != top {
		t.Errorf("v1 names %s, want the digest pushed, %s", desc.Digest, top)
	}
}

// failingSigner signs nothing.
type failingSigner struct{}

func (failingSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return nil, errors.New("no key")
}

func (failingSigner) SignMessage(io.Reader, ...signature.SignOption) ([]byte, error) {
	return nil, errors.New("the signer is broken")
}

// TestSignedLayoutLeavesTheTagWhereSigningFails: where the signature
// cannot be made, the image is pushed by digest only: the tag does not name
// an unsigned image, and the error says what was pushed and not signed.
func TestSignedLayoutLeavesTheTagWhereSigningFails(t *testing.T) {
	dir, _ := twoPlatformLayout(t)
	repo := testenv.MemoryRepository(t)
	d, tags, err := publish.SignedLayout(context.Background(), dir, repo.Tag("v1"), failingSigner{})
	if err == nil || !strings.Contains(err.Error(), "was pushed but not signed") || !strings.Contains(err.Error(), "the signer is broken") {
		t.Fatalf("SignedLayout with a broken signer: error %v, want it to say the image was pushed but not signed, and why", err)
	}
	if len(tags) != 0 {
		t.Errorf("SignedLayout with a broken signer reports signatures %v", tags)
	}
	if _, err := remote.Head(repo.Digest(d.String())); err != nil {
		t.Errorf("the image is not pushed by its digest %s: %v", d, err)
	}
	if desc, err := remote.Head(repo.Tag("v1")); err == nil {
		t.Errorf("v1 names %s, an image not signed", desc.Digest)
	}
}

// TestSignedLayoutWithoutSignerIsLayout: a nil signer pushes and tags, as
// Layout, and writes no signature.
func TestSignedLayoutWithoutSignerIsLayout(t *testing.T) {
	dir, manifests := twoPlatformLayout(t)
	repo := testenv.MemoryRepository(t)
	d, tags, err := publish.SignedLayout(context.Background(), dir, repo.Tag("v1"), nil)
	if err != nil || len(tags) != 0 {
		t.Fatalf("SignedLayout(nil signer) = %s, %v, %v; want a digest, no signatures, no error", d, tags, err)
	}
	if desc, err := remote.Head(repo.Tag("v1")); err != nil || desc.Digest.String() != d.String() {
		t.Errorf("v1 = %v, %v; want %s", desc, err, d)
	}
	if _, err := remote.Head(sign.SignatureTag(repo, manifests[0])); err == nil {
		t.Errorf("a signature was written with no signer")
	}
}
