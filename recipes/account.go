package recipes

import (
	"io/fs"
	"path"
	"strconv"
	"time"

	"github.com/moby/buildkit/client/llb"
)

// Account is a non-root user and its group, added to an image by the
// files of [Account.FilesLayer] and owning what [Account.CopyLayer] copies.
type Account struct {
	Name, Group string
	UID, GID    int
	// Home is the home directory written in /etc/passwd; it is not made.
	Home string
}

// AppUser is ADR-003's account (docs/adr-003.md): appuser and appgroup, UID
// and GID 1000, no home, a nologin shell.
var AppUser = Account{Name: "appuser", Group: "appgroup", UID: 1000, GID: 1000, Home: "/nonexistent"}

// ConfigUsers are the ways an image config may name the account: its name,
// name:group, UID and UID:GID.
func (a Account) ConfigUsers() []string {
	uid, gid := strconv.Itoa(a.UID), strconv.Itoa(a.GID)
	return []string{a.Name, a.Name + ":" + a.Group, uid, uid + ":" + gid}
}

// FixedTime is the time of every file and directory in the layers the
// recipes add, set by the copies that make them, so a layer is the same on
// any day and the exporter need not rewrite it: 1970-01-01, not the build's
// date, so a new commit does not make a new layer of files it did not change.
func FixedTime() time.Time { return time.Unix(0, 0).UTC() }

// Layer is a layer made on an empty tree by the file actions fa, in a step
// named name; merged over a base with llb.Merge, it does not depend on the
// base (Dockerfile's COPY --link). The directories parents, which fa's copies
// create with the copies' owner, mode and the time of the build, are then
// set to root-owned 0755 at [FixedTime], as they are in a base image.
func Layer(name string, fa *llb.FileAction, parents ...string) llb.State {
	if len(parents) > 0 {
		skeleton := llb.Scratch()
		for _, dir := range parents {
			skeleton = skeleton.File(llb.Mkdir(dir, 0o755, llb.WithParents(true)))
		}
		t := FixedTime()
		fa = fa.Copy(skeleton, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true, CreatedTime: &t})
	}
	return llb.Scratch().File(fa, llb.WithCustomName(name))
}

// Owns is the copy that makes a tree owned by the account: a directory's
// contents, with the account as owner and every file at [FixedTime].
func (a Account) Owns() *llb.CopyInfo {
	t := FixedTime()
	return &llb.CopyInfo{
		CopyDirContentsOnly: true,
		CreateDestPath:      true,
		ChownOpt:            &llb.ChownOpt{User: &llb.UserOpt{UID: a.UID}, Group: &llb.UserOpt{UID: a.GID}},
		CreatedTime:         &t,
	}
}

// CopyLayer is a layer, made in a step named name, holding from's directory
// src at dest, owned by the account (see [Account.Owns]), less what the
// patterns exclude (.dockerignore's syntax); the folders above dest are
// root-owned 0755, as in a base image.
func (a Account) CopyLayer(name string, from llb.State, src, dest string, exclude ...string) llb.State {
	var parents []string
	for dir := path.Dir(path.Clean(dest)); dir != "/" && dir != "."; dir = path.Dir(dir) {
		parents = append(parents, dir)
	}
	ci := a.Owns()
	ci.ExcludePatterns = exclude
	return Layer(name, llb.Copy(from, src, dest, ci), parents...)
}

// FilesLayer is a layer, made in a step named name, holding base's
// /etc/passwd, /etc/group and, where base has one, /etc/shadow, with the
// account added to each with fixed content. The step that writes them runs
// on base and fails when base already has the account's names or IDs.
func (a Account) FilesLayer(name string, base llb.State, d Distro) llb.State {
	return a.filesLayer(name, base, d, base)
}

// filesLayer is FilesLayer whose step runs on on, base mounted read-only
// at baseMount: on is base, or where base's platform is not the daemon's,
// an image of the daemon's platform, so that nothing runs emulated.
func (a Account) filesLayer(name string, base llb.State, d Distro, on llb.State) llb.State {
	users := on.Run(
		llb.Args([]string{"/bin/sh", "-c", userFilesScript, "sh",
			a.Name, strconv.Itoa(a.UID), a.Group, strconv.Itoa(a.GID), a.Home, d.NoLogin}),
		llb.AddMount(baseMount, base, llb.Readonly),
		llb.WithCustomName("write user and group files with "+a.Name),
	).AddMount("/out", llb.Scratch())
	return Layer(name,
		llb.Copy(users, "/passwd", "/etc/passwd", systemFile(0o644, 0)).
			Copy(users, "/group", "/etc/group", systemFile(0o644, 0)).
			Copy(users, "/shado[w]", "/etc/", optional(systemFile(0o640, shadowGID))),
		"/etc")
}

// baseMount is where the step that writes the account's files sees the
// base whose files it reads.
const baseMount = "/run/imagebuild/base"

// userFilesScript copies the base's /etc/passwd, /etc/group and, where the
// base has one, /etc/shadow to /out, and appends the account to each with
// fixed content: the shadow row has no last-change day, so the result does
// not depend on the build's date. It fails when the base already has the
// account's name or IDs.
const userFilesScript = `set -eu
name=$1 uid=$2 group=$3 gid=$4 home=$5 shell=$6
etc=` + baseMount + `/etc
taken() { cut -d: -f"$1" "$2" | grep -qx -- "$3"; }
if taken 1 "$etc/passwd" "$name" || taken 3 "$etc/passwd" "$uid"; then
	echo "base already has a user named $name or with UID $uid" >&2; exit 1
fi
if taken 1 "$etc/group" "$group" || taken 3 "$etc/group" "$gid"; then
	echo "base already has a group named $group or with GID $gid" >&2; exit 1
fi
append() {
	cp "$etc/$1" "/out/$1"
	if [ -s "/out/$1" ] && [ -n "$(tail -c 1 "/out/$1")" ]; then echo >>"/out/$1"; fi
	printf '%s\n' "$2" >>"/out/$1"
}
append passwd "$name:x:$uid:$gid::$home:$shell"
append group "$group:x:$gid:"
if [ -f "$etc/shadow" ]; then append shadow "$name:!::0:99999:7:::"; fi
`

// shadowGID is the shadow group's GID on Alpine and Debian.
const shadowGID = 42

// optional makes a copy whose source is a wildcard copy nothing when
// nothing matches.
func optional(ci *llb.CopyInfo) *llb.CopyInfo {
	ci.AllowWildcard = true
	ci.AllowEmptyWildcard = true
	return ci
}

// systemFile copies a file as root:gid with mode, at [FixedTime].
func systemFile(mode fs.FileMode, gid int) *llb.CopyInfo {
	t := FixedTime()
	return &llb.CopyInfo{
		Mode:           &llb.ChmodOpt{Mode: mode},
		ChownOpt:       &llb.ChownOpt{User: &llb.UserOpt{UID: 0}, Group: &llb.UserOpt{UID: gid}},
		CreatedTime:    &t,
		CreateDestPath: true,
	}
}
