package recipes

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Python holds the fields the Python recipes share: two stages on one pinned
// base; the builder installs build dependencies with the distribution's
// package manager and pip-installs the requirements into /opt/venv; the
// runtime gets only /opt/venv and the build context (as /app), both owned by
// the non-root appuser (UID/GID 1000, no home, a nologin shell), and runs as
// that user. Zero values take the recipe's defaults.
type Python struct {
	// Packages are the build dependencies installed in the builder stage.
	// Default: the recipe's list, ADR-003's build dependencies.
	Packages []string
	// RuntimePackages are installed in the runtime stage, for shared
	// libraries a compiled extension needs and its wheel does not bundle
	// (libpq5 for an extension linking libpq, say). Default: none, and then
	// no process runs in the runtime stage.
	RuntimePackages []string
	// Requirements is the pip requirements file's path in the build context.
	// It is the pip step's only input from the context, so editing the app
	// does not run pip again. Default: requirements.txt.
	Requirements string
	// Cmd is the runtime command, run in /app. Default: python -m app.
	Cmd []string
	// Env sets runtime environment variables, KEY=VALUE. PATH always has
	// /opt/venv/bin first and cannot be set here.
	Env []string
	// Labels are added to the image's labels.
	Labels map[string]string
	// User is the image config's user: appuser (the default), or its numeric
	// form 1000:1000, which Kubernetes' runAsNonRoot needs to verify.
	User string
	// Healthcheck, when set, is the image's healthcheck.
	Healthcheck *builder.Healthcheck
	// KeepPip keeps pip (and what the Python's ensurepip bundles with it,
	// setuptools before Python 3.12) in /opt/venv. By default the venv holds
	// only the requirements and what they depend on: it is filled by a pip
	// that stays in the builder stage, since the runtime never runs pip and
	// old copies of pip and setuptools are common scanner findings.
	KeepPip bool
}

const (
	venvDir = "/opt/venv"
	appDir  = "/app"
	// pipToolDir is a venv in the builder stage that holds the pip that
	// fills /opt/venv, so the runtime's venv need not carry pip itself.
	pipToolDir = "/opt/imagebuild-pip"
	// pipConfPath is where the pip step sees the PipConfSecret: pip's
	// global config file.
	pipConfPath = "/etc/pip.conf"
	// requirementsMount is where the pip step sees the requirements file.
	requirementsMount = "/run/imagebuild/requirements.txt"
)

// PipConfSecret is the ID of the build secret that is pip's config file
// during the pip step, and only there: a private index and its token
// (`imagebuild build --secret id=pipconf,src=pip.conf`). A secret is mounted,
// never copied: it reaches no layer, config or history.
const PipConfSecret = "pipconf"

// fixedTime is the time of every file and directory in the layers the
// recipes add: set by the copies that make them, so the layers are the same
// on any day and the exporter need not rewrite them.
var fixedTime = time.Unix(0, 0).UTC()

// distro is what the stages need to know of the base's distribution.
type distro struct {
	// name keys the package and pip caches, with the platform: wheels
	// built on one distribution's libc do not fit another's.
	name string
	// install returns the command that installs packages and leaves no
	// package-manager cache or log in the image; both stages use it.
	install func(packages []string) []string
	// cacheDir is where install keeps its downloads, a cache mount.
	cacheDir string
	// nologin is the shell of accounts that must not log in.
	nologin string
	// packages are the default build dependencies.
	packages func() []string
	// validPackage reports whether a package name is well-formed.
	validPackage func(string) bool
}

// cache mounts a BuildKit cache at dir that lasts across builds, one per
// distribution, platform and use (kind).
func (d distro) cache(kind, dir string, p ocispecs.Platform, sharing llb.CacheMountSharingMode) llb.RunOption {
	id := "imagebuild-" + kind + "-" + d.name + "-" + strings.ReplaceAll(platforms.Format(platforms.Normalize(p)), "/", "-")
	return llb.AddMount(dir, llb.Scratch(), llb.AsPersistentCacheDir(id, sharing))
}

// installStep runs the distribution's install command for packages, with
// its downloads in a cache mount.
func (d distro) installStep(st llb.State, packages []string, p ocispecs.Platform, name string) llb.State {
	return st.Run(
		llb.Args(d.install(packages)),
		d.cache("packages", d.cacheDir, p, llb.CacheMountLocked),
		llb.WithCustomName(name),
	).Root()
}

func validPackageName(p string) bool {
	return p != "" && !strings.HasPrefix(p, "-") && !strings.ContainsAny(p, " \t\n;&|$`'\"\\")
}

// account is the runtime's non-root user and its group.
type account struct {
	name, group string
	uid, gid    int
	home        string
}

var appUser = account{name: "appuser", group: "appgroup", uid: 1000, gid: 1000, home: "/nonexistent"}

// configUsers are the ways the image config may name the account.
func (a account) configUsers() []string {
	uid, gid := strconv.Itoa(a.uid), strconv.Itoa(a.gid)
	return []string{a.name, a.name + ":" + a.group, uid, uid + ":" + gid}
}

// owns copies a directory's contents as a tree owned by the account, every
// file with the fixed time.
func (a account) owns() *llb.CopyInfo {
	return &llb.CopyInfo{
		CopyDirContentsOnly: true,
		CreateDestPath:      true,
		ChownOpt:            &llb.ChownOpt{User: &llb.UserOpt{UID: a.uid}, Group: &llb.UserOpt{UID: a.gid}},
		CreatedTime:         &fixedTime,
	}
}

func (p Python) withDefaults(d distro) Python {
	if p.Packages == nil {
		p.Packages = d.packages()
	}
	if p.Requirements == "" {
		p.Requirements = "requirements.txt"
	}
	if p.Cmd == nil {
		p.Cmd = []string{"python", "-m", "app"}
	}
	if p.User == "" {
		p.User = appUser.name
	}
	return p
}

func (p Python) validate(d distro) error {
	p = p.withDefaults(d)
	for _, pkg := range append(slices.Clone(p.Packages), p.RuntimePackages...) {
		if !d.validPackage(pkg) {
			return fmt.Errorf("package %q: want a package name", pkg)
		}
	}
	if err := builder.ValidContextPath(p.Requirements); err != nil {
		return fmt.Errorf("requirements: %w", err)
	}
	if !slices.Contains(appUser.configUsers(), p.User) {
		return fmt.Errorf("user %q: want one of %s", p.User, strings.Join(appUser.configUsers(), ", "))
	}
	return p.config().Validate()
}

func (p Python) config() builder.Config {
	return builder.Config{
		Path:        []string{venvDir + "/bin"},
		Env:         p.Env,
		User:        p.User,
		WorkingDir:  appDir,
		Cmd:         p.Cmd,
		Healthcheck: p.Healthcheck,
		Labels:      p.Labels,
	}
}

// image is a Python recipe's image: pin is its default base.
func (p Python) image(name string, d distro, pin builder.Pin, in Inputs) (builder.Image, error) {
	if err := p.validate(d); err != nil {
		return builder.Image{}, fmt.Errorf("recipe %s: %w", name, err)
	}
	p = p.withDefaults(d)
	pin = in.base(pin)
	if err := pin.Validate(); err != nil {
		return builder.Image{}, fmt.Errorf("recipe %s: base: %w", name, err)
	}
	base := llb.Image(pin.String(), llb.Platform(in.Platform))
	context := in.Context.All()
	build := p.builder(base, d, context, in.Platform)
	return builder.Image{
		Platform: in.Platform,
		Root:     pythonRuntime(base, d, p.RuntimePackages, build, context, in.Platform),
		Base:     pin,
		Config:   p.config(),
		ContextFiles: []builder.ContextFile{
			{Path: p.Requirements, NamedBy: "the " + name + " recipe's Requirements field"},
		},
	}, nil
}

// builderStage is the builder stage alone, for looking at what it installs.
func (p Python) builderStage(d distro, pin builder.Pin, in Inputs) llb.State {
	p = p.withDefaults(d)
	base := llb.Image(in.base(pin).String(), llb.Platform(in.Platform))
	return p.builder(base, d, in.Context.All(), in.Platform)
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

// builder is the builder stage: build dependencies, then a venv at
// /opt/venv with the requirements installed. Unless KeepPip is set, the
// venv is made without pip and filled by a pip in a venv of its own
// (pipToolDir, see venvsScript), which stays behind. The pip step mounts only the
// requirements file from the context, read-only, so its cache key depends on
// that file's content alone; pip's cache is a cache mount per distribution
// and platform. Byte code is compiled last, for what the venv holds, with
// hash-based invalidation and a fixed hash seed, so .pyc files do not depend
// on when the sources were unpacked.
func (p Python) builder(base llb.State, d distro, context llb.State, platform ocispecs.Platform) llb.State {
	st := base.AddEnv("PATH", venvDir+"/bin:"+builder.DefaultPath).AddEnv("PYTHONHASHSEED", "0")
	if len(p.Packages) > 0 {
		st = d.installStep(st, p.Packages, platform, "builder: install build dependencies")
	}
	pip := []string{venvDir + "/bin/python", "-m", "pip"}
	if p.KeepPip {
		st = st.Run(
			llb.Args([]string{"python3", "-m", "venv", venvDir}),
			llb.WithCustomName("builder: python3 -m venv "+venvDir),
		).Root()
	} else {
		st = st.Run(
			llb.Args([]string{"/bin/sh", "-c", venvsScript, "sh", pipToolDir, venvDir}),
			llb.WithCustomName("builder: python3 -m venv --without-pip "+venvDir+", filled by the pip in "+pipToolDir),
		).Root()
		pip = []string{pipToolDir + "/bin/python", "-m", "pip", "--python", venvDir + "/bin/python"}
	}
	st = st.Run(
		llb.Args(append(pip, "install", "--disable-pip-version-check", "--no-input", "--no-compile",
			"--requirement", requirementsMount)),
		llb.AddMount(requirementsMount, context, llb.SourcePath(p.Requirements), llb.Readonly),
		d.cache("pip", "/root/.cache/pip", platform, llb.CacheMountShared),
		llb.AddSecret(pipConfPath, llb.SecretID(PipConfSecret), llb.SecretOptional),
		llb.WithCustomName("builder: pip install -r "+p.Requirements),
	).Root()
	return st.Run(
		llb.Args([]string{"python3", "-m", "compileall", "-f", "-q", "--invalidation-mode", "checked-hash", venvDir}),
		llb.WithCustomName("builder: compile byte code in "+venvDir),
	).Root()
}

// pythonRuntime is the runtime stage: the base with layers merged over it,
// each made on an empty tree by copies that fix every file's time, so a
// layer does not depend on the day it was built nor on the layers below it
// (a new base reuses the app layer as it is): the account's files, the
// runtime packages when there are any, the venv from the builder and the
// context at /app, both owned by the account. Only the runtime packages run
// a process, on the base, and their layer is a fixed-time copy of what that
// process changed.
func pythonRuntime(base llb.State, d distro, packages []string, build, app llb.State, platform ocispecs.Platform) llb.State {
	users := userFiles(base, d, appUser)
	layers := []llb.State{
		base,
		layer("runtime: add "+appUser.name+" and "+appUser.group,
			llb.Copy(users, "/passwd", "/etc/passwd", systemFile(0o644, 0)).
				Copy(users, "/group", "/etc/group", systemFile(0o644, 0)).
				Copy(users, "/shado[w]", "/etc/", optional(systemFile(0o640, shadowGID))),
			"/etc"),
	}
	if len(packages) > 0 {
		installed := d.installStep(base, packages, platform, "runtime: install runtime libraries "+strings.Join(packages, " "))
		layers = append(layers, layer("runtime: runtime libraries "+strings.Join(packages, " "),
			llb.Copy(llb.Diff(base, installed), "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true, CreatedTime: &fixedTime})))
	}
	layers = append(layers,
		layer("runtime: copy "+venvDir+" from builder", llb.Copy(build, venvDir, venvDir, appUser.owns()), "/opt"),
		layer("runtime: copy build context to "+appDir, llb.Copy(app, "/", appDir, appUser.owns())),
	)
	return llb.Merge(layers, llb.WithCustomName("runtime: merge layers over the base"))
}

// layer is one layer of the runtime: the file actions fa on an empty tree,
// then the directories parents (which fa's copies made, with the copies'
// owner and mode) set to root-owned 0755 with the fixed time, as they are
// in a base image. Without this, a parent directory would carry the time
// at which the copy added to it.
func layer(name string, fa *llb.FileAction, parents ...string) llb.State {
	if len(parents) > 0 {
		skeleton := llb.Scratch()
		for _, dir := range parents {
			skeleton = skeleton.File(llb.Mkdir(dir, 0o755, llb.WithParents(true)))
		}
		fa = fa.Copy(skeleton, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true, CreatedTime: &fixedTime})
	}
	return llb.Scratch().File(fa, llb.WithCustomName(name))
}

// shadowGID is the shadow group's GID on Alpine and Debian.
const shadowGID = 42

// optional makes a copy whose source is a wildcard copy nothing when
// nothing matches.
func optional(ci *llb.CopyInfo) *llb.CopyInfo {
	ci.AllowWildcard = true
	ci.AllowEmptyWildcard = true
	return ci
}

// systemFile copies a file as root:gid with mode and a fixed timestamp.
func systemFile(mode fs.FileMode, gid int) *llb.CopyInfo {
	return &llb.CopyInfo{
		Mode:           &llb.ChmodOpt{Mode: mode},
		ChownOpt:       &llb.ChownOpt{User: &llb.UserOpt{UID: 0}, Group: &llb.UserOpt{UID: gid}},
		CreatedTime:    &fixedTime,
		CreateDestPath: true,
	}
}
