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
// ECDSA P-256 key encrypted with a password, and cosign.pub; or those
// `cosign import-key-pair` writes of an ECDSA P-384 or P-521, Ed25519 or
// RSA key. Each signs in the form `cosign verify --key` checks by default
// (SHA-256, pure Ed25519), and [LoadVerifier] accepts that form and the one
// `cosign sign --key` writes.
//
// [Signed] is what to check before reading an image: it returns the digest
// whose signature it verified, and the image is then read by that digest,
// from the registry.
//
//	s, err := sign.LoadSigner("cosign.key", []byte(os.Getenv("COSIGN_PASSWORD")))
//	...
//	err = sign.Sign(ctx, ref.Context(), digest, s, remote.WithAuthFromKeychain(authn.DefaultKeychain))
//	...
//	v, err := sign.LoadVerifier("cosign.pub")
//	...
//	d, err := sign.Signed(ctx, ref, v, remote.WithAuthFromKeychain(authn.DefaultKeychain))
//	... remote.Image(d, ...)
package sign
