#!/usr/bin/env bash
# Makes the rootfs of the test base image: Debian bookworm from debootstrap
# (minbase, with python3 and python3-venv, and python3-wheel-whl so that
# pip's isolated builds of source distributions find wheel beside
# setuptools in the test index), plus a stand-in /sbin/apk.
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
dir=$cache/testbase/$suite-rootfs
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}

if [ "$(cat "$dir.complete" 2>/dev/null)" != "$include" ]; then
	if ! command -v debootstrap >/dev/null; then
		echo "testbase: installing debootstrap from Debian" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2 || {
			apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
		}
	fi
	rm -rf "$dir.partial"
	mkdir -p "$(dirname "$dir")"
	echo "testbase: debootstrap $suite into $dir (once; cached)" >&2
	debootstrap --variant=minbase --include="$include" "$suite" "$dir.partial" "$mirror" >&2
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
	echo "$include" >"$dir.complete"
fi
echo "$dir"
