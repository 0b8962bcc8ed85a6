package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/solver/pb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// historyComment marks the history entries imagebuild writes.
const historyComment = "imagebuild"

// errUnknownLayers is returned by layers for a graph whose layers it cannot
// tell from the graph alone.
var errUnknownLayers = errors.New("layers not known from the graph")

// addHistory appends to cfg's history one entry for each layer the image
// adds on top of its base, named by the step that makes it. Left to
// BuildKit, the exporter names such a layer by the step that made it in
// this daemon, or by its blob digest ("imported sha256:...") when it came
// from an imported cache, so the same image would get another config
// digest. A graph whose layers cannot be told from it alone (a diff, a root
// on another image) is left to BuildKit.
func (img Image) addHistory(cfg *dockerspec.DockerOCIImage) error {
	g, err := img.decode(context.Background())
	if err != nil {
		return err
	}
	last := g.terminal()
	if last == nil || len(last.Inputs) != 1 {
		return nil // an empty image: no layers
	}
	base, err := reference.ParseNormalizedNamed(img.Base.String())
	if err != nil {
		return nil // no base to tell its layers by
	}
	names, err := g.layers(last.Inputs[0], base)
	if errors.Is(err, errUnknownLayers) {
		return nil
	}
	if err != nil {
		return err
	}
	// Entries for the base's layers first, where the base's history lacks them.
	var baseLayers int
	for _, h := range cfg.History {
		if !h.EmptyLayer {
			baseLayers++
		}
	}
	for ; baseLayers < len(cfg.RootFS.DiffIDs); baseLayers++ {
		cfg.History = append(cfg.History, ocispecs.History{})
	}
	for _, name := range names {
		cfg.History = append(cfg.History, ocispecs.History{Created: cfg.Created, CreatedBy: name, Comment: historyComment})
	}
	return nil
}

// layers returns the names of the layers in, an op's output, has on top of
// the base image base, bottom first, as BuildKit stacks them: a process or a file
// operation adds one layer to the output it changes, and a merge stacks its
// inputs' layers in order.
func (g *Graph) layers(in *pb.Input, base reference.Named) ([]string, error) {
	d := digest.Digest(in.Digest)
	op, ok := g.ops[d]
	if !ok {
		return nil, fmt.Errorf("graph has no op %s", d)
	}
	input := func(i int64) ([]string, error) {
		if i < 0 {
			return nil, nil // scratch
		}
		if i >= int64(len(op.Inputs)) {
			return nil, fmt.Errorf("op %s: no input %d", d, i)
		}
		return g.layers(op.Inputs[i], base)
	}
	name := g.names[d]
	switch o := op.Op.(type) {
	case *pb.Op_Source:
		id, ok := strings.CutPrefix(o.Source.Identifier, "docker-image://")
		if !ok {
			return nil, fmt.Errorf("%w: source %s", errUnknownLayers, o.Source.Identifier)
		}
		ref, err := reference.ParseNormalizedNamed(id)
		if err != nil || ref.String() != base.String() {
			return nil, fmt.Errorf("%w: image %s is not the base", errUnknownLayers, id)
		}
		return nil, nil // the base's own layers, in its own history
	case *pb.Op_Exec:
		for _, m := range o.Exec.Mounts {
			if m.Output != in.Index {
				continue
			}
			below, err := input(m.Input)
			if name == "" {
				name = strings.Join(o.Exec.GetMeta().GetArgs(), " ")
			}
			return append(below, name), err
		}
		return nil, fmt.Errorf("op %s: no output %d", d, in.Index)
	case *pb.Op_File:
		actions := o.File.Actions
		for _, a := range actions {
			if a.Output != in.Index {
				continue
			}
			// A chain of actions makes one layer on the input at its bottom.
			for a.Input >= int64(len(op.Inputs)) {
				i := a.Input - int64(len(op.Inputs))
				if i >= int64(len(actions)) {
					return nil, fmt.Errorf("op %s: no action %d", d, i)
				}
				a = actions[i]
			}
			below, err := input(a.Input)
			if name == "" {
				name = fileActionName(a)
			}
			return append(below, name), err
		}
		return nil, fmt.Errorf("op %s: no output %d", d, in.Index)
	case *pb.Op_Merge:
		var stacked []string
		for _, m := range o.Merge.Inputs {
			l, err := input(m.Input)
			if err != nil {
				return nil, err
			}
			stacked = append(stacked, l...)
		}
		return stacked, nil
	default:
		return nil, fmt.Errorf("%w: op %s is a %T", errUnknownLayers, d, op.Op)
	}
}

// fileActionName names an unnamed file operation by what it does.
func fileActionName(a *pb.FileAction) string {
	switch x := a.Action.(type) {
	case *pb.FileAction_Copy:
		return "copy " + x.Copy.Src + " " + x.Copy.Dest
	case *pb.FileAction_Mkfile:
		return "mkfile " + x.Mkfile.Path
	case *pb.FileAction_Mkdir:
		return "mkdir " + x.Mkdir.Path
	case *pb.FileAction_Rm:
		return "rm " + x.Rm.Path
	case *pb.FileAction_Symlink:
		return "symlink " + x.Symlink.Newpath
	}
	return "file"
}
