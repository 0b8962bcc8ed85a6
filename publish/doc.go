// Package publish pushes a built image to a registry as it was built: the
// manifests and blobs of an OCI layout directory, byte for byte, so the
// digest pushed is the digest that was checked (scanned, verified) before.
//
//	dgst, err := publish.Layout(ctx, "out/image", ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
package publish
