#!/usr/bin/env bash
# Makes the rootfs of the test base image for one architecture (Debian's
# name: amd64, arm64; default: this machine's): Debian bookworm, minbase,
# with python3 and python3-venv, and python3-wheel-whl so that pip's
# isolated builds of source distributions find wheel beside setuptools in
# the test index, plus a stand-in /sbin/apk. This machine's architecture
# comes from debootstrap; another one from mmdebstrap, which runs the
# foreign packages' scripts under QEMU user emulation (Debian's
# qemu-user-static, with its binfmt_misc handlers registered).
#
# Alpine's image and mirrors cannot be reached from where the tests run, so
# the python-alpine recipe is tested on this Debian base. The stand-in apk
# does not install anything: it appends its arguments, one call a line, to
# /var/lib/apk-standin/calls, so the tests can check what the recipe asked
# apk for. The tree is cached; its path is printed.
set -euo pipefail

cache=${IMAGEBUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagebuild}
suite=bookworm
include=python3,python3-venv,python3-wheel-whl
native=$(dpkg --print-architecture)
arch=${1:-$native}
dir=$cache/testbase/$suite-rootfs
if [ "$arch" != "$native" ]; then
	dir=$cache/testbase/$suite-$arch-rootfs
fi
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}

install() {
	command -v "$1" >/dev/null && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "testbase: $1 missing; install Debian's $2 (apt-get install $2) or run as root" >&2
		exit 1
	fi
	echo "testbase: installing $2 from Debian" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $2 >&2 || {
		apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $2 >&2
	}
}

# One process makes the tree while others wait for it; a tree is taken as
# made only once its .complete file names what it includes, written last,
# so a tree left half-made (.partial, or without .complete) is made again.
. "$(dirname "$0")/lock.sh"
lock "testbase-$suite-$arch"
if [ "$(cat "$dir.complete" 2>/dev/null)" != "$include" ]; then
	rm -rf "$dir.partial" "$dir.complete"
	mkdir -p "$(dirname "$dir")"
	if [ "$arch" = "$native" ]; then
		install debootstrap debootstrap
		echo "testbase: debootstrap $suite into $dir (once; cached)" >&2
		debootstrap --variant=minbase --include="$include" "$suite" "$dir.partial" "$mirror" >&2
	else
		install mmdebstrap mmdebstrap
		install arch-test arch-test
		install qemu-aarch64-static "qemu-user-static binfmt-support"
		bash "$(dirname "$0")/binfmt.sh" >&2
		echo "testbase: mmdebstrap $suite for $arch into $dir (once; cached; a few minutes under emulation)" >&2
		mmdebstrap --variant=minbase --architectures="$arch" --include="$include" \
			"$suite" "$dir.partial" "$mirror" >&2
	fi
	rm -rf "$dir.partial"/var/cache/apt/archives/*.deb "$dir.partial"/var/lib/apt/lists/*
	find "$dir.partial/dev" -mindepth 1 -delete
	cat >"$dir.partial/sbin/apk" <<'APK'
#!/bin/sh
# Stand-in for Alpine's apk in imagebuild's Debian test base: records the
# call and installs nothing.
mkdir -p /var/lib/apk-standin
echo "$*" >>/var/lib/apk-standin/calls
APK
	chmod 0755 "$dir.partial/sbin/apk"
	rm -rf "$dir"
	mv "$dir.partial" "$dir"
	echo "$include" >"$dir.complete.partial"
	mv "$dir.complete.partial" "$dir.complete"
fi
echo "$dir"
