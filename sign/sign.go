package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// The names cosign v2 stores a signature under (its pkg/types and
// pkg/oci/static).
const (
	// SimpleSigningMediaType is the media type of a signature layer: the
	// signed payload.
	SimpleSigningMediaType types.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation is the layer annotation that holds the payload's
	// signature, base64.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
)

// maxPayload bounds what Verify reads of a signature layer. A simple-signing
// payload is a few hundred bytes; cosign's bound (COSIGN_MAX_ATTACHMENT_SIZE,
// 128 MiB) is made for attestations too.
const maxPayload = 1 << 20

// SignatureTag returns the tag cosign keeps the signatures of the image
// with manifest digest d in: repo:sha256-<hex>.sig.
func SignatureTag(repo name.Repository, d v1.Hash) name.Tag {
	return repo.Tag(fmt.Sprintf("%s-%s.sig", d.Algorithm, d.Hex))
}

// All signs each of digests, images just pushed to repo, with s (see
// [Sign]) and returns the tags the signatures are stored under, in order;
// an error names the first digest left unsigned.
func All(ctx context.Context, repo name.Repository, digests []v1.Hash, s signature.Signer, opts ...remote.Option) ([]name.Tag, error) {
	var tags []name.Tag
	for _, d := range digests {
		if err := Sign(ctx, repo, d, s, opts...); err != nil {
			return tags, fmt.Errorf("%s@%s was pushed but not signed: %w", repo, d, err)
		}
		tags = append(tags, SignatureTag(repo, d))
	}
	return tags, nil
}

// Sign signs the image with manifest digest d in repo with s and stores the
// signature as `cosign sign --key --tlog-upload=false` does: a
// simple-signing payload naming repo and d (sigstore's payload.Cosign, as
// cosign writes it) as a layer of the OCI image [SignatureTag], its
// signature in the layer's [SignatureAnnotation]. Signatures already there
// are kept; when one of them is s's signature of the same payload, nothing
// is written, as cosign does. The image itself is not read.
func Sign(ctx context.Context, repo name.Repository, d v1.Hash, s signature.Signer, opts ...remote.Option) error {
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	pl, err := payload.Cosign{Image: repo.Digest(d.String())}.MarshalJSON()
	if err != nil {
		return fmt.Errorf("signature payload: %w", err)
	}
	sig, err := s.SignMessage(bytes.NewReader(pl), options.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("sign %s: %w", d, err)
	}
	tag := SignatureTag(repo, d)
	base, err := remote.Image(tag, opts...)
	switch {
	case isNotFound(err):
		// As cosign's empty.Signatures: an OCI manifest with an empty OCI config.
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	case err != nil:
		return fmt.Errorf("read signatures %s: %w", tag, err)
	default:
		dup, err := signedBefore(base, pl, s)
		if err != nil {
			return fmt.Errorf("read signatures %s: %w", tag, err)
		}
		if dup {
			return nil
		}
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(pl, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return fmt.Errorf("add signature: %w", err)
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return fmt.Errorf("push signatures %s: %w", tag, err)
	}
	return nil
}

// signedBefore reports whether sigs holds a signature by s of pl, as
// cosign's DupeDetector finds one: a layer of the same digest and media type
// whose signature verifies with s's public key, in the form s signs (a
// signature cosign sign made with a P-384, P-521 or Ed25519 key is in
// another form, which `cosign verify --key` does not check by default: Sign
// adds its own beside it).
func signedBefore(sigs v1.Image, pl []byte, s signature.Signer) (bool, error) {
	v, ok := s.(signature.Verifier)
	if !ok {
		pub, err := s.PublicKey()
		if err != nil {
			return false, err
		}
		if v, err = signature.LoadVerifierWithOpts(pub, signForm...); err != nil {
			return false, err
		}
	}
	m, err := sigs.Manifest()
	if err != nil {
		return false, err
	}
	layer := static.NewLayer(pl, SimpleSigningMediaType)
	d, err := layer.Digest()
	if err != nil {
		return false, err
	}
	for _, l := range m.Layers {
		if l.Digest != d || l.MediaType != SimpleSigningMediaType {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation])
		if err != nil || len(sig) == 0 {
			continue
		}
		if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pl)) == nil {
			return true, nil
		}
	}
	return false, nil
}

// Verify checks that repo's [SignatureTag] for d holds a signature by v of a
// simple-signing payload that names d and repo, as `cosign verify --key
// --insecure-ignore-tlog` does (and, as cosign does not by default, that the
// payload's docker-reference is repo). It returns nil when one does, and
// otherwise an error of one line: no signatures at all, none that verifies
// with v's key (named by its [Fingerprint]), or one that verifies but names
// another image.
func Verify(ctx context.Context, repo name.Repository, d v1.Hash, v signature.Verifier, opts ...remote.Option) error {
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	tag := SignatureTag(repo, d)
	img, err := remote.Image(tag, opts...)
	if isNotFound(err) {
		return fmt.Errorf("no signature for %s in %s", d, repo)
	}
	if err != nil {
		return fmt.Errorf("read signatures %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("read signatures %s: %w", tag, err)
	}
	var (
		checked  int
		mismatch error
	)
	for _, l := range m.Layers {
		b64, ok := l.Annotations[SignatureAnnotation]
		if !ok {
			continue
		}
		checked++
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || l.Size > maxPayload {
			continue
		}
		pl, err := layerBytes(img, l.Digest)
		if err != nil {
			return fmt.Errorf("read signature %s of %s: %w", l.Digest, tag, err)
		}
		if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pl), options.WithContext(ctx)) != nil {
			continue
		}
		if err := claims(pl, repo, d); err != nil {
			mismatch = fmt.Errorf("signature of %s in %s by key %s: %w", d, repo, keyName(v), err)
			continue
		}
		return nil
	}
	if mismatch != nil {
		return mismatch
	}
	if checked == 0 {
		return fmt.Errorf("no signature for %s in %s (%s has no signature layers)", d, repo, tag)
	}
	return fmt.Errorf("no signature of %s in %s verifies with key %s (%d checked)", d, repo, keyName(v), checked)
}

// Signed checks that the image r names in its registry is signed by v, as
// [Verify] checks a digest, and returns that digest in r's repository: what
// the image is then to be read by, so that the image checked is the one
// whose signature was, wherever r's tag moves meanwhile (and from the
// registry, whatever file is named like it). A tag is resolved with a HEAD
// request; a digest is taken as it is, without asking the registry what it
// names.
func Signed(ctx context.Context, r name.Reference, v signature.Verifier, opts ...remote.Option) (name.Digest, error) {
	var dgst string
	if d, ok := r.(name.Digest); ok {
		dgst = d.DigestStr()
	} else {
		desc, err := remote.Head(r, append(opts[:len(opts):len(opts)], remote.WithContext(ctx))...)
		if err != nil {
			return name.Digest{}, fmt.Errorf("%s: read the digest it names: %w", r, err)
		}
		dgst = desc.Digest.String()
	}
	h, err := v1.NewHash(dgst)
	if err != nil {
		return name.Digest{}, fmt.Errorf("%s: %w", r, err)
	}
	if err := Verify(ctx, r.Context(), h, v, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("%s: %w", r, err)
	}
	return r.Context().Digest(h.String()), nil
}

// SignedBy is [Signed] with the key v: the check of a signature that
// verify.OpenOptions.Signed takes, so that package verify, which runs it,
// links no signing library.
func SignedBy(v signature.Verifier) func(ctx context.Context, r name.Reference, opts ...remote.Option) (name.Digest, error) {
	return func(ctx context.Context, r name.Reference, opts ...remote.Option) (name.Digest, error) {
		return Signed(ctx, r, v, opts...)
	}
}

// claims checks that a verified payload is cosign's simple signing of d in
// repo, as cosign's SimpleClaimVerifier does for the digest.
func claims(pl []byte, repo name.Repository, d v1.Hash) error {
	var sci payload.SimpleContainerImage
	if err := json.Unmarshal(pl, &sci); err != nil {
		return fmt.Errorf("payload is not a simple signing: %w", err)
	}
	if sci.Critical.Type != payload.CosignSignatureType {
		return fmt.Errorf("payload type is %q, not %q", sci.Critical.Type, payload.CosignSignatureType)
	}
	if got := sci.Critical.Image.DockerManifestDigest; got != d.String() {
		return fmt.Errorf("payload names digest %q", got)
	}
	// The docker-reference is the repository cosign signed in, or what the
	// signer claimed with --sign-container-identity: a tag or digest of it.
	got := sci.Critical.Identity.DockerReference
	if ref, err := name.ParseReference(got); err != nil || ref.Context().Name() != repo.Name() {
		return fmt.Errorf("payload names repository %q", got)
	}
	return nil
}

// layerBytes reads a layer of img whole, checked against its digest.
func layerBytes(img v1.Image, d v1.Hash) ([]byte, error) {
	l, err := img.LayerByDigest(d)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxPayload+1))
}

// isNotFound reports whether err is a registry's 404, which cosign takes as
// "no signatures yet".
func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
