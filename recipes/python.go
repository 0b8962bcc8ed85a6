package recipes

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/moby/buildkit/client/llb"
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
}

const (
	venvDir = "/opt/venv"
	appDir  = "/app"
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

// fixedTime is the timestamp of files the recipes write themselves.
var fixedTime = time.Unix(0, 0).UTC()

// distro is what the stages need to know of the base's distribution.
type distro struct {
	// install returns the command that installs packages and leaves no
	// package-manager cache or log behind; both stages use it.
	install func(packages []string) []string
	// nologin is the shell of accounts that must not log in.
	nologin string
	// packages are the default build dependencies.
	packages func() []string
	// validPackage reports whether a package name is well-formed.
	validPackage func(string) bool
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

// owns copies a directory's contents as a tree owned by the account.
func (a account) owns() *llb.CopyInfo {
	return &llb.CopyInfo{
		CopyDirContentsOnly: true,
		CreateDestPath:      true,
		ChownOpt:            &llb.ChownOpt{User: &llb.UserOpt{UID: a.uid}, Group: &llb.UserOpt{UID: a.gid}},
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
	build := pythonBuilder(base, d, p.Packages, context, p.Requirements)
	return builder.Image{
		Platform: in.Platform,
		Root:     pythonRuntime(base, d, p.RuntimePackages, build, context),
		Base:     pin,
		Config:   p.config(),
	}, nil
}

// builderStage is the builder stage alone, for looking at what it installs.
func (p Python) builderStage(d distro, pin builder.Pin, in Inputs) llb.State {
	p = p.withDefaults(d)
	base := llb.Image(in.base(pin).String(), llb.Platform(in.Platform))
	return pythonBuilder(base, d, p.Packages, in.Context.All(), p.Requirements)
}

// pythonBuilder is the builder stage: build dependencies, then a venv at
// /opt/venv with the requirements installed. The pip step mounts only the
// requirements file from the context, read-only, so its cache key depends on
// that file's content alone. Byte code is compiled last, over the whole
// venv, with hash-based invalidation and a fixed hash seed, so .pyc files do
// not depend on when the sources were unpacked.
func pythonBuilder(base llb.State, d distro, packages []string, context llb.State, reqPath string) llb.State {
	st := base.AddEnv("PATH", venvDir+"/bin:"+builder.DefaultPath).AddEnv("PYTHONHASHSEED", "0")
	if len(packages) > 0 {
		st = st.Run(
			llb.Args(d.install(packages)),
			llb.WithCustomName("builder: install build dependencies"),
		).Root()
	}
	st = st.Run(
		llb.Args([]string{"python3", "-m", "venv", venvDir}),
		llb.WithCustomName("builder: python3 -m venv "+venvDir),
	).Root()
	st = st.Run(
		llb.Args([]string{"pip", "install", "--disable-pip-version-check", "--no-input", "--no-compile",
			"--requirement", requirementsMount}),
		llb.AddMount(requirementsMount, context, llb.SourcePath(reqPath), llb.Readonly),
		llb.AddMount("/root/.cache/pip", llb.Scratch(), llb.AsPersistentCacheDir("imagebuild-pip", llb.CacheMountShared)),
		llb.AddSecret(pipConfPath, llb.SecretID(PipConfSecret), llb.SecretOptional),
		llb.WithCustomName("builder: pip install -r "+reqPath),
	).Root()
	return st.Run(
		llb.Args([]string{"python3", "-m", "compileall", "-f", "-q", "--invalidation-mode", "checked-hash", venvDir}),
		llb.WithCustomName("builder: compile byte code in "+venvDir),
	).Root()
}

// pythonRuntime is the runtime stage: the base with the account added, the
// runtime packages when there are any, then the venv from the builder and
// the context at /app, both owned by the account. Without runtime packages
// no process runs in this stage.
func pythonRuntime(base llb.State, d distro, packages []string, build, app llb.State) llb.State {
	users := userFiles(base, d, appUser)
	st := base.File(llb.Copy(users, "/passwd", "/etc/passwd", systemFile(0o644, 0)).
		Copy(users, "/group", "/etc/group", systemFile(0o644, 0)).
		Copy(users, "/shado[w]", "/etc/", optional(systemFile(0o640, shadowGID))),
		llb.WithCustomName("runtime: add "+appUser.name+" and "+appUser.group))
	if len(packages) > 0 {
		st = st.Run(
			llb.Args(d.install(packages)),
			llb.WithCustomName("runtime: install runtime libraries "+strings.Join(packages, " ")),
		).Root()
	}
	return st.
		File(llb.Copy(build, venvDir, venvDir, appUser.owns()),
			llb.WithCustomName("runtime: copy "+venvDir+" from builder")).
		File(llb.Copy(app, "/", appDir, appUser.owns()),
			llb.WithCustomName("runtime: copy build context to "+appDir))
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
		Mode:        &llb.ChmodOpt{Mode: mode},
		ChownOpt:    &llb.ChownOpt{User: &llb.UserOpt{UID: 0}, Group: &llb.UserOpt{UID: gid}},
		CreatedTime: &fixedTime,
	}
}
