package builder

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver/llbsolver/compat"
	spb "github.com/moby/buildkit/sourcepolicy/pb"
	digest "github.com/opencontainers/go-digest"
	"github.com/tonistiigi/fsutil"
)

// SolveOpt says where a build reads its context from and where its result goes.
type SolveOpt struct {
	// ContextDir is the build context's directory, sent as [ContextName].
	ContextDir string
	// Outputs are the exports of the result; none builds and keeps nothing.
	Outputs []Output
	// NoCache runs every step again, ignoring the daemon's cache.
	NoCache bool
	// Session holds session attachables, such as registry auth.
	Session []session.Attachable
	// SourceDateEpoch, when set, is the time the image says it was made:
	// the config's created time, its history and the label
	// org.opencontainers.image.created.
	SourceDateEpoch *time.Time
	// Mirrors pulls pinned images from mirrors by the same digest.
	Mirrors Mirrors
	// Provenance, when set, attaches BuildKit's SLSA provenance
	// attestation to the image: "mode=min" or "mode=max".
	Provenance string
	// CacheExports are where the build's cache goes (BuildKit's cache
	// exporters: registry, local, inline, gha, s3, azblob), mode=max unless
	// an export says otherwise. A failing export fails the build unless it
	// sets ignore-error=true.
	CacheExports []client.CacheOptionsEntry
	// CacheImports are caches the build may take its steps' results from
	// (registry, local, gha, s3, azblob). An import with nothing to import
	// is a warning in the progress, and the build goes on without it.
	CacheImports []client.CacheOptionsEntry
}

// LabelCreated is the label that records [SolveOpt.SourceDateEpoch].
const LabelCreated = "org.opencontainers.image.created"

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

// Solve builds img on the daemon c is connected to and exports it to every
// output in opt. Progress goes to status when it is not nil; Solve closes it.
// Output files and directories appear only when the whole build succeeds.
func Solve(ctx context.Context, c *client.Client, img Image, opt SolveOpt, status chan *client.SolveStatus) (*client.SolveResponse, error) {
	var st staged
	defer st.discard()
	def, so, err := prepare(ctx, img, opt, &st)
	if err != nil {
		if status != nil {
			close(status)
		}
		return nil, err
	}
	status = reportCacheImports(&so, status)

	build := func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		imports, err := buildCacheImports(gw)
		if err != nil {
			return nil, err
		}
		res, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true, CacheImports: imports})
		if err != nil {
			return nil, err
		}
		ref, err := res.SingleRef()
		if err != nil {
			return nil, err
		}
		var policies []*spb.Policy
		if so.SourcePolicy != nil {
			policies = append(policies, so.SourcePolicy)
		}
		_, _, baseConfig, err := gw.ResolveImageConfig(ctx, img.Base.String(), sourceresolver.Opt{
			LogName:        "resolve image config for " + img.Base.String(),
			SourcePolicies: policies,
			ImageOpt: &sourceresolver.ResolveImageOpt{
				Platform:    &img.Platform,
				ResolveMode: llb.ResolveModeDefault.String(),
			},
		})
		if err != nil {
			return nil, fmt.Errorf("resolve config of base %s: %w", img.Base, err)
		}
		config, err := img.ImageConfig(baseConfig, opt.SourceDateEpoch)
		if err != nil {
			return nil, err
		}
		out := gateway.NewResult()
		out.SetRef(ref)
		out.AddMeta(exptypes.ExporterImageConfigKey, config)
		out.AddMeta(exptypes.ExporterImageBaseConfigKey, baseConfig)
		return out, nil
	}
	resp, err := c.Build(ctx, so, "imagebuild", build, status)
	if err != nil {
		return nil, solveError(err, def)
	}
	if err := st.commit(); err != nil {
		return nil, err
	}
	return resp, nil
}

// prepare validates img and opt and turns them into the definition and the
// client's solve options, staging the outputs in st.
func prepare(ctx context.Context, img Image, opt SolveOpt, st *staged) (*llb.Definition, client.SolveOpt, error) {
	var so client.SolveOpt
	if err := img.Base.Validate(); err != nil {
		return nil, so, fmt.Errorf("base: %w", err)
	}
	if err := img.Config.Validate(); err != nil {
		return nil, so, fmt.Errorf("image config: %w", err)
	}
	if err := CheckContext(opt.ContextDir, img.ContextFiles); err != nil {
		return nil, so, err
	}
	var marshalOpts []llb.ConstraintsOpt
	if opt.NoCache {
		marshalOpts = append(marshalOpts, llb.IgnoreCache)
	}
	def, err := img.Marshal(ctx, marshalOpts...)
	if err != nil {
		return nil, so, err
	}

	so = client.SolveOpt{Session: opt.Session, CompatibilityVersion: CompatibilityVersion, FrontendAttrs: map[string]string{}}
	if opt.SourceDateEpoch != nil {
		so.FrontendAttrs["build-arg:SOURCE_DATE_EPOCH"] = strconv.FormatInt(opt.SourceDateEpoch.Unix(), 10)
	}
	if opt.Provenance != "" {
		so.FrontendAttrs["attest:provenance"] = opt.Provenance
	}
	if so.CacheExports, err = cacheExports(opt.CacheExports); err != nil {
		return nil, so, err
	}
	if so.CacheImports, err = cacheImports(opt.CacheImports); err != nil {
		return nil, so, err
	}
	refs, err := imageRefs(def, img.Base)
	if err != nil {
		return nil, so, err
	}
	if so.SourcePolicy, err = opt.Mirrors.sourcePolicy(refs); err != nil {
		return nil, so, fmt.Errorf("registry mirrors: %w", err)
	}
	if opt.ContextDir != "" {
		fs, err := fsutil.NewFS(opt.ContextDir)
		if err != nil {
			return nil, so, fmt.Errorf("build context: %w", err)
		}
		so.LocalMounts = map[string]fsutil.FS{ContextName: fs}
		// As buildx does: the daemon syncs a context incrementally into
		// the snapshot it last synced under the same key, so the key names
		// the directory.
		abs, err := filepath.Abs(opt.ContextDir)
		if err != nil {
			return nil, so, fmt.Errorf("build context: %w", err)
		}
		so.SharedKey = digest.FromString(abs).Encoded()
	}
	for _, o := range opt.Outputs {
		if err := o.Validate(); err != nil {
			return nil, so, err
		}
		o.Attrs = imageOutputAttrs(o, opt.SourceDateEpoch)
		e, err := st.entry(o)
		if err != nil {
			return nil, so, err
		}
		so.Exports = append(so.Exports, e)
	}
	return def, so, nil
}

// CheckReproducible builds img twice, the second time ignoring every cache of
// the daemon's, each into an OCI tarball in a temporary directory, and
// compares the two images. opt's outputs are not written. status[i], when
// not nil, receives build i's progress; each is closed.
func CheckReproducible(ctx context.Context, c *client.Client, img Image, opt SolveOpt, status [2]chan *client.SolveStatus) (*Comparison, error) {
	dir, err := os.MkdirTemp("", "imagebuild-reproduce-")
	if err != nil {
		for _, ch := range status {
			if ch != nil {
				close(ch)
			}
		}
		return nil, err
	}
	defer os.RemoveAll(dir)
	var tarballs [2]string
	for i := range 2 {
		o := opt
		o.NoCache = i == 1
		tarballs[i] = filepath.Join(dir, fmt.Sprintf("build-%d.oci.tar", i+1))
		o.Outputs = []Output{{Type: client.ExporterOCI, Dest: tarballs[i]}}
		if _, err := Solve(ctx, c, img, o, status[i]); err != nil {
			if i == 0 && status[1] != nil {
				close(status[1])
			}
			return nil, fmt.Errorf("build %d of 2: %w", i+1, err)
		}
	}
	return CompareOCI(tarballs[0], tarballs[1])
}
