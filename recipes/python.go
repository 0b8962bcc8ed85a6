package recipes

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Python holds the fields of the Python recipes, [PythonAlpine] and
// [PythonSlim], which are this struct with their own defaults and
// distribution: two stages, each on a pinned base (by default one base for
// both); the builder installs build dependencies with the distribution's
// package manager and pip-installs the requirements into /opt/venv; the
// runtime gets only /opt/venv and the build
// context (as /app), both owned by the non-root appuser (UID/GID 1000, no
// home, a nologin shell), and runs as that user. A locked venv for
// another machine than the daemon's ([Inputs]'s Native) is cross-compiled
// on the daemon's own where the distribution has a cross toolchain
// (Debian), a distribution that cannot be taken alone under emulation
// (docs/platforms.md). Zero values take the recipe's defaults, so a
// literal names only what it changes:
//
//	recipes.PythonAlpine{User: "1000:1000", RuntimePackages: []string{"libpq"}}
type Python struct {
	// Base is the base image of the builder stage, and of the runtime
	// stage unless RuntimeBase names another, pinned by digest, running
	// the recipe's distribution. Default: the recipe's pin
	// ([PythonAlpineBase], [PythonSlimBase]). Declare a pin of your own as
	// a typed constant (const MyBase ref.Pin = "NAME:TAG@sha256:..."), so
	// that `pins check` and `pins bump` find it.
	Base ref.Pin
	// RuntimeBase is the base image of the runtime stage, pinned by
	// digest: the image's own first layers and the config it starts from.
	// It runs the same distribution as Base, with the same Python at the
	// same path (verify checks the venv fits it), so that the venv built on
	// Base runs on it: Base patched for a CVE, say. Nothing built in the
	// builder stage depends on it, so a new RuntimeBase rebuilds the
	// runtime stage alone, each distribution's step a cache hit and each
	// venv and app layer the same bytes. Default: Base. Declare it as a
	// typed constant of its own, as for Base, so that `pins bump
	// --runtime` bumps it alone.
	RuntimeBase ref.Pin
	// Packages are the build dependencies installed in the builder stage,
	// where anything may compile: not where a lock says every
	// distribution is a wheel (a uv.lock, pylock.toml or poetry.lock that
	// lists wheels alone, or an imagebuild.lock that fetched a wheel for
	// each) and there is no local project. Default: the distribution's
	// list of ADR-003's build dependencies (docs/adr-003.md).
	Packages []string
	// RuntimePackages are installed in the runtime stage, for shared
	// libraries a compiled extension needs and its wheel does not bundle
	// (libpq for an extension linking libpq, say). Default: none, and then
	// no process runs in the runtime stage.
	RuntimePackages []string
	// Requirements is the path in the build context of the pip
	// requirements file, or of a lock file: uv.lock, pylock.toml (or
	// pylock.NAME.toml) or poetry.lock, read with the pyproject.toml
	// beside it (see [ParseLockFile]). It is the pip step's only input
	// from the context, so editing the app does not run pip again.
	// Default: requirements.txt, or where the context sends none, the
	// first of [LockFiles] it sends.
	Requirements string
	// Groups are the dependency groups and extras of a lock file to
	// install besides its default set (uv's and Poetry's main
	// dependencies, a pylock.toml's default-groups). Default: none.
	Groups []string
	// Cmd is the runtime command, run in /app. Default: python -m app.
	Cmd []string
	// Env sets runtime environment variables, KEY=VALUE. PATH always has
	// /opt/venv/bin first and cannot be set here.
	Env []string
	// Labels are added to the image's labels.
	Labels map[string]string
	// User is the image config's user: appuser (the default), or another
	// form of the same account (appuser:appgroup, 1000, 1000:1000);
	// Kubernetes' runAsNonRoot needs the numeric form to verify.
	User string
	// Healthcheck, when set, is the image's healthcheck.
	Healthcheck *graph.Healthcheck
	// KeepPip keeps pip (and what the Python's ensurepip bundles with it,
	// setuptools before Python 3.12) in /opt/venv. By default the venv holds
	// only the requirements and what they depend on: it is filled by a pip
	// that stays in the builder stage, since the runtime never runs pip and
	// old copies of pip and setuptools are common scanner findings.
	KeepPip bool
}

const (
	venvDir = "/opt/venv"
	// venvPython is the venv's interpreter, under which pip installs
	// into it.
	venvPython = venvDir + "/bin/python"
	// venvWildcard matches venvDir, and nothing where it is not there.
	venvWildcard = "/opt/ven[v]"
	appDir       = "/app"
	// pipToolDir is a venv in the builder stage that holds the pip that
	// fills /opt/venv, so the runtime's venv need not carry pip itself.
	pipToolDir = "/opt/imagebuild-pip"
	// pipConfPath is where the pip step sees the PipConfSecret: pip's
	// global config file.
	pipConfPath = "/etc/pip.conf"
	// requirementsDir is the folder the resolve step runs in, where it
	// sees the requirements file, as requirementsMount, and the local
	// projects it names.
	requirementsDir = "/run/imagebuild/requirements"
	// requirementsMount is where the pip step sees the requirements file.
	requirementsMount = requirementsDir + "/requirements.txt"
)

// venvParent is an empty tree with venvDir's parent folder, in which a
// copy of venvWildcard finds nothing rather than no folder to look in.
func venvParent() llb.State {
	return llb.Scratch().File(llb.Mkdir(path.Dir(venvDir), 0o755, llb.WithCreatedTime(FixedTime())), llb.WithCustomName("builder: an empty "+path.Dir(venvDir)))
}

// PipConfSecret is the ID of the build secret that is pip's config file
// during the pip step, and only there: a private index and its token
// (`imagebuild build --secret id=pipconf,src=pip.conf`). A secret is mounted,
// never copied: it reaches no layer, config or history.
const PipConfSecret = "pipconf"

// withDefaults fills the zero fields of p, a recipe whose own base is def
// built on b.
func (p Python) withDefaults(def, b Base) Python {
	if p.Base == "" {
		p.Base = def.Pin
	}
	if p.RuntimeBase == "" {
		p.RuntimeBase = p.Base
	}
	if p.Packages == nil {
		p.Packages = b.Distro.BuildPackages()
	}
	if p.Requirements == "" {
		p.Requirements = defaultRequirements
	}
	if p.Cmd == nil {
		p.Cmd = []string{"python", "-m", "app"}
	}
	if p.User == "" {
		p.User = AppUser.Name
	}
	return p
}

// defaultRequirements is the requirements file a recipe reads when its
// Requirements field is not set.
const defaultRequirements = "requirements.txt"

// withLockFile sets p's Requirements, when not set, to the first of
// [LockFiles] that c sends where c sends no requirements.txt.
func (p Python) withLockFile(c graph.Context) Python {
	if p.Requirements != "" || c.Dir() == "" || c.Check([]graph.ContextFile{{Path: defaultRequirements}}) == nil {
		return p
	}
	for _, name := range LockFiles {
		if c.Check([]graph.ContextFile{{Path: name}}) == nil {
			p.Requirements = name
			break
		}
	}
	return p
}

// validate reports, naming the field, what makes p, a recipe whose own
// base is def, unbuildable.
func (p Python) validate(def Base) error {
	p = p.withDefaults(def, def)
	if err := p.Base.Validate(); err != nil {
		return &graph.FieldError{Field: "Base", Err: err}
	}
	if err := p.RuntimeBase.Validate(); err != nil {
		return &graph.FieldError{Field: "RuntimeBase", Err: err}
	}
	for _, pkg := range p.Packages {
		if err := ValidPackage(pkg); err != nil {
			return &graph.FieldError{Field: "Packages", Err: err}
		}
	}
	for _, pkg := range p.RuntimePackages {
		if err := ValidPackage(pkg); err != nil {
			return &graph.FieldError{Field: "RuntimePackages", Err: err}
		}
	}
	if err := graph.ValidContextPath(p.Requirements); err != nil {
		return &graph.FieldError{Field: "Requirements", Err: err}
	}
	if p.Cmd != nil && len(p.Cmd) == 0 {
		return &graph.FieldError{Field: "Cmd", Err: errors.New("empty; leave it nil for the default, python -m app")}
	}
	if !slices.Contains(AppUser.ConfigUsers(), p.User) {
		return &graph.FieldError{Field: "User", Err: fmt.Errorf("%q: want one of %s", p.User, strings.Join(AppUser.ConfigUsers(), ", "))}
	}
	for k := range p.Labels {
		if k == "" {
			return &graph.FieldError{Field: "Labels", Err: errors.New("a label with an empty key")}
		}
	}
	return p.config().Validate()
}

func (p Python) config() graph.Config {
	return graph.Config{
		Path:        []string{venvDir + "/bin"},
		Env:         p.Env,
		User:        p.User,
		WorkingDir:  appDir,
		Cmd:         p.Cmd,
		Healthcheck: p.Healthcheck,
		Labels:      p.Labels,
	}
}

// image is the image of p, a recipe whose own base is def. Its venv is
// made from the requirements file: a locked file (every requirement pinned
// with hashes) gives the whole graph now; any other is resolved in the
// build first, and the graph made from what pip chose (see [venv]).
func (p Python) image(def Base, in Inputs) (graph.Image, error) {
	p = p.withLockFile(in.Context)
	if err := p.validate(def); err != nil {
		return graph.Image{}, err
	}
	// The bases' pins are checked once, with the image, by the plan that
	// builds it (builder.NewPlan): the recipe's own by validate.
	b, rb, err := p.bases(def, in)
	if err != nil {
		return graph.Image{}, err
	}
	p = p.withDefaults(def, b)
	base := llb.Image(b.Pin.String(), llb.Platform(in.Platform))
	runtimeBase := llb.Image(rb.Pin.String(), llb.Platform(in.Platform))
	context := in.Context.All()
	reqFile := graph.ContextFile{Path: p.Requirements, NamedBy: "the recipe's Requirements field"}
	img := graph.Image{
		Platform:     in.Platform,
		Base:         rb.Pin,
		BuilderBase:  b.Pin,
		Config:       p.config(),
		Context:      in.Context,
		ContextFiles: []graph.ContextFile{reqFile},
	}
	reqs, projects, err := p.requirements(in.Context)
	if err != nil {
		return graph.Image{}, err
	}
	lock, err := readLock(in.Context)
	if err != nil {
		return graph.Image{}, err
	}
	pl, err := lock.platformLock(in.Platform, b, p.Packages)
	if err != nil {
		return graph.Image{}, err
	}
	bl := builderLock{pl: pl}
	var appExclude []string
	if lock != nil {
		// The lock is the build's, not the app's: re-locking leaves the
		// app's layer as it is.
		bl.image, appExclude = lock.Builder, []string{LockFile}
		img.ContextFiles = append(img.ContextFiles, graph.ContextFile{Path: LockFile, NamedBy: "the lock of the builder stage"})
	} else {
		img.Warnings = []string{FloatingBuilder}
	}
	v := p.venv(base, b.Distro, in.Platform, reqs.Options, bl, compiles(reqs, projects, pl))
	if reqs.Locked {
		if err := v.checkLocked(reqs.Distributions, projects); err != nil {
			return graph.Image{}, err
		}
		runtime := func(v venv, fetched map[string]llb.State) (llb.State, []graph.Report) {
			return p.runtime(runtimeBase, rb.Distro, v, reqs.Distributions, fetched, projects, context, appExclude, in.Platform)
		}
		// Cross-built where the daemon runs another machine and the
		// distribution has a cross toolchain; not under imagebuild.lock,
		// which records the stage that runs on the platform itself.
		if t, ok := crossFor(b.Distro, in); ok && lock == nil {
			native := llb.Image(b.Pin.String(), llb.Platform(in.Native))
			cv := p.crossVenv(native, base, b.Distro, t, in, reqs.Options, compiles(reqs, projects, pl))
			p.crossImage(&img, runtime, v, cv, reqs.Distributions)
			return img, nil
		}
		img.Root, img.Reports = runtime(v, nil)
		return img, nil
	}
	if err := v.checkLocked(nil, projects); err != nil {
		return graph.Image{}, err
	}
	// Resolved in the build: the graph holds the resolve step until then,
	// which is what `imagebuild llb` shows.
	// What is pinned to a version is fetched and built meanwhile.
	resolve := v.resolve(context, p.Requirements, reqs.Projects)
	var ahead []aheadStep
	x := &graph.Expansion{Step: resolve, Files: []string{"/" + lockFileName}}
	for _, d := range reqs.Pinned {
		if v.checkLocked([]Distribution{d}, nil) != nil {
			continue // the lock does not record it: the resolve step says so
		}
		if len(ahead) == 0 || ahead[len(ahead)-1].dist.Key() != d.Key() {
			a := v.ahead(d)
			ahead = append(ahead, a)
			x.Ahead = append(x.Ahead, graph.Ahead{Step: a.added, File: aheadFile})
		}
	}
	// A file that pins every requirement is resolved only when its pins
	// leave out a dependency, and then only what they leave out, the pins
	// its constraints; the distributions it brings are fetched and built
	// meanwhile, as the pins are.
	x.Later = reqs.PinnedOnly
	narrow := func(recs []*aheadRecord) ([]Distribution, []dependency, bool) {
		pinned, missing, ok := narrowed(ahead, recs)
		return pinned, missing, x.Later && ok && len(missing) > 0
	}
	narrowSteps := func(missing []dependency) []llb.State {
		steps := make([]llb.State, len(missing))
		for i, dep := range missing {
			steps[i] = v.aheadOfMissing(dep)
		}
		return steps
	}
	if x.Later {
		x.Narrow = func(records [][]byte) (graph.Narrowed, bool) {
			pinned, missing, ok := narrow(readRecords(records))
			if !ok {
				return graph.Narrowed{}, false
			}
			n := graph.Narrowed{Step: v.resolveMissing(missing, pinned)}
			for _, st := range narrowSteps(missing) {
				n.Ahead = append(n.Ahead, graph.Ahead{Step: st, File: aheadFile})
			}
			return n, true
		}
	}
	x.Root = func(files map[string][]byte, records [][]byte) (graph.Expanded, error) {
		recs := readRecords(records)
		first := recs[:min(len(ahead), len(recs))]
		var dists []Distribution
		steps, stepRecs := ahead, first
		if files == nil {
			var ok bool
			if dists, ok = closed(ahead, first); !ok {
				return graph.Expanded{}, graph.ErrNeedStep
			}
		} else {
			var err error
			if dists, err = parseLock(files["/"+lockFileName]); err != nil {
				return graph.Expanded{}, err
			}
			// From the step Narrow gave, as it tells: the pins and what
			// it resolved, the steps ahead of it with the pins'.
			if pinned, missing, ok := narrow(first); ok {
				dists = withMissing(pinned, dists)
				more, moreRecs := narrowAhead(missing, narrowSteps(missing), recs[len(first):])
				steps, stepRecs = append(slices.Clip(ahead), more...), append(slices.Clip(first), moreRecs...)
			}
		}
		if err := v.checkLocked(dists, nil); err != nil {
			return graph.Expanded{}, err
		}
		root, reports := p.runtime(runtimeBase, rb.Distro, v, dists, fetched(steps, stepRecs, dists), projects, context, appExclude, in.Platform)
		return graph.Expanded{Root: root, Reports: reports}, nil
	}
	img.Root, img.Expand = resolve, x
	return img, nil
}

// FloatingBuilder is the warning of a build without a lock (see
// [LockFile]), said once.
const FloatingBuilder = "the builder stage floats: the context has no " + LockFile + ", so its packages and the sdists' build requirements are whatever the mirror and the index serve today; run imagebuild lock to pin them for release builds"

// requirements reads the requirements file in c, and returns it with the
// context paths of the local projects it names.
func (p Python) requirements(c graph.Context) (Requirements, []string, error) {
	var reqs Requirements
	if LockFileFormat(p.Requirements) != "" {
		reqs, err := p.lockFile(c)
		return reqs, nil, err
	}
	if len(p.Groups) > 0 {
		return reqs, nil, &graph.FieldError{Field: "Groups", Err: fmt.Errorf("groups and extras are read from a lock file, and %s is a requirements file; name the lock in Requirements, or leave Groups empty", p.Requirements)}
	}
	dt, err := c.ReadFile(graph.ContextFile{Path: p.Requirements, NamedBy: "the recipe's Requirements field"})
	switch {
	case err == nil:
		if reqs, err = ParseRequirements(dt); err != nil {
			return reqs, nil, &graph.FieldError{Field: "Requirements", Err: fmt.Errorf("%s: %w", p.Requirements, err)}
		}
	case !unreadableHere(err):
		return reqs, nil, err
	}
	var projects []string
	for _, dir := range reqs.Projects {
		dir = projectPath(p.Requirements, dir)
		if err := c.Check([]graph.ContextFile{{Path: dir + "/setup.py"}}); err != nil {
			if err := c.Check([]graph.ContextFile{{Path: dir + "/pyproject.toml"}}); err != nil {
				return reqs, nil, &graph.FieldError{Field: "Requirements", Err: fmt.Errorf("%s: ./%s: the build context has no Python project there (no pyproject.toml or setup.py it sends)", p.Requirements, dir)}
			}
		}
		projects = append(projects, dir)
	}
	return reqs, projects, nil
}

// bases returns the builder's base and the runtime's of p, a recipe whose
// own base is def, for in: in.Base, when set, replaces the recipe's bases
// in both stages, and in.RuntimeBase, when set, the runtime's; the runtime
// base runs the builder's distribution (one that names another is refused).
func (p Python) bases(def Base, in Inputs) (builder, runtime Base, err error) {
	own := p.withDefaults(def, def)
	builder = in.BaseOr(Base{Pin: own.Base, Distro: def.Distro})
	runtime = Base{Pin: own.RuntimeBase, Distro: builder.Distro}
	if in.Base.Pin != "" {
		runtime.Pin = builder.Pin
	}
	if rb := in.RuntimeBase; rb.Pin != "" {
		if rb.Distro.Name != "" && rb.Distro.Name != builder.Distro.Name {
			return builder, runtime, &graph.FieldError{Field: "RuntimeBase", Err: fmt.Errorf("%s runs %s and the builder's base %s runs %s: the venv is built for the builder's distribution; give a runtime base of the same distribution", rb.Pin, rb.Distro.Name, builder.Pin, builder.Distro.Name)}
		}
		runtime.Pin = rb.Pin
	}
	return builder, runtime, nil
}

// lockFile reads the lock file p's Requirements names, with the
// pyproject.toml beside it when the context sends one. Unlike a
// requirements file, a lock the context does not send is an error: there
// is nothing to resolve in the build.
func (p Python) lockFile(c graph.Context) (Requirements, error) {
	dt, err := c.ReadFile(graph.ContextFile{Path: p.Requirements, NamedBy: "the recipe's Requirements field"})
	if err != nil {
		return Requirements{}, err
	}
	pyproject, err := c.ReadFile(graph.ContextFile{Path: path.Join(path.Dir(p.Requirements), "pyproject.toml"), NamedBy: "the lock file beside it"})
	if err != nil && !unreadableHere(err) {
		return Requirements{}, err
	}
	reqs, err := ParseLockFile(p.Requirements, dt, pyproject, p.Groups)
	switch {
	case errors.Is(err, ErrUnknownGroup):
		return reqs, &graph.FieldError{Field: "Groups", Err: fmt.Errorf("%s: %w", p.Requirements, err)}
	case err != nil:
		return reqs, &graph.FieldError{Field: "Requirements", Err: fmt.Errorf("%s: %w", p.Requirements, err)}
	}
	return reqs, nil
}

// unreadableHere tells a requirements file that the context does not send
// (missing, excluded, or the context empty, as for `imagebuild llb` without
// one) from one that is read and wrong: the graph then resolves the file in
// the build, and [builder.Build] refuses such a context, naming the file,
// before the daemon is contacted.
func unreadableHere(err error) bool {
	var cf *graph.ContextFileError
	return errors.As(err, &cf)
}

// builderStage is the builder stage alone, for looking at what it installs.
func (p Python) builderStage(def Base, in Inputs) llb.State {
	b := in.BaseOr(Base{Pin: p.withDefaults(def, def).Base, Distro: def.Distro})
	p = p.withDefaults(def, b)
	base := llb.Image(b.Pin.String(), llb.Platform(in.Platform))
	return p.venv(base, b.Distro, in.Platform, nil, builderLock{}, true).stage
}

// venvsScript makes the venv $2 without pip, and the venv $1 that holds the
// pip that fills it: the base's own pip when it has one recent enough for
// pip's --python option (22.3), seen through system site packages, which
// takes no time; else one from the Python's ensurepip.
const venvsScript = `set -eu
if python3 -c 'import sys, pip; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (22, 3))' 2>/dev/null; then
	python3 -m venv --without-pip --system-site-packages "$1"
else
	python3 -m venv "$1"
fi
python3 -m venv --without-pip "$2"`

// builderLock is how a builder stage follows a lock.
type builderLock struct {
	// pl is the platform's lock; nil for none.
	pl *PlatformLock
	// image is the lock's builder image, which the stage starts from; the
	// zero Pin for none.
	image ref.Pin
	// record is `imagebuild lock`'s stage: the packages are installed as
	// without a lock, and what was installed recorded.
	record bool
}

// compiles reports whether a step of the venv may compile, and so needs
// the build dependencies: unless there is no local project and every
// distribution is a wheel, as the requirements say (a lock file's
// distributions whose files are all wheels) or as imagebuild.lock, pl,
// recorded each (a wheel, or no file where markers exclude the platform).
func compiles(reqs Requirements, projects []string, pl *PlatformLock) bool {
	if len(projects) > 0 {
		return true
	}
	if pl != nil && len(pl.Distributions) > 0 {
		for _, d := range pl.Distributions {
			if d.File != "" && !strings.HasSuffix(d.File, ".whl") {
				return true
			}
		}
		return false
	}
	return !reqs.Locked || len(reqs.Distributions) == 0 ||
		slices.ContainsFunc(reqs.Distributions, func(d Distribution) bool { return !d.WheelsOnly })
}

// venv is the builder stage and the steps that fill /opt/venv: build
// dependencies (unless nothing compiles: see [compiles]), then the venv
// at /opt/venv, empty. Unless KeepPip is set,
// the venv is made without pip and filled by a pip in a venv of its own
// (pipToolDir, see venvsScript), which stays behind. Under a lock, the
// build dependencies are the locked packages; from a builder image, the
// stage is that image, which holds them and the venvs.
func (p Python) venv(base llb.State, d Distro, platform ocispecs.Platform, options []string, bl builderLock, compiles bool) venv {
	v := p.newVenv(d, platform, options)
	v.lock, v.wheelhouse = bl.pl, bl.image != ""
	if bl.image != "" {
		base = llb.Image(bl.image.String(), llb.Platform(platform))
	}
	st := builderEnv(base)
	if bl.image != "" {
		v.stage = st
		return v
	}
	const install = "builder: install build dependencies"
	switch {
	case len(p.Packages) == 0:
	case bl.record:
		run := st.Run(
			llb.Args(d.RecordCommand(p.Packages, recordMount+packagesRecord)),
			d.CacheMount("packages", d.CacheDir, platform, llb.CacheMountLocked),
			llb.WithCustomName(install+", recording what is installed"),
		)
		v.records = append(v.records, run.AddMount(recordMount, llb.Scratch()))
		st = run.Root()
	case !compiles:
	case bl.pl != nil:
		st = st.With(d.InstallLocked(install+", as "+LockFile+" records them", bl.pl.Packages, platform))
	default:
		st = st.With(d.Install(install, p.Packages, platform))
	}
	v.stage = st
	return p.withVenvs(v)
}

// newVenv is a venv whose builder stage is yet to be made: the pip that
// fills it is the venv's own with KeepPip, else pipToolDir's.
func (p Python) newVenv(d Distro, platform ocispecs.Platform, options []string) venv {
	v := venv{distro: d, platform: platform, options: options, python: venvPython}
	if !p.KeepPip {
		v.python = pipToolDir + "/bin/python"
	}
	return v
}

// builderEnv is base with the builder stage's environment: /opt/venv's
// scripts first on PATH, and a fixed hash seed.
func builderEnv(base llb.State) llb.State {
	return base.AddEnv("PATH", venvDir+"/bin:"+graph.DefaultPath).AddEnv("PYTHONHASHSEED", "0")
}

// withVenvs is v with its stage's last step: the empty /opt/venv and,
// unless KeepPip is set, the venv of the pip that fills it (venvsScript).
func (p Python) withVenvs(v venv) venv {
	if p.KeepPip {
		v.stage = v.stage.Run(
			llb.Args([]string{"python3", "-m", "venv", venvDir}),
			llb.WithCustomName("builder: python3 -m venv "+venvDir),
		).Root()
	} else {
		v.stage = v.stage.Run(
			llb.Args([]string{"/bin/sh", "-c", venvsScript, "sh", pipToolDir, venvDir}),
			llb.WithCustomName("builder: python3 -m venv --without-pip "+venvDir+", filled by the pip in "+pipToolDir),
		).Root()
	}
	return v
}

// runtime is the runtime stage: the runtime base, base, with layers
// merged over it, each made on an empty tree by copies that fix every
// file's time, so a layer does not depend on the day it was built nor on
// the layers below it (a new base reuses the app layer as it is; a new
// runtime base reuses every venv layer, made in the builder stage v on its
// own base): the account's files (made from base's, the same bytes on a
// base whose user and group files did not change), the
// runtime packages when there are any, the empty venv, a layer for each
// distribution of dists (see [venv.layers]; from its step ahead of the
// resolve step where fetched has one) and local project of projects,
// and the context at /app (less the projects' folders and appExclude), the
// venv and the app owned by the account. Only the runtime packages run a
// process, on the base, and their layer is a fixed-time copy of what that
// process changed.
func (p Python) runtime(base llb.State, d Distro, v venv, dists []Distribution, fetched map[string]llb.State, projects []string, app llb.State, appExclude []string, platform ocispecs.Platform) (llb.State, []graph.Report) {
	on := base
	if v.native.Output() != nil {
		on = v.native
	}
	layers := []llb.State{
		base,
		AppUser.filesLayer("runtime: add "+AppUser.Name+" and "+AppUser.Group, base, d, on),
	}
	if len(p.RuntimePackages) > 0 {
		layers = append(layers, d.PackagesLayer("runtime: install runtime libraries "+strings.Join(p.RuntimePackages, " "), base, p.RuntimePackages, platform))
	}
	empty := v.stage
	if v.venvFrom.Output() != nil {
		empty = v.venvFrom
	}
	layers = append(layers, AppUser.CopyLayer("runtime: copy the empty "+venvDir+" from builder", empty, venvDir, venvDir))
	files := func(dist Distribution) llb.State {
		st, ok := fetched[dist.Key()]
		if !ok {
			st = v.installed(dist)
		}
		if dist.Marker != "" {
			// Where the marker is false the step adds nothing, not even
			// /opt, in which BuildKit looks for the wildcard's match.
			st = llb.Merge([]llb.State{venvParent(), st}, llb.WithCustomName("builder: what "+dist.Name+" "+dist.Version+" adds to "+venvDir+", if anything"))
		}
		return st
	}
	for _, l := range append(v.layers(dists, files), v.projectLayers(app, projects)...) {
		// A distribution whose marker excludes this platform adds nothing:
		// the wildcard then copies nothing.
		layers = append(layers, Layer(l.name, llb.Copy(l.files, venvWildcard, venvDir, optional(AppUser.Owns())), path.Dir(venvDir)))
	}
	layers = append(layers, AppUser.CopyLayer("runtime: copy build context to "+appDir, app, "/", appDir, append(slices.Clip(projects), appExclude...)...))
	var reports []graph.Report
	for _, dist := range dists {
		reports = append(reports, graph.Report{Name: dist.Name + " " + dist.Version, Step: files(dist), File: reportFile})
	}
	for _, dir := range projects {
		reports = append(reports, graph.Report{Name: "./" + dir, Step: v.project(app, dir), File: reportFile})
	}
	return llb.Merge(layers, llb.WithCustomName("runtime: merge layers over the base")), reports
}
