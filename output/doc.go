// Package output writes a build's result where it goes and reads it back:
// the one writer and the one reader of outputs.
//
// An [Output] is one place a result goes: an OCI or docker tarball, an OCI
// layout directory, a registry, a folder of the root filesystem, or a Docker
// Engine's image store ([OutputLoad]). [Output.Validate], [Output.CheckDest]
// and [Output.ApartFrom] check one before a build.
//
// A [Stage] holds a build's outputs while the daemon exports them: it turns
// each output into the daemon's export entry ([Stage.Entry]), writing to a
// file or folder beside its destination (see internal/stage), unpacking a
// local output's tar stream itself ([oci.Extract]), pushing by digest alone,
// and keeping a load's docker tarball aside; [Stage.Layout] writes there an
// index assembled of several daemons' results (see [publish.Assemble]).
// A [ReadBack] then reads back each image written, pushed or loaded and
// holds its platform manifests to those checked; only then does
// [Stage.Load] hand the tarballs to the engine and [Stage.Commit] move
// everything into place, whole, or [Stage.Discard] leave none of it.
//
// Tags are not moved here: a push goes by digest, and the caller names it
// once it is read back (and signed).
package output
