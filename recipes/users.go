package recipes

import (
	"strconv"

	"github.com/moby/buildkit/client/llb"
)

// userFilesScript copies the base's /etc/passwd, /etc/group and, where the
// base has one, /etc/shadow to /out, and appends the account to each with
// fixed content: the shadow row has no last-change day, so the result does
// not depend on the build's date. It fails when the base already has the
// account's name or IDs.
const userFilesScript = `set -eu
name=$1 uid=$2 group=$3 gid=$4 home=$5 shell=$6
taken() { cut -d: -f"$1" "$2" | grep -qx -- "$3"; }
if taken 1 /etc/passwd "$name" || taken 3 /etc/passwd "$uid"; then
	echo "base already has a user named $name or with UID $uid" >&2; exit 1
fi
if taken 1 /etc/group "$group" || taken 3 /etc/group "$gid"; then
	echo "base already has a group named $group or with GID $gid" >&2; exit 1
fi
append() {
	cp "/etc/$1" "/out/$1"
	if [ -s "/out/$1" ] && [ -n "$(tail -c 1 "/out/$1")" ]; then echo >>"/out/$1"; fi
	printf '%s\n' "$2" >>"/out/$1"
}
append passwd "$name:x:$uid:$gid::$home:$shell"
append group "$group:x:$gid:"
if [ -f /etc/shadow ]; then append shadow "$name:!::0:99999:7:::"; fi
`

// userFiles runs a small step on base that writes its user and group files,
// with the account added, into a scratch mount it returns.
func userFiles(base llb.State, d distro, a account) llb.State {
	run := base.Run(
		llb.Args([]string{"/bin/sh", "-c", userFilesScript, "sh",
			a.name, strconv.Itoa(a.uid), a.group, strconv.Itoa(a.gid), a.home, d.nologin}),
		llb.WithCustomName("write user and group files with "+a.name),
	)
	return run.AddMount("/out", llb.Scratch())
}
