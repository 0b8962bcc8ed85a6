package builder

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// StepError is a step of the graph whose process exited unsuccessfully. Its
// message names the step as the graph names it (llb.WithCustomName), not by
// its command line, which for a shell step is the whole script.
type StepError struct {
	// Name is the step's name, else its command's first line.
	Name string
	// ExitCode is the process's exit code.
	ExitCode int
	// Reason is the last line the step said that starts with
	// [ReasonPrefix], without it: why the step refused to go on, when it
	// said so and its progress was followed.
	Reason string
	// Vertex is the step's digest in the graph.
	Vertex digest.Digest
	// Err is the daemon's error.
	Err error
}

func (e *StepError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("step %q failed: %s", e.Name, e.Reason)
	}
	return fmt.Sprintf("step %q failed with exit code %d", e.Name, e.ExitCode)
}

func (e *StepError) Unwrap() error { return e.Err }

// PullError is an image the graph starts from that the daemon could not
// pull or resolve: a wrong reference, or a registry that does not answer.
type PullError struct {
	// Ref is the image's reference, as the graph names it.
	Ref string
	// Err is the daemon's error.
	Err error
}

func (e *PullError) Error() string {
	// BuildKit's generic prefixes say nothing about the image.
	msg := e.Err.Error()
	for _, p := range []string{"failed to solve: ", "failed to load cache key: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return fmt.Sprintf("pull %s: %s", e.Ref, msg)
}

func (e *PullError) Unwrap() error { return e.Err }

// solveError turns an error of solving def into a [*StepError] when a
// process of the graph failed, or a [*PullError] when one of its images
// could not be pulled; other errors are returned as they are. The daemon's
// error carries the failed vertex's digest and, for a process, its exit
// code and the op's description.
func solveError(err error, def *llb.Definition) error {
	var ve *errdefs.VertexError
	if err == nil || def == nil || !errors.As(err, &ve) {
		return err
	}
	dgst := digest.Digest(ve.Digest)
	var exit *gwpb.ExitError
	if errors.As(err, &exit) {
		name := def.Metadata[dgst].Description["llb.customname"]
		var se *errdefs.SolveError
		if name == "" && errors.As(err, &se) {
			name = se.Description["llb.customname"]
			if args := se.Op.GetExec().GetMeta().GetArgs(); name == "" && len(args) > 0 {
				name, _, _ = strings.Cut(strings.Join(args, " "), "\n")
			}
		}
		if name == "" {
			name = dgst.String()
		}
		return &StepError{Name: name, ExitCode: int(exit.ExitCode), Vertex: dgst, Err: err}
	}
	if g, derr := graph.Decode(def); derr == nil && g.Op(dgst) != nil {
		if ref, ok := strings.CutPrefix(g.Op(dgst).GetSource().GetIdentifier(), "docker-image://"); ok {
			return &PullError{Ref: ref, Err: err}
		}
	}
	return err
}

// solveErrorOf is [solveError] for the definition, of defs, that holds the
// failed vertex. An error with no vertex that names a base of imgs (the
// runtime's or the builder's) is the daemon's answer when asked for that
// base, before any step: a [*PullError] too, unless it is the base lacking
// a platform.
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
			for _, b := range img.Bases() {
				if strings.Contains(msg, b.String()) {
					return &PullError{Ref: b.String(), Err: err}
				}
			}
		}
	}
	return err
}

// baseError explains err, the daemon's answer when asked for the config
// of base, an image's base, for platform p: a platform the base's index
// lacks is named with the platforms it has, as its registry lists them to
// Options.Keychain.
func baseError(ctx context.Context, base ref.Pin, p ocispecs.Platform, opt run, err error) error {
	if !strings.Contains(err.Error(), "no match for platform") {
		return err // named by the client, which gets only its message
	}
	has := ""
	if have, lerr := basePlatforms(ctx, base, opt.Mirrors, opt.Keychain); lerr == nil {
		has = "; it has " + strings.Join(have, ", ")
	}
	return fmt.Errorf("%w: the base %s has no %s image%s", ErrPlatform, base, platforms.Format(p), has)
}

// basePlatforms lists the platforms of pin's index, through its mirror in m
// when there is one.
func basePlatforms(ctx context.Context, pin ref.Pin, m ref.Mirrors, keychain authn.Keychain) ([]string, error) {
	from, err := m.Rewrite(pin.Name() + "@" + pin.Digest().String())
	if err != nil {
		return nil, err
	}
	r, err := ref.Parse(from)
	if err != nil {
		return nil, err
	}
	idx, err := remote.Index(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(ref.Keychain(keychain)))
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range im.Manifests {
		if d.Platform == nil || oci.IsAttestation(d) || d.Platform.OS == "unknown" {
			continue
		}
		out = append(out, d.Platform.String())
	}
	return out, nil
}
