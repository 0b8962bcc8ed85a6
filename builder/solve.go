package builder

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
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
}

// Solve builds img on the daemon c is connected to and exports it to every
// output in opt. Progress goes to status when it is not nil; Solve closes it.
// Output files and directories appear only when the whole build succeeds.
func Solve(ctx context.Context, c *client.Client, img Image, opt SolveOpt, status chan *client.SolveStatus) (resp *client.SolveResponse, err error) {
	closeStatus := func() {
		if status != nil {
			close(status)
		}
	}
	if err := img.Base.Validate(); err != nil {
		closeStatus()
		return nil, fmt.Errorf("base: %w", err)
	}
	if err := img.Config.Validate(); err != nil {
		closeStatus()
		return nil, fmt.Errorf("image config: %w", err)
	}
	var marshalOpts []llb.ConstraintsOpt
	if opt.NoCache {
		marshalOpts = append(marshalOpts, llb.IgnoreCache)
	}
	def, err := img.Marshal(ctx, marshalOpts...)
	if err != nil {
		closeStatus()
		return nil, err
	}

	so := client.SolveOpt{Session: opt.Session}
	if opt.ContextDir != "" {
		fs, err := fsutil.NewFS(opt.ContextDir)
		if err != nil {
			closeStatus()
			return nil, fmt.Errorf("build context: %w", err)
		}
		so.LocalMounts = map[string]fsutil.FS{ContextName: fs}
		// As buildx does: the daemon syncs a context incrementally into
		// the snapshot it last synced under the same key, so the key names
		// the directory.
		abs, err := filepath.Abs(opt.ContextDir)
		if err != nil {
			closeStatus()
			return nil, fmt.Errorf("build context: %w", err)
		}
		so.SharedKey = digest.FromString(abs).Encoded()
	}
	var st staged
	defer st.discard()
	for _, o := range opt.Outputs {
		if err := o.Validate(); err != nil {
			closeStatus()
			return nil, err
		}
		e, err := st.entry(o)
		if err != nil {
			closeStatus()
			return nil, err
		}
		so.Exports = append(so.Exports, e)
	}

	build := func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		res, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
		if err != nil {
			return nil, err
		}
		ref, err := res.SingleRef()
		if err != nil {
			return nil, err
		}
		_, _, baseConfig, err := gw.ResolveImageConfig(ctx, img.Base.String(), sourceresolver.Opt{
			LogName: "resolve image config for " + img.Base.String(),
			ImageOpt: &sourceresolver.ResolveImageOpt{
				Platform:    &img.Platform,
				ResolveMode: llb.ResolveModeDefault.String(),
			},
		})
		if err != nil {
			return nil, fmt.Errorf("resolve config of base %s: %w", img.Base, err)
		}
		config, err := img.ImageConfig(baseConfig)
		if err != nil {
			return nil, err
		}
		out := gateway.NewResult()
		out.SetRef(ref)
		out.AddMeta(exptypes.ExporterImageConfigKey, config)
		out.AddMeta(exptypes.ExporterImageBaseConfigKey, baseConfig)
		return out, nil
	}
	resp, err = c.Build(ctx, so, "imagebuild", build, status)
	if err != nil {
		return nil, err
	}
	if err := st.commit(); err != nil {
		return nil, err
	}
	return resp, nil
}
