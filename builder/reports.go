package builder

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/reffs"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// reports are the reports (see [graph.Report]) the build read, by
// platform ID and name.
type reports struct {
	mu sync.Mutex
	m  map[string]map[string][]byte
}

// read reads img's reports, whose image gw has just solved: each step is
// part of that graph, so solving it again runs nothing. A report its step
// did not write is left out.
func (r *reports) read(ctx context.Context, gw gateway.Client, img graph.Image, imports []gateway.CacheOptionsEntry, opt run) error {
	if r == nil || len(img.Reports) == 0 {
		return nil
	}
	got := map[string][]byte{}
	for _, rep := range img.Reports {
		def, err := opt.marshal(ctx, rep.Step, img.Platform)
		if err != nil {
			return err
		}
		res, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), CacheImports: imports})
		if err != nil {
			return fmt.Errorf("report %s: %w", rep.Name, err)
		}
		ref, err := res.SingleRef()
		if err != nil {
			return fmt.Errorf("report %s: %w", rep.Name, err)
		}
		st, err := ref.StatFile(ctx, gateway.StatRequest{Path: rep.File})
		if err != nil || st.Size > graph.MaxReport {
			continue // not written (or not a report)
		}
		if got[rep.Name], err = reffs.ReadFile(ctx, ref, rep.File); err != nil {
			return fmt.Errorf("report %s: %w", rep.Name, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]map[string][]byte{}
	}
	r.m[PlatformID(img.Platform)] = got
	return nil
}

// all returns what was read.
func (r *reports) all() map[string]map[string][]byte {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.m)
}
