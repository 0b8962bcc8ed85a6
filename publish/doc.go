// Package publish pushes a built image to a registry as it was built: the
// manifests and blobs of an OCI layout directory, byte for byte, so the
// digest pushed is the digest that was checked (scanned, verified) before.
//
//	dgst, err := publish.Layout(ctx, "out/image", ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
//
// It signs what a push gave, as the build's --sign and `imagebuild push
// --sign` do: [SignedDigests] says what that is (the digest pushed and each
// platform's image manifest), [Sign] signs it with package sign, and
// [SignedLayout] pushes a layout by digest, signs it, and only then moves
// the tag:
//
//	dgst, sigs, err := publish.SignedLayout(ctx, "out/image", ref, signer, remote.WithAuthFromKeychain(authn.DefaultKeychain))
package publish
