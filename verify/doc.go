// Package verify checks ADR-003's promises (docs/adr-003.md) on a built
// image, by reading its layers as streams: a non-root user of the right
// shape, no compilers or C headers, every shared library that the venv's and
// the app's ELF files need present, the venv built for the Python its
// interpreter link leads to, the venv and the app owned by the
// runtime user, the pinned base's layers first, no package-manager caches or
// credential files, and an attached SBOM that lists what the image holds,
// each file's SHA-256 included. What it reads of an image is bounded (a
// file's size, what it keeps in all, symbolic links on one path), so that a
// crafted image fails with an error rather than run it out of memory or
// time.
//
//	report, err := verify.Image(ctx, img, verify.Options{})
//
// [Load] opens what to check (a layout, a tarball or a registry reference)
// with the credentials of its options, and where they name a signature
// check (package sign's SignedBy(key)), checks the signature first and
// opens the digest whose signature it checked, from the registry:
//
//	opened, err := verify.Load(ctx, "registry.example/app:1", verify.OpenOptions{Signed: sign.SignedBy(key)})
package verify
