#!/usr/bin/env bash
# Installs with apt what the integration tests need and the machine lacks:
# runc (for buildkitd's OCI worker), docker-registry (the test registry) and
# debootstrap (the test base image).
set -euo pipefail
missing=()
command -v runc >/dev/null || missing+=(runc)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: ${missing[*]} missing; install them (apt-get install ${missing[*]}) or run as root" >&2
	exit 1
fi
echo "deps: installing ${missing[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
