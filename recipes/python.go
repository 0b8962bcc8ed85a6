package recipes

import (
	"io/fs"
	"strconv"
	"time"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/moby/buildkit/client/llb"
)

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
	// install is the package manager's install command, packages follow.
	install []string
	// nologin is the shell of accounts that must not log in.
	nologin string
}

var alpine = distro{
	install: []string{"apk", "add", "--no-cache"},
	nologin: "/sbin/nologin",
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

// pythonBuilder is the builder stage: build dependencies, then a venv at
// /opt/venv with the requirements installed. The pip step mounts only the
// requirements file from the context, read-only, so its cache key depends on
// that file's content alone. Byte code is compiled last, over the whole
// venv, with hash-based invalidation and a fixed hash seed, so .pyc files do
// not depend on when the sources were unpacked.
func pythonBuilder(base llb.State, d distro, packages []string, context llb.State, reqPath string) llb.State {
	st := base.AddEnv("PATH", venvDir+"/bin:"+builder.DefaultPath).AddEnv("PYTHONHASHSEED", "0")
	st = st.Run(
		llb.Args(append(append([]string{}, d.install...), packages...)),
		llb.WithCustomName("builder: install build dependencies"),
	).Root()
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
// venv from the builder and the context at /app, both owned by the account.
// No process runs in this stage.
func pythonRuntime(base llb.State, d distro, build, app llb.State) llb.State {
	users := userFiles(base, d, appUser)
	return base.
		File(llb.Copy(users, "/passwd", "/etc/passwd", systemFile(0o644, 0)).
			Copy(users, "/group", "/etc/group", systemFile(0o644, 0)).
			Copy(users, "/shado[w]", "/etc/", optional(systemFile(0o640, shadowGID))),
			llb.WithCustomName("runtime: add "+appUser.name+" and "+appUser.group)).
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
