package builder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/compare"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Result is what [Build] made.
type Result struct {
	// ExporterResponse is what the daemon's exporters returned when the
	// outputs were written: containerimage.digest (the image's, or with
	// several platforms or attestations the index's) and so on.
	ExporterResponse map[string]string
	// Manifests are each platform's image manifest digest, by platform ID
	// (linux/amd64): of the image that was checked, and of every image or
	// tarball written, which [Build] reads back to make sure.
	Manifests map[string]digest.Digest
	// Comparisons are, with [Options.CheckReproducible], each platform's
	// comparison of the two builds, in the order of the images.
	Comparisons []*compare.Result
	// Signatures are, with [Options.Signer], the tags the signatures of
	// what was pushed were stored under (NAME:sha256-<hex>.sig).
	Signatures []string

	// Reports are the images' reports (see [graph.Report]), by platform ID
	// and the report's name.
	Reports map[string]map[string][]byte

	// Warnings are what the images' graphs warn of ([Plan.Warnings]), then
	// what the build's steps said of the build, each once (see
	// [WarningPrefix]), when its progress was followed.
	Warnings []string

	// engineImage is the ID of the image the build exported, unnamed, into
	// the Docker Engine it ran on, for [Result.tag] to name.
	engineImage string
}

// Build builds imgs, one image a platform, into one image (an index of
// them when there are several), checks it and writes it to opt's outputs.
// The image is dated opt.SourceDateEpoch or, without one, by the build
// context's git HEAD commit (else the Unix epoch), and labelled with that
// work tree's revision and source URL (see [LabelRevision]), so every caller
// gets the same image for the same inputs.
//
// It builds once. When opt asks for checks, that build goes to a
// temporary OCI tarball and the checks run on it: opt.Verify on each
// platform's image, and with opt.CheckReproducible a second build ignoring
// every cache, compared platform by platform. Only when they pass are the
// outputs exported, from the daemon's cache of that same build (never a
// build of their own, NoCache or not), and each image and tarball written
// is read back: its platform manifests must be the ones checked
// (attestations such as provenance, which carry their own times, may
// differ), else Build fails; a tarball is then not written. A push goes by
// digest, and its tags are moved only once it is read back and, with
// opt.Signer, signed; a load's tarball is read back before the engine takes
// it. Without outputs the build is only checked.
//
// Progress goes to status when it is not nil; Build closes it. On a failed
// reproducibility check Build returns the Result, with its Comparisons,
// and an error wrapping [ErrCheck].
func Build(ctx context.Context, c *client.Client, imgs []graph.Image, opt Options, status chan *client.SolveStatus) (*Result, error) {
	if len(imgs) == 0 {
		if status != nil {
			close(status)
		}
		return nil, &PlanError{Field: "Images", Err: fmt.Errorf("%w: no image to build", ErrPlatform)}
	}
	var ps []ocispecs.Platform
	for _, img := range imgs {
		ps = append(ps, img.Platform)
	}
	p, err := NewPlan(ctx, func(pl ocispecs.Platform) (graph.Image, error) {
		i := slices.IndexFunc(imgs, func(img graph.Image) bool { return PlatformID(img.Platform) == PlatformID(pl) })
		return imgs[i], nil
	}, ps, opt)
	if err != nil {
		if status != nil {
			close(status)
		}
		return nil, err
	}
	return p.Build(ctx, c, status)
}

// build is [Build] on one daemon, of images it has checked.
func build(ctx context.Context, c *client.Client, imgs []graph.Image, opt run, prog *progress) (*Result, error) {
	res := &Result{}
	if opt.Verify != nil || opt.CheckReproducible {
		if err := check(ctx, c, imgs, opt, prog, res); err != nil {
			return res, err
		}
		if len(opt.Outputs) == 0 {
			return res, res.commit(&output.Stage{}, opt)
		}
		// The outputs are exported from the daemon's cache of the build
		// just checked: with NoCache they would be a build of their own.
		opt.NoCache = false
	}
	resp, st, err := solve(ctx, c, imgs, opt, opt.Outputs, prog.next())
	if err != nil {
		return nil, err
	}
	defer st.Discard()
	res.ExporterResponse = resp.ExporterResponse
	// What was written, pushed by digest or is to be loaded is read back
	// before anything is named, loaded or moved into place.
	r, err := res.readBack(ctx, imgs, opt, st)
	if err != nil {
		return nil, err
	}
	if err := st.Load(ctx, r); err != nil {
		return nil, err
	}
	if err := res.commit(st, opt); err != nil {
		return nil, err
	}
	return res, nil
}

// readBack reads back what opt's outputs wrote into st, pushed, or are to
// load (see [output.ReadBack]): each platform's manifest must be the one
// checked, res.Manifests, which the first read sets where nothing was
// checked. It returns the reader, for [output.Stage.Load].
func (res *Result) readBack(ctx context.Context, imgs []graph.Image, opt run, st *output.Stage) (*output.ReadBack, error) {
	r := &output.ReadBack{Platforms: platformsByID(imgs), Manifests: res.Manifests, Response: res.ExporterResponse, Engine: opt.engine, Keychain: opt.Keychain}
	if err := r.Outputs(ctx, st, opt.Outputs); err != nil {
		return nil, err
	}
	res.Manifests, res.engineImage = r.Manifests, r.EngineImage
	return r, nil
}

// commit stages the metadata file, when opt asks for one, beside the
// outputs st holds, and moves them all into place; on an error it leaves
// none of them.
func (res *Result) commit(st *output.Stage, opt run) error {
	defer st.Discard()
	res.Reports = opt.reports.all()
	if opt.MetadataFile != "" {
		dt, err := res.Metadata()
		if err != nil {
			return err
		}
		if err := st.File(opt.MetadataFile, dt); err != nil {
			return fmt.Errorf("metadata file: %w", err)
		}
	}
	return st.Commit()
}

// Metadata is the build's metadata as [Options.MetadataFile] holds it
// (see [output.Metadata]): the exporters' response and each platform's
// manifest digest.
func (res *Result) Metadata() ([]byte, error) {
	return output.Metadata(res.ExporterResponse, res.Manifests, res.Reports)
}

// tag names what the build pushed and loaded, once it is read back and
// signed: each pushed name's tag is moved to the digest the push gave, and
// an image exported unnamed into the engine the build ran on is given each
// load output's names. Until then a registry's tags and an engine's names
// still show what they showed before the build.
func (res *Result) tag(ctx context.Context, opt run) error {
	d := digest.Digest(res.ExporterResponse[exptypes.ExporterImageDigestKey])
	auth := remote.WithAuthFromKeychain(ref.Keychain(opt.Keychain))
	names := pushes(opt.Options)
	for _, n := range sortedKeys(names) {
		r, err := ref.ParseInsecure(n, names[n])
		if err != nil {
			return fmt.Errorf("tag %s: %w", n, err)
		}
		if t, ok := r.(name.Tag); ok { // a name by digest has nothing to move
			if err := publish.Tag(ctx, t, d, auth); err != nil {
				return err
			}
		}
	}
	if res.engineImage == "" {
		return nil
	}
	for _, o := range opt.Outputs {
		if o.Type != output.OutputLoad {
			continue
		}
		for _, n := range strings.Split(o.Attrs["name"], ",") {
			if err := opt.engine.Tag(ctx, res.engineImage, n); err != nil {
				return err
			}
		}
	}
	return nil
}
