// Package oci reads images as BuildKit's oci exporter writes them: an OCI
// tarball or layout, an index that may hold several platforms' images and
// their attestations, and picks out the image of one platform.
//
// The smallest use opens a tarball and takes its one image:
//
//	img, err := oci.OpenImage("image.oci.tar", tmpDir)
//
// For an index of several platforms, open the index and pick a platform:
//
//	idx, err := oci.OpenTarball("image.oci.tar", tmpDir)
//	platforms, err := oci.Platforms(idx)
//	img, err := oci.Image(idx, ocispecs.Platform{OS: "linux", Architecture: "arm64"})
//
// Images are go-containerregistry's [v1.Image] and [v1.ImageIndex]; a
// layout directory is read with its layout package.
//
// A tarball is unpacked by [Extract], the one extractor of tar streams,
// which also unpacks a local output's root filesystem: it writes through
// an [os.Root], so no entry and no link leads a write out of the
// destination, and it refuses devices, fifos and sparse files.
package oci
