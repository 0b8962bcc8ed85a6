// Package compare tells how two builds of one image differ: their manifest
// digests, the config fields that differ, and, layer by layer, each file
// whose content, time, mode, owner or type differs, or that one build has
// and the other lacks. It is what `imagebuild build --check-reproducible`
// prints.
//
// The smallest use compares the single images of two OCI tarballs:
//
//	res, err := compare.Tarballs("first.oci.tar", "second.oci.tar")
//	if err == nil && !res.Same() {
//		res.WriteText(os.Stderr)
//	}
//
// [Images] compares two go-containerregistry images already open. Layers
// are read as streams; only file metadata and content hashes are held.
package compare
