package tracker

import "github.com/imagebuild/imagebuild/ref"

// TrackerBase is the base of the tracker's images, pinned by the digest of
// its multi-arch index. `go run . pins check`, in the module's folder,
// compares it with what the tag points at now; `go run . pins bump`
// rewrites it here.
const TrackerBase ref.Pin = "docker.io/library/python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d"
