// Package sbom lists what a built Linux image holds and writes it as an
// SPDX 2.3 JSON document that scanners match to their advisories, and reads
// such a document back to check it against an image.
//
// [Catalog] reads an image's root filesystem (any [io/fs.FS]: a directory,
// a build's result, layers flattened in memory) and returns its
// [Inventory]: the OS from os-release, the Debian packages dpkg installed,
// the Alpine packages apk installed, and the Python distributions
// installed in the usual site-packages folders. It reads a handful of
// files and never walks the tree; [Reads] tells which, so a caller that
// streams an image's layers keeps only those.
//
// [SPDX] writes the document: the image, its OS, its base image (pinned by
// digest), and every package with the package URL ([Package.PURL]) that
// Trivy, Grype and Syft use, Python distributions with their files and
// checksums. The same inputs give the same bytes: identifiers and the
// document namespace are derived from the content, and the creation time
// is the build's epoch.
//
//	inv, err := sbom.Catalog(os.DirFS(rootfs))
//	doc, err := sbom.SPDX(os.DirFS(rootfs), inv, sbom.Subject{
//		Name:     "incident-tracker",
//		Platform: "linux/amd64",
//		Base:     "docker.io/library/python:3.12-slim@sha256:...",
//		Created:  epoch,
//	})
//
// [Read] and [Diff] are the check: the packages a document lists against
// those an image holds ([Listing.Files] gives the SHA-256 it lists for each
// file, to compare with the image's).
//
//	listed, err := sbom.Read(doc)
//	missing, extra := sbom.Diff(listed.Packages, inv.Packages)
package sbom
