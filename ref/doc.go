// Package ref holds image references as imagebuild takes them: [Pin], a
// reference pinned by digest and written in full, the registry [Mirrors] a
// pinned image may be pulled from by the same digest, and [Parse], which
// reaches loopback registries over plain HTTP as BuildKit does. It links
// no build client, so what needs a pin or a reference (pins, verify) does
// not link BuildKit's.
//
//	p, err := ref.ParsePin("python:3.12-alpine@sha256:236173eb...")
package ref
