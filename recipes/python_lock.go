package recipes

import (
	"github.com/imagebuild/imagebuild/graph"
	"github.com/moby/buildkit/client/llb"
)

// lockBase is the builder stage's base of p, a recipe whose own base is
// def, for in, and the packages it asks for.
func (p Python) lockBase(def Base, in Inputs) (Base, []string) {
	b := in.BaseOr(Base{Pin: p.withDefaults(def, def).Base, Distro: def.Distro})
	return b, p.withDefaults(def, b).Packages
}

// lockImage is the graph of `imagebuild lock` for p, a recipe whose own
// base is def: the builder stage with its packages installed and
// recorded, and a step for each distribution of the requirements (once
// resolved, for a file not locked with hashes) and local project that
// records its file and build requirements, compiling nothing. Its Root
// holds the records ([ReadLockRecords]).
func (p Python) lockImage(def Base, in Inputs) (graph.Image, error) {
	p = p.withLockFile(in.Context)
	if err := p.validate(def); err != nil {
		return graph.Image{}, err
	}
	b, _ := p.lockBase(def, in)
	p = p.withDefaults(def, b)
	reqs, projects, err := p.requirements(in.Context)
	if err != nil {
		return graph.Image{}, err
	}
	base := llb.Image(b.Pin.String(), llb.Platform(in.Platform))
	context := in.Context.All()
	v := p.venv(base, b.Distro, in.Platform, reqs.Options, builderLock{record: true}, true)
	img := graph.Image{
		Platform:     in.Platform,
		Base:         b.Pin,
		Context:      in.Context,
		ContextFiles: []graph.ContextFile{{Path: p.Requirements, NamedBy: "the recipe's Requirements field"}},
	}
	records := func(dists []Distribution) llb.State {
		rs := append([]llb.State{llb.Scratch()}, v.records...)
		for _, d := range dists {
			rs = append(rs, v.lockRecord(d, len(rs)))
		}
		for _, dir := range projects {
			rs = append(rs, v.lockProject(context, dir, len(rs)))
		}
		return llb.Merge(rs, llb.WithCustomName("lock: the records"))
	}
	if reqs.Locked {
		img.Root = records(reqs.Distributions)
		return img, nil
	}
	resolve := v.resolve(context, p.Requirements, reqs.Projects)
	img.Root = resolve
	img.Expand = &graph.Expansion{
		Step:  resolve,
		Files: []string{"/" + lockFileName},
		Root: func(files map[string][]byte, _ [][]byte) (graph.Expanded, error) {
			dists, err := parseLock(files["/"+lockFileName])
			if err != nil {
				return graph.Expanded{}, err
			}
			return graph.Expanded{Root: records(dists)}, nil
		},
	}
	return img, nil
}

// builderImage is the builder stage pl locks, for p, a recipe whose own
// base is def, as an image: the base, the locked packages, the venvs,
// and a wheelhouse of the locked build requirements.
func (p Python) builderImage(def Base, in Inputs, pl PlatformLock) (graph.Image, error) {
	p = p.withLockFile(in.Context)
	if err := p.validate(def); err != nil {
		return graph.Image{}, err
	}
	b, packages := p.lockBase(def, in)
	p = p.withDefaults(def, b)
	reqs, _, err := p.requirements(in.Context)
	if err != nil {
		return graph.Image{}, err
	}
	lock := &Lock{Platforms: map[string]PlatformLock{platformName(in.Platform): pl}}
	checked, err := lock.platformLock(in.Platform, b, packages)
	if err != nil {
		return graph.Image{}, err
	}
	base := llb.Image(b.Pin.String(), llb.Platform(in.Platform))
	v := p.venv(base, b.Distro, in.Platform, reqs.Options, builderLock{pl: checked}, true)
	root, err := v.withWheelhouse()
	if err != nil {
		return graph.Image{}, err
	}
	return graph.Image{
		Platform:     in.Platform,
		Root:         root,
		Base:         b.Pin,
		Context:      in.Context,
		ContextFiles: []graph.ContextFile{{Path: p.Requirements, NamedBy: "the recipe's Requirements field"}},
	}, nil
}

// LockImage implements [Locker].
func (r PythonSlim) LockImage(in Inputs) (graph.Image, error) {
	return Python(r).lockImage(pythonSlimBase, in)
}

// LockBase implements [Locker].
func (r PythonSlim) LockBase(in Inputs) (Base, []string) {
	return Python(r).lockBase(pythonSlimBase, in)
}

// BuilderImage implements [Locker].
func (r PythonSlim) BuilderImage(in Inputs, pl PlatformLock) (graph.Image, error) {
	return Python(r).builderImage(pythonSlimBase, in, pl)
}

// LockImage implements [Locker].
func (r PythonAlpine) LockImage(in Inputs) (graph.Image, error) {
	return Python(r).lockImage(pythonAlpineBase, in)
}

// LockBase implements [Locker].
func (r PythonAlpine) LockBase(in Inputs) (Base, []string) {
	return Python(r).lockBase(pythonAlpineBase, in)
}

// BuilderImage implements [Locker].
func (r PythonAlpine) BuilderImage(in Inputs, pl PlatformLock) (graph.Image, error) {
	return Python(r).builderImage(pythonAlpineBase, in, pl)
}
