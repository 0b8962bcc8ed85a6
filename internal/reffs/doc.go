// Package reffs reads a build's result through BuildKit's gateway as an
// [io/fs.FS] (it implements fs.ReadFileFS, fs.ReadDirFS and fs.StatFS), so
// code written for a filesystem (the SBOM catalog) reads an image the
// daemon holds without exporting it.
package reffs
