package builder

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver/llbsolver/compat"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Options says where a build reads its context from, what is checked and
// where its result goes.
type Options struct {
	// Outputs are the exports of the result; none builds and keeps nothing.
	Outputs []output.Output
	// NoCache runs every step again, ignoring the daemon's cache.
	NoCache bool
	// SourceDateEpoch is the time the image says it was made: the config's
	// created time, its history and the label org.opencontainers.image.created.
	// When nil, [Build] takes the commit time of HEAD when the build context
	// is in a git work tree, else the Unix epoch, so an image does not
	// depend on the day it is built.
	SourceDateEpoch *time.Time
	// Mirrors pulls pinned images from mirrors by the same digest.
	Mirrors ref.Mirrors
	// Provenance, when set, attaches BuildKit's SLSA provenance
	// attestation to the image: "mode=min" or "mode=max".
	Provenance string
	// SBOM attaches to each platform's image an SPDX 2.3 SBOM of it as an
	// in-toto attestation ([SBOMPredicateType]), made by the client from
	// the image built (see package sbom): the base's OS packages, the
	// Python distributions and their files, the base by digest. The same
	// image gives the same document, dated by SourceDateEpoch.
	SBOM bool
	// Signer, when set, signs what the build pushed once it is read back
	// (see [Result.Signatures]): the digest each push gave and each
	// platform's image manifest, stored as cosign v2 stores a key's
	// signatures, in the repository's sha256-<hex>.sig tag. A build that
	// pushes nothing cannot sign.
	Signer signature.Signer
	// CacheExports are where the build's cache goes (BuildKit's cache
	// exporters: registry, local, inline, gha, s3, azblob), mode=max unless
	// an export says otherwise. A failing export fails the build unless it
	// sets ignore-error=true.
	CacheExports []client.CacheOptionsEntry
	// CacheImports are caches the build may take its steps' results from
	// (registry, local, gha, s3, azblob). An import with nothing to import
	// is a warning in the progress, and the build goes on without it.
	CacheImports []client.CacheOptionsEntry
	// Verify, when set, checks each platform's image of the build before
	// any output is written, with the SPDX document attached to it (with
	// SBOM set, else nil); an error stops the build there.
	Verify func(ctx context.Context, platform ocispecs.Platform, img v1.Image, sbom []byte) error
	// CheckReproducible builds a second time, ignoring every cache of the
	// daemon's, and compares each platform's image with the first build's
	// before any output is written; a difference stops the build there.
	CheckReproducible bool
	// Keychain holds the registry credentials, the one place for them:
	// the daemon asks the build's session for them (to pull, push and
	// reach registry caches), and the client reads back and pushes with
	// them. Nil is Docker's config (~/.docker/config.json and its
	// credential helpers), as docker and buildctl read it.
	Keychain authn.Keychain
	// Builders, when set, builds the images of some platforms on daemons
	// of their own: a daemon by platform ID (linux/arm64), connected to
	// when the build starts; the rest are built on the client [Build] is
	// given. Each is built and checked as
	// one build is; the client assembles them into one index and writes it
	// to Outputs, which may then be OCI tarballs and layouts and pushed
	// images (type=image,push=true), and no cache is exported (each daemon
	// has its own).
	Builders map[string]daemon.Config
	// Secrets are the build secrets the steps may read: a file by secret
	// ID. The files are read when a step mounts them, never put in the
	// graph or the image.
	Secrets map[string]string
	// MetadataFile, when set, is a file the build's metadata is written
	// to as JSON, as buildctl's --metadata-file: the exporters' response
	// and each platform's manifest digest ([Result.Metadata]). It is
	// written beside its place before any output is moved into place, and
	// moved in with them, so a failure to write it leaves no output.
	MetadataFile string
	// Network is the network the build's steps that run a process use:
	// the daemon's default (llb.NetModeSandbox, the zero value), the
	// host's (llb.NetModeHost, which a daemon grants as the network.host
	// entitlement) or none (llb.NetModeNone). A Docker Engine started
	// without a bridge network runs steps only with the host's.
	Network pb.NetMode
	// Engine is the Docker Engine a load output (type=load) goes into;
	// nil is the engine the build runs on, when it runs on a Docker
	// Engine's BuildKit, else the default engine (see [daemon.DialEngine]).
	Engine *daemon.Engine
}

// run is a build as it runs: its options, with the source date epoch
// resolved (see withSource), and what was reached when it started. The
// caller's Options are never changed.
type run struct {
	Options
	// session is what [Plan.Build] attaches to the daemon's session:
	// registry auth from Keychain, and the Secrets.
	session []session.Attachable
	// engine is the Docker Engine a load output goes into, as reached:
	// Options.Engine, else the engine the build runs on, else the
	// default one; nil without a load output.
	engine *daemon.Engine
	// reports are the images' reports as the build read them.
	reports *reports
}

// marshal marshals st, a graph of the build for platform p, as every graph
// of a build is marshalled: with NoCache, every step marked to run again;
// with a Network, every step that runs a process in that mode.
func (opt Options) marshal(ctx context.Context, st llb.State, p ocispecs.Platform) (*llb.Definition, error) {
	opts := []llb.ConstraintsOpt{llb.Platform(p)}
	if opt.NoCache {
		opts = append(opts, llb.IgnoreCache)
	}
	def, err := st.Marshal(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("marshal graph for %s: %w", platforms.Format(p), err)
	}
	if opt.Network == llb.NetModeSandbox {
		return def, nil
	}
	return graph.WithNetwork(def, opt.Network)
}

// CompatibilityVersion pins the daemon's exporter behaviour (BuildKit's
// compatibility version 0.31), so that a daemon upgrade does not silently
// change how layers and manifests are written.
const CompatibilityVersion = compat.CompatibilityVersion031
