package builder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/reffs"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

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
func expand(ctx context.Context, gw gateway.Client, img graph.Image, imports []gateway.CacheOptionsEntry, opt run) (graph.Image, error) {
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
	// goAhead solves the steps of more side by side, their files into
	// ahead from index first on.
	goAhead := func(first int, more []graph.Ahead) {
		for i, a := range more {
			wg.Go(func() {
				if ref, err := solve(actx, a.Step); err == nil {
					ahead[first+i], _ = reffs.ReadFile(actx, ref, a.File)
				}
			})
		}
	}
	goAhead(0, x.Ahead)
	if x.Later {
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return img, err
		}
		made, err := x.Root(nil, ahead)
		if err == nil {
			img.Root, img.Reports, img.Expand = made.Root, made.Reports, nil
			return img, nil
		}
		if !errors.Is(err, graph.ErrNeedStep) {
			return img, err
		}
	}
	step := x.Step
	if x.Later && x.Narrow != nil {
		if n, ok := x.Narrow(ahead); ok {
			step = n.Step
			ahead = append(slices.Clip(ahead), make([][]byte, len(n.Ahead))...)
			goAhead(len(x.Ahead), n.Ahead)
		}
	}
	ref, err := solve(ctx, step)
	if err != nil {
		return img, err
	}
	files := map[string][]byte{}
	for _, f := range x.Files {
		if files[f], err = reffs.ReadFile(ctx, ref, f); err != nil {
			return img, fmt.Errorf("read %s from the expansion step: %w", f, err)
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return img, err
	}
	made, err := x.Root(files, ahead)
	if err != nil {
		return img, err
	}
	img.Root, img.Reports, img.Expand = made.Root, made.Reports, nil
	return img, nil
}
