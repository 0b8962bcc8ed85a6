package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/cache"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/output"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	spb "github.com/moby/buildkit/sourcepolicy/pb"
	"github.com/moby/buildkit/util/entitlements"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"
)

// solve runs one build of imgs, one image a platform, on the daemon c is
// connected to and exports it to outputs. It returns the daemon's response
// and the outputs staged, written but not yet moved into place; the caller
// commits or discards them. Progress goes to status when it is not nil;
// solve closes it.
func solve(ctx context.Context, c *client.Client, imgs []graph.Image, opt run, outputs []output.Output, status chan *client.SolveStatus) (*client.SolveResponse, *output.Stage, error) {
	st := &output.Stage{OnEngine: opt.engine.Builds(c)}
	defs, so, err := prepare(ctx, imgs, opt, outputs, st)
	if err != nil {
		if status != nil {
			close(status)
		}
		st.Discard()
		return nil, nil, err
	}
	var policies []*spb.Policy
	if so.SourcePolicy != nil {
		policies = append(policies, so.SourcePolicy)
	}
	status = cache.ReportImports(&so, status)
	// The graphs expansions make during the build, for naming a failed step.
	var expanded definitions

	build := func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		imports, err := cache.BuildImports(gw)
		if err != nil {
			return nil, err
		}
		// Every platform's base configs first, the runtime's and the
		// builder's, so a platform a base lacks is refused before any step
		// runs. The image config starts from the runtime's.
		baseConfigs := make([][]byte, len(imgs))
		for i, img := range imgs {
			for _, base := range img.Bases() {
				_, _, baseConfig, err := gw.ResolveImageConfig(ctx, base.String(), sourceresolver.Opt{
					LogName:        fmt.Sprintf("resolve image config for %s (%s)", base, platforms.Format(img.Platform)),
					SourcePolicies: policies,
					ImageOpt: &sourceresolver.ResolveImageOpt{
						Platform:    &img.Platform,
						ResolveMode: llb.ResolveModeDefault.String(),
					},
				})
				if err != nil {
					return nil, baseError(ctx, base, img.Platform, opt, err)
				}
				if base == img.Base {
					baseConfigs[i] = baseConfig
				}
			}
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
				if refs[i], err = res.SingleRef(); err != nil {
					return err
				}
				if err := opt.reports.read(ectx, gw, img, imports, opt); err != nil || !opt.SBOM {
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
		st.Discard()
		if ctx.Err() == nil {
			if err := daemon.Lost(err); errors.Is(err, daemon.ErrLost) {
				return nil, nil, err
			}
		}
		return nil, nil, solveErrorOf(err, append(defs, expanded.all()...), imgs)
	}
	return resp, st, nil
}

// prepare turns imgs, which a [Plan] has checked, and opt into one definition a platform and the client's solve
// options, staging outputs in st.
func prepare(ctx context.Context, imgs []graph.Image, opt run, outputs []output.Output, st *output.Stage) ([]*llb.Definition, client.SolveOpt, error) {
	var so client.SolveOpt
	var defs []*llb.Definition
	var refs []string
	for _, img := range imgs {
		def, err := opt.marshal(ctx, img.Root, img.Platform)
		if err != nil {
			return nil, so, err
		}
		defs = append(defs, def)
		r, err := imageRefs(def, img.Bases())
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
	so.CacheExports, so.CacheImports = cache.Exports(opt.CacheExports), cache.Imports(opt.CacheImports)
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
		e, err := st.Entry(o, opt.SourceDateEpoch)
		if err != nil {
			return nil, so, err
		}
		so.Exports = append(so.Exports, e)
	}
	return defs, so, nil
}
