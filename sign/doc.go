// Package sign signs images in a registry and verifies their signatures the
// way cosign v2 stores them for a key pair, so that `cosign verify --key`
// accepts what [Sign] writes and [Verify] accepts what `cosign sign --key`
// writes.
//
// A signature is a layer of the image tagged sha256-<hex>.sig next to the
// signed image in its repository: the layer is a simple-signing payload
// (application/vnd.dev.cosign.simplesigning.v1+json) that names the
// repository and the manifest digest, and the layer's annotation
// dev.cosignproject.cosign/signature holds the signature of that payload,
// base64. Nothing is written to or read from a transparency log.
//
// Keys are the files `cosign generate-key-pair` writes: cosign.key, an
// ECDSA P-256 key (or another cosign can import) encrypted with a password,
// and cosign.pub.
//
//	s, err := sign.LoadSigner("cosign.key", []byte(os.Getenv("COSIGN_PASSWORD")))
//	...
//	err = sign.Sign(ctx, ref.Context(), digest, s, remote.WithAuthFromKeychain(authn.DefaultKeychain))
//	...
//	v, err := sign.LoadVerifier("cosign.pub")
//	...
//	err = sign.Verify(ctx, ref.Context(), digest, v, remote.WithAuthFromKeychain(authn.DefaultKeychain))
package sign
