package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/llbsolver/compat"
	"github.com/moby/buildkit/solver/pb"
	spb "github.com/moby/buildkit/sourcepolicy/pb"
	"github.com/moby/buildkit/util/entitlements"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"
)

// Options says where a build reads its context from, what is checked and
// where its result goes.
type Options struct {
	// Outputs are the exports of the result; none builds and keeps nothing.
	Outputs []Output
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

	// session is what [Plan.Build] attaches to the daemon's session:
	// registry auth from Keychain, and the Secrets.
	session []session.Attachable
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

// imageOutputAttrs are set on every image-producing output unless the output
// sets them itself: OCI media types always, and with a source date epoch,
// the epoch (the config's and history's dates). The exporter is not asked to
// rewrite file times in new layers (rewrite-timestamp): it would decompress,
// rewrite and recompress every new layer on every export, cached or not.
// Graphs fix their files' times themselves, as the recipes' copies do.
func imageOutputAttrs(o Output, epoch *time.Time) map[string]string {
	attrs := maps.Clone(o.Attrs)
	if attrs == nil {
		attrs = map[string]string{}
	}
	switch o.Type {
	case client.ExporterOCI, client.ExporterDocker, client.ExporterImage:
	default:
		return attrs
	}
	set := func(k, v string) {
		if _, ok := attrs[k]; !ok {
			attrs[k] = v
		}
	}
	set("oci-mediatypes", "true")
	if epoch != nil {
		set("source-date-epoch", strconv.FormatInt(epoch.Unix(), 10))
	}
	return attrs
}

// solve runs one build of imgs, one image a platform, on the daemon c is
// connected to and exports it to outputs. It returns the daemon's response
// and the outputs staged, written but not yet moved into place; the caller
// commits or discards them. Progress goes to status when it is not nil;
// solve closes it.
func solve(ctx context.Context, c *client.Client, imgs []graph.Image, opt Options, outputs []Output, status chan *client.SolveStatus) (*client.SolveResponse, *staged, error) {
	st := &staged{onEngine: opt.Engine.Builds(c)}
	defs, so, err := prepare(ctx, imgs, opt, outputs, st)
	if err != nil {
		if status != nil {
			close(status)
		}
		st.discard()
		return nil, nil, err
	}
	var policies []*spb.Policy
	if so.SourcePolicy != nil {
		policies = append(policies, so.SourcePolicy)
	}
	status = reportCacheImports(&so, status)
	// The graphs expansions make during the build, for naming a failed step.
	var expanded definitions

	build := func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		imports, err := buildCacheImports(gw)
		if err != nil {
			return nil, err
		}
		// Every platform's base config first, so a platform the base
		// lacks is refused before any step runs.
		baseConfigs := make([][]byte, len(imgs))
		for i, img := range imgs {
			_, _, baseConfig, err := gw.ResolveImageConfig(ctx, img.Base.String(), sourceresolver.Opt{
				LogName:        fmt.Sprintf("resolve image config for %s (%s)", img.Base, platforms.Format(img.Platform)),
				SourcePolicies: policies,
				ImageOpt: &sourceresolver.ResolveImageOpt{
					Platform:    &img.Platform,
					ResolveMode: llb.ResolveModeDefault.String(),
				},
			})
			if err != nil {
				return nil, baseError(ctx, img, opt, err)
			}
			baseConfigs[i] = baseConfig
		}
		refs := make([]gateway.Reference, len(imgs))
		sboms := make([]gateway.Attestation, len(imgs))
		configs := make([][2][]byte, len(imgs))
		eg, ectx := errgroup.WithContext(ctx)
		for i := range imgs {
			eg.Go(func() error {
				img, def := imgs[i], defs[i]
				if img.Expand != nil {
					var err error
					if img, err = expand(ectx, gw, img, imports, opt); err != nil {
						return err
					}
					if def, err = opt.marshal(ectx, img.Root, img.Platform); err != nil {
						return err
					}
					expanded.add(def)
				}
				config, err := img.ImageConfig(baseConfigs[i], opt.SourceDateEpoch)
				if err != nil {
					return err
				}
				configs[i] = [2][]byte{config, baseConfigs[i]}
				res, err := gw.Solve(ectx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true, CacheImports: imports})
				if err != nil {
					return err
				}
				if refs[i], err = res.SingleRef(); err != nil || !opt.SBOM {
					return err
				}
				sboms[i], err = sbomAttestation(ectx, gw, img, refs[i], opt)
				return err
			})
		}
		if err := eg.Wait(); err != nil {
			return nil, err
		}
		out := gateway.NewResult()
		if opt.SBOM {
			for i, img := range imgs {
				out.AddAttestation(PlatformID(img.Platform), sboms[i])
			}
		}
		if len(imgs) == 1 {
			out.SetRef(refs[0])
			out.AddMeta(exptypes.ExporterImageConfigKey, configs[0][0])
			out.AddMeta(exptypes.ExporterImageBaseConfigKey, configs[0][1])
			return out, nil
		}
		// One ref a platform, as BuildKit's Dockerfile frontend does: the
		// image and oci exporters write an index of them.
		var exp exptypes.Platforms
		for i, img := range imgs {
			id := PlatformID(img.Platform)
			out.AddRef(id, refs[i])
			out.AddMeta(exptypes.ExporterImageConfigKey+"/"+id, configs[i][0])
			out.AddMeta(exptypes.ExporterImageBaseConfigKey+"/"+id, configs[i][1])
			exp.Platforms = append(exp.Platforms, exptypes.Platform{ID: id, Platform: img.Platform})
		}
		dt, err := json.Marshal(exp)
		if err != nil {
			return nil, err
		}
		out.AddMeta(exptypes.ExporterPlatformsKey, dt)
		return out, nil
	}
	resp, err := c.Build(ctx, so, "imagebuild", build, status)
	if err != nil {
		st.discard()
		if ctx.Err() == nil {
			if err := daemon.Lost(err); errors.Is(err, daemon.ErrLost) {
				return nil, nil, err
			}
		}
		return nil, nil, solveErrorOf(err, append(defs, expanded.all()...), imgs)
	}
	return resp, st, nil
}

// definitions collects the definitions a build makes as it goes.
type definitions struct {
	mu   sync.Mutex
	defs []*llb.Definition
}

func (d *definitions) add(def *llb.Definition) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.defs = append(d.defs, def)
}

func (d *definitions) all() []*llb.Definition {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.defs)
}

// expand solves img's expansion step and the steps ahead of it side by
// side, reads their files and returns img with the Root its expansion makes
// of them.
func expand(ctx context.Context, gw gateway.Client, img graph.Image, imports []gateway.CacheOptionsEntry, opt Options) (graph.Image, error) {
	x := img.Expand
	solve := func(ctx context.Context, st llb.State) (gateway.Reference, error) {
		def, err := opt.marshal(ctx, st, img.Platform)
		if err != nil {
			return nil, err
		}
		res, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true, CacheImports: imports})
		if err != nil {
			return nil, err
		}
		return res.SingleRef()
	}
	// A step ahead that fails leaves its file nil: Root does without it.
	// When Step fails, the steps ahead are not waited for.
	ahead := make([][]byte, len(x.Ahead))
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i, a := range x.Ahead {
		wg.Go(func() {
			if ref, err := solve(actx, a.Step); err == nil {
				ahead[i], _ = readAll(actx, ref, a.File)
			}
		})
	}
	if x.Later {
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return img, err
		}
		root, err := x.Root(nil, ahead)
		if err == nil {
			img.Root, img.Expand = root, nil
			return img, nil
		}
		if !errors.Is(err, graph.ErrNeedStep) {
			return img, err
		}
	}
	ref, err := solve(ctx, x.Step)
	if err != nil {
		return img, err
	}
	files := map[string][]byte{}
	for _, f := range x.Files {
		if files[f], err = readAll(ctx, ref, f); err != nil {
			return img, fmt.Errorf("read %s from the expansion step: %w", f, err)
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return img, err
	}
	if img.Root, err = x.Root(files, ahead); err != nil {
		return img, err
	}
	img.Expand = nil
	return img, nil
}

// readAll reads the whole file path from ref, past the daemon's cap on one
// read: a chunk at a time until one comes back short, so a small file is
// one round trip.
func readAll(ctx context.Context, ref gateway.Reference, path string) ([]byte, error) {
	const chunk = 8 << 20
	var out []byte
	for off := 0; ; off += chunk {
		dt, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: path, Range: &gateway.FileRange{Offset: off, Length: chunk}})
		if err != nil {
			return nil, err
		}
		out = append(out, dt...)
		if len(dt) < chunk {
			return out, nil
		}
	}
}

// solveErrorOf is [solveError] for the definition, of defs, that holds the
// failed vertex. An error with no vertex that names a base of imgs is the
// daemon's answer when asked for that base's config, before any step: a
// [*PullError] too, unless it is the base lacking a platform.
func solveErrorOf(err error, defs []*llb.Definition, imgs []graph.Image) error {
	var ve *errdefs.VertexError
	if errors.As(err, &ve) {
		for _, def := range defs {
			if _, ok := def.Metadata[digest.Digest(ve.Digest)]; ok {
				return solveError(err, def)
			}
		}
		return solveError(err, defs[0])
	}
	if msg := err.Error(); !strings.Contains(msg, ErrPlatform.Error()+": ") {
		for _, img := range imgs {
			if strings.Contains(msg, img.Base.String()) {
				return &PullError{Ref: img.Base.String(), Err: err}
			}
		}
	}
	return err
}

// PlatformID is how BuildKit names a platform in a multi-platform result,
// and in the local output's folders with "/" as "_": linux/arm64/v8.
func PlatformID(p ocispecs.Platform) string {
	return platforms.FormatAll(platforms.Normalize(p))
}

// prepare turns imgs, which a [Plan] has checked, and opt into one definition a platform and the client's solve
// options, staging outputs in st.
func prepare(ctx context.Context, imgs []graph.Image, opt Options, outputs []Output, st *staged) ([]*llb.Definition, client.SolveOpt, error) {
	var so client.SolveOpt
	var defs []*llb.Definition
	var refs []string
	for _, img := range imgs {
		def, err := opt.marshal(ctx, img.Root, img.Platform)
		if err != nil {
			return nil, so, err
		}
		defs = append(defs, def)
		r, err := imageRefs(def, img.Base)
		if err != nil {
			return nil, so, err
		}
		refs = append(refs, r...)
	}

	so = client.SolveOpt{Session: opt.session, CompatibilityVersion: CompatibilityVersion, FrontendAttrs: map[string]string{}}
	if opt.Network == llb.NetModeHost {
		so.AllowedEntitlements = []string{string(entitlements.EntitlementNetworkHost)}
	}
	if opt.SourceDateEpoch != nil {
		so.FrontendAttrs["build-arg:SOURCE_DATE_EPOCH"] = strconv.FormatInt(opt.SourceDateEpoch.Unix(), 10)
	}
	if opt.Provenance != "" {
		so.FrontendAttrs["attest:provenance"] = opt.Provenance
	}
	so.CacheExports, so.CacheImports = cacheExports(opt.CacheExports), cacheImports(opt.CacheImports)
	var err error
	if so.SourcePolicy, err = sourcePolicy(opt.Mirrors, refs); err != nil {
		return nil, so, fmt.Errorf("registry mirrors: %w", err)
	}
	if c := imgs[0].Context; c.Dir() != "" {
		fs, err := fsutil.NewFS(c.Dir())
		if err != nil {
			return nil, so, fmt.Errorf("build context: %w", err)
		}
		so.LocalMounts = map[string]fsutil.FS{graph.ContextName: fs}
		// As buildx does: the daemon syncs a context incrementally into
		// the snapshot it last synced under the same key, so the key names
		// the directory.
		so.SharedKey = c.ID()
	}
	for _, o := range outputs {
		o.Attrs = imageOutputAttrs(o, opt.SourceDateEpoch)
		e, err := st.entry(o)
		if err != nil {
			return nil, so, err
		}
		so.Exports = append(so.Exports, e)
	}
	return defs, so, nil
}
