// Package verify checks ADR-003's promises on a built image, by reading its
// layers as streams: a non-root user of the right shape, no compilers or C
// headers, every shared library that the venv's and the app's ELF files
// need present, the venv and the app owned by the runtime user, the pinned
// base's layers first, and no package-manager caches or credential files.
//
//	report, err := verify.Image(ctx, img, verify.Options{})
package verify
