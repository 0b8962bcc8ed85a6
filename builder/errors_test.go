package builder

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/moby/buildkit/client/llb"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestSolveError maps errors shaped as the daemon's (a vertex digest, and
// for a process its exit code) to the step or image they name.
func TestSolveError(t *testing.T) {
	const ref = "docker.io/library/python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d"
	script := "set -e\nadduser appuser\nexit 3"
	st := llb.Image(ref).Run(llb.Args([]string{"/bin/sh", "-c", script}), llb.WithCustomName("runtime: add appuser")).Root()
	def, err := st.Marshal(t.Context(), llb.Platform(ocispecs.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Decode(def)
	if err != nil {
		t.Fatal(err)
	}
	var run, src digest.Digest
	for d, op := range g.All() {
		switch {
		case op.GetExec() != nil:
			run = d
		case op.GetSource() != nil:
			src = d
		}
	}
	daemon := fmt.Errorf("failed to solve: %w", &gwpb.ExitError{ExitCode: 3,
		Err: errdefs.WrapVertex(fmt.Errorf("process %q did not complete successfully: exit code: 3", script), run)})
	var step *StepError
	if err := solveError(daemon, def); !errors.As(err, &step) || err.Error() != `step "runtime: add appuser" failed with exit code 3` {
		t.Errorf("failed process: %v, want the step's name and exit code", err)
	} else if strings.Contains(err.Error(), "adduser") {
		t.Errorf("failed process: %v names the script", err)
	}

	pullErr := fmt.Errorf("failed to solve: %w", errdefs.WrapVertex(errors.New("failed to load cache key: not found"), src))
	var pull *PullError
	if err := solveError(pullErr, def); !errors.As(err, &pull) || pull.Ref != ref || err.Error() != "pull "+ref+": not found" {
		t.Errorf("failed pull: %v, want a PullError for %s saying not found", err, ref)
	}

	other := errors.New("failed to solve: some other reason")
	if err := solveError(other, def); err != other {
		t.Errorf("other error: %v, want it unchanged", err)
	}
}
