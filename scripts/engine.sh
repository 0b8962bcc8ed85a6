#!/usr/bin/env bash
# Sets up what the Docker Engine tests run, once per machine, and prints the
# folder that holds it: dockerd from moby's v2 module at the version
# tools/dockerd pins (the current engine: API 1.56, BuildKit on the
# containerd image store), runc at the version tools/runc pins, built with
# seccomp (Debian's runc 1.1.5 refuses the time namespace that engine asks
# for), and, with apt, Debian's containerd (which both engines run) and
# docker.io (Docker Engine 20.10, whose BuildKit 0.8 is the engine
# imagebuild refuses). The tests start the engines themselves, each on a
# socket, data and exec root of its own, and stop them.
set -euo pipefail

if [ "$(uname -s)" != Linux ]; then
	echo "engine: the Docker Engine tests run on Linux only" >&2
	exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${IMAGEBUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagebuild}
dockerd=$(cd "$root/tools/dockerd" && go list -m -f '{{.Version}}' github.com/moby/moby/v2)
runc=$(cd "$root/tools/runc" && go list -m -f '{{.Version}}' github.com/opencontainers/runc)
bin=$cache/bin/engine-$dockerd-runc-$runc

. "$root/scripts/lock.sh"
lock engine

# Debian's packages; docker.io's own service is not started (the tests
# start their engines), so policy-rc.d refuses it while apt installs.
missing=()
command -v containerd >/dev/null || missing+=(containerd)
[ -x /usr/sbin/dockerd ] || missing+=(docker.io)
[ -e /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
if [ ${#missing[@]} -gt 0 ]; then
	echo "engine: installing ${missing[*]} from Debian" >&2
	made=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made=1
	fi
	install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; }
	install || { apt-get update -qq >&2 && install; }
	[ -z "$made" ] || rm -f /usr/sbin/policy-rc.d
fi

if [ ! -x "$bin/dockerd" ] || [ ! -x "$bin/runc" ]; then
	echo "engine: building dockerd $dockerd and runc $runc into $bin (a few minutes, once)" >&2
	rm -rf "$bin.partial" && mkdir -p "$bin.partial"
	(cd "$root/tools/dockerd" && go build -o "$bin.partial/dockerd" github.com/moby/moby/v2/cmd/dockerd)
	(cd "$root/tools/runc" && CGO_ENABLED=1 go build -tags seccomp -o "$bin.partial/runc" github.com/opencontainers/runc)
	mkdir -p "$bin"
	mv "$bin.partial/dockerd" "$bin.partial/runc" "$bin/"
	rmdir "$bin.partial"
fi
echo "$bin"
