#!/usr/bin/env bash
# Builds buildkitd at the BuildKit version go.mod requires (from the small
# module in tools/buildkitd), installs runc from Debian when it is missing,
# registers QEMU user emulation for foreign platforms (scripts/binfmt.sh; the
# daemon lists the platforms it can run when it starts), starts the daemon as
# root with the OCI worker on a unix socket under the project's cache folder,
# and prints its address. A daemon already answering there is reused. The
# daemon keeps running, as root, in the background; `buildkitd.sh stop`
# (make buildkitd-stop) stops it. With --bin it only builds, and prints the
# folder that holds buildkitd and buildctl.
set -euo pipefail

if [ "$(uname -s)" != Linux ]; then
	echo "buildkitd: a local buildkitd runs on Linux only (this is $(uname -s)); build on Docker Desktop with --addr docker:// or on a remote daemon (--addr tcp://HOST:PORT, ssh://...)" >&2
	exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${IMAGEBUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagebuild}
state=$cache/buildkitd
addr=unix://$state/buildkitd.sock

version=$(cd "$root" && go list -m -f '{{.Version}}' github.com/moby/buildkit)
toolsversion=$(cd "$root/tools/buildkitd" && go list -m -f '{{.Version}}' github.com/moby/buildkit)
if [ "$version" != "$toolsversion" ]; then
	echo "buildkitd: tools/buildkitd requires BuildKit $toolsversion but go.mod requires $version; run: (cd tools/buildkitd && go get github.com/moby/buildkit@$version && go mod tidy)" >&2
	exit 1
fi
bin=$cache/bin/$version

if [ "${1:-}" = stop ]; then
	if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
		pid=$(cat "$state/pid")
		kill "$pid"
		for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
		echo "buildkitd: stopped the daemon at $addr (pid $pid)" >&2
	else
		echo "buildkitd: no daemon of this project is running at $addr" >&2
	fi
	rm -f "$state/pid" "$state/buildkitd.sock"
	exit 0
fi

answers() { [ -S "$state/buildkitd.sock" ] && "$bin/buildctl" --addr "$addr" debug workers >/dev/null 2>&1; }

# One process builds or starts the daemon while others wait, then reuse it.
. "$root/scripts/lock.sh"
lock buildkitd
if [ ! -x "$bin/buildkitd" ] || [ ! -x "$bin/buildctl" ]; then
	echo "buildkitd: building buildkitd and buildctl $version into $bin" >&2
	mkdir -p "$bin"
	(cd "$root/tools/buildkitd" && go build -o "$bin.partial/" github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl)
	mv "$bin.partial/buildkitd" "$bin.partial/buildctl" "$bin/"
	rmdir "$bin.partial"
fi

if [ "${1:-}" = --bin ]; then
	echo "$bin"
	exit 0
fi

background() {
	echo "buildkitd: $1 at $addr, running as $(id -un) in the background (pid $(cat "$state/pid" 2>/dev/null || echo unknown), log $state/log); stop it with: make buildkitd-stop" >&2
}

if answers; then
	background "reusing the daemon"
	echo "$addr"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "buildkitd: starting a local daemon needs root; run a rootless daemon (rootlesskit buildkitd) or a remote one and point --addr or BUILDKIT_HOST at it" >&2
	exit 1
fi

if ! command -v runc >/dev/null; then
	echo "buildkitd: installing runc from Debian" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >&2 || {
		apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >&2
	}
fi

bash "$root/scripts/binfmt.sh"

mkdir -p "$state"
rm -f "$state/buildkitd.sock"
nohup "$bin/buildkitd" --root "$state/root" --addr "$addr" \
	--oci-worker=true --containerd-worker=false >"$state/log" 2>&1 </dev/null 9>&- &
echo $! >"$state/pid"
for _ in $(seq 1 60); do
	if answers; then
		background "started a daemon"
		echo "$addr"
		exit 0
	fi
	if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
		break
	fi
	sleep 0.5
done
echo "buildkitd: daemon did not answer on $addr; its log ($state/log) ends with:" >&2
tail -n 20 "$state/log" >&2
exit 1
