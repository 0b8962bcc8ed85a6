package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/imagebuild/imagebuild/cache"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/output"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Images makes a build's image for a platform: a recipe, given its inputs.
type Images func(ocispecs.Platform) (graph.Image, error)

// Plan is a build checked as far as it can be without a daemon. [NewPlan]
// makes one; [Plan.Build] runs it. Its graphs may grow during the build
// where an image has an [Image.Expand], which the build calls with what a
// step found; a Plan holds the graph up to there.
type Plan struct {
	images Images
	// platforms are those asked for; none builds the daemon's own.
	platforms []ocispecs.Platform
	// imgs are the images checked: one a platform, or with none asked
	// for, one for [LinuxPlatform].
	imgs []graph.Image
	opt  Options
}

// PlanError is a build [NewPlan] refuses: Field names the [Options] field
// at fault ("Outputs", "CacheExports", "CacheImports", "Secrets",
// "Builders", "MetadataFile", "Provenance", "Signer"), or "Platforms" for the
// platforms asked for and "Images" for the images made, Index the element
// of a slice and Key the key of a map. The command maps it to its flags;
// Err says what is wrong.
type PlanError struct {
	Field string
	Index int
	Key   string
	Err   error
}

func (e *PlanError) Error() string {
	switch {
	case e.Key != "":
		return fmt.Sprintf("%s[%s]: %v", e.Field, e.Key, e.Err)
	case slices.Contains([]string{"Platforms", "Outputs", "CacheExports", "CacheImports"}, e.Field):
		return fmt.Sprintf("%s[%d]: %v", e.Field, e.Index, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Field, e.Err)
}

func (e *PlanError) Unwrap() error { return e.Err }

// NewPlan checks a build of the images images makes for ps (none: the
// daemon's default platform, found when the build starts) with opt, before
// any daemon is contacted: the platforms (Linux, each once), the images
// (one context, bases and configs valid), the outputs (their exporters' attributes, a folder to write
// in), the caches, the builders, the secrets (each read by a step, each a
// readable file), the metadata file's folder, the provenance mode and, last, the
// context's files the images read (present, not excluded). An
// error from images is returned as it is; every other is a [PlanError].
func NewPlan(ctx context.Context, images Images, ps []ocispecs.Platform, opt Options) (*Plan, error) {
	p := &Plan{images: images, platforms: ps, opt: opt}
	var ids []string
	for i, pl := range ps {
		if err := validPlatform(pl); err != nil {
			return nil, &PlanError{Field: "Platforms", Index: i, Err: err}
		}
		id := PlatformID(pl)
		if slices.Contains(ids, id) {
			return nil, &PlanError{Field: "Platforms", Index: i, Err: fmt.Errorf("%w: %s named twice", ErrPlatform, id)}
		}
		ids = append(ids, id)
	}
	probe := ps
	if len(ps) == 0 {
		probe = []ocispecs.Platform{LinuxPlatform()}
	}
	for _, pl := range probe {
		img, err := images(pl)
		if err != nil {
			return nil, err
		}
		if PlatformID(img.Platform) != PlatformID(pl) {
			return nil, &PlanError{Field: "Images", Err: fmt.Errorf("%w: an image for %s was asked for, and one for %s made", ErrPlatform, PlatformID(pl), PlatformID(img.Platform))}
		}
		p.imgs = append(p.imgs, img)
	}
	if err := validateImages(p.imgs); err != nil {
		return nil, &PlanError{Field: "Images", Err: err}
	}
	for i, o := range opt.Outputs {
		if err := validateOutput(o, len(probe)); err != nil {
			return nil, &PlanError{Field: "Outputs", Index: i, Err: err}
		}
		if err := o.ApartFrom(p.imgs[0].Context.Dir()); err != nil {
			return nil, &PlanError{Field: "Outputs", Index: i, Err: err}
		}
		if err := o.CheckDest(); err != nil {
			return nil, &PlanError{Field: "Outputs", Index: i, Err: err}
		}
	}
	for i, e := range opt.CacheExports {
		if err := cache.ValidateExport(e); err != nil {
			return nil, &PlanError{Field: "CacheExports", Index: i, Err: err}
		}
	}
	for i, e := range opt.CacheImports {
		if err := cache.ValidateImport(e); err != nil {
			return nil, &PlanError{Field: "CacheImports", Index: i, Err: err}
		}
	}
	if len(opt.Builders) > 0 {
		if err := validateBuilders(ids, opt); err != nil {
			return nil, err
		}
	}
	if err := p.checkSecrets(ctx); err != nil {
		return nil, err
	}
	if opt.MetadataFile != "" {
		if err := output.CheckFileDest(opt.MetadataFile); err != nil {
			return nil, &PlanError{Field: "MetadataFile", Err: err}
		}
	}
	if !slices.Contains([]string{"", "mode=min", "mode=max"}, opt.Provenance) {
		return nil, &PlanError{Field: "Provenance", Err: errors.New("want mode=min or mode=max")}
	}
	if opt.Signer != nil && len(pushes(opt)) == 0 {
		return nil, &PlanError{Field: "Signer", Err: errors.New("nothing is pushed to sign: a signature is stored beside the image in its registry; push it (type=image,push=true)")}
	}
	// Last, as the one check a graph can be written without (see
	// [ContextFileError]).
	if err := p.imgs[0].Context.Check(p.imgs[0].ContextFiles); err != nil {
		return nil, &PlanError{Field: "Images", Err: err}
	}
	return p, nil
}

// Images are the images the plan checked: one a platform asked for, or
// with none asked for, one for [LinuxPlatform].
func (p *Plan) Images() []graph.Image { return slices.Clone(p.imgs) }

// checkSecrets checks that a step reads each secret opt gives, that its
// file can be read, and that the build context does not send it.
func (p *Plan) checkSecrets(ctx context.Context) error {
	if len(p.opt.Secrets) == 0 {
		return nil
	}
	read, err := p.imgs[0].Secrets(ctx)
	if err != nil {
		return err
	}
	for _, id := range sortedKeys(p.opt.Secrets) {
		if !slices.Contains(read, id) {
			reads := "none"
			if len(read) > 0 {
				reads = "id=" + strings.Join(read, ", id=")
			}
			return &PlanError{Field: "Secrets", Key: id, Err: fmt.Errorf("no step of the recipe reads a secret of that id; it reads %s", reads)}
		}
		path := p.opt.Secrets[id]
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			return &PlanError{Field: "Secrets", Key: id, Err: fmt.Errorf("%s is not a readable file", path)}
		}
		if err := p.imgs[0].Context.KeepsOut(path); err != nil {
			return &PlanError{Field: "Secrets", Key: id, Err: err}
		}
	}
	return nil
}

// Warnings are what the images' graphs warn of ([graph.Image]'s
// Warnings), each once: a caller shows them before the build, which
// returns them first in [Result.Warnings].
func (p *Plan) Warnings() []string {
	var out []string
	for _, img := range p.imgs {
		for _, w := range img.Warnings {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out
}

// Build runs the plan: on c, and on opt.Builders' daemons for their
// platforms, as [Build] describes.
func (p *Plan) Build(ctx context.Context, c *client.Client, status chan *client.SolveStatus) (*Result, error) {
	prog := progress{out: status}
	defer prog.close()
	imgs, opt := p.imgs, run{Options: p.opt, reports: &reports{}}
	if len(p.platforms) == 0 {
		pl, err := DefaultPlatform(ctx, c)
		if err != nil {
			return nil, daemon.Lost(err)
		}
		if PlatformID(pl) != PlatformID(imgs[0].Platform) {
			img, err := p.images(pl)
			if err != nil {
				return nil, err
			}
			imgs = []graph.Image{img}
		}
	}
	opt.session = []session.Attachable{sessionAuth(opt.Keychain)}
	if len(opt.Secrets) > 0 {
		var srcs []secretsprovider.Source
		for _, id := range sortedKeys(opt.Secrets) {
			srcs = append(srcs, secretsprovider.Source{ID: id, FilePath: opt.Secrets[id]})
		}
		store, err := secretsprovider.NewStore(srcs)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		opt.session = append(opt.session, secretsprovider.NewSecretProvider(store))
	}
	if slices.ContainsFunc(opt.Outputs, func(o output.Output) bool { return o.Type == output.OutputLoad }) {
		opt.engine = opt.Engine
		if opt.engine == nil {
			opt.engine = daemon.EngineOf(c)
		}
		if opt.engine == nil {
			e, err := daemon.DialEngine(ctx, "")
			if err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
			defer e.Close()
			opt.engine = e
		}
		if len(imgs) > 1 && !(opt.engine.Builds(c) && opt.engine.HoldsIndexes()) {
			// Known only once the engine answers, and refused before
			// anything is built, as the plan refuses.
			i := slices.IndexFunc(opt.Outputs, func(o output.Output) bool { return o.Type == output.OutputLoad })
			return nil, &PlanError{Field: "Outputs", Index: i, Err: fmt.Errorf("%w: a load of %d platforms: an engine's image store holds an index only where the build runs on the engine (docker://) and it keeps images in containerd's image store; load one platform, or write the index with type=oci or push it", output.ErrInvalidOutput, len(imgs))}
		}
	}
	builders := map[string]*client.Client{}
	for _, id := range sortedKeys(opt.Builders) {
		b, err := daemon.Connect(ctx, opt.Builders[id])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		defer b.Close()
		builders[id] = b
	}
	// git's answers and the daemons' do not depend on each other.
	workers := make(chan error, 1)
	go func() { workers <- checkWorkers(ctx, c, imgs, builders) }()
	imgs, opt = withSource(ctx, imgs, opt)
	if err := <-workers; err != nil {
		return nil, err
	}
	var res *Result
	var err error
	if len(builders) > 0 {
		res, err = buildAcross(ctx, c, builders, imgs, opt, &prog)
	} else {
		res, err = build(ctx, c, imgs, opt, &prog)
	}
	if err != nil {
		prog.wg.Wait()
		prog.explain(err)
	}
	if res != nil {
		prog.wg.Wait()
		res.Warnings = p.Warnings()
		for _, w := range prog.said() {
			if !slices.Contains(res.Warnings, w) {
				res.Warnings = append(res.Warnings, w)
			}
		}
	}
	if err != nil {
		return res, err
	}
	if opt.Signer != nil {
		if err := res.sign(ctx, opt); err != nil {
			return res, err
		}
	}
	return res, res.tag(ctx, opt)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
