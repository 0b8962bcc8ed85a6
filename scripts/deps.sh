#!/usr/bin/env bash
# Installs with apt what the integration tests need and the machine lacks:
# runc (for buildkitd's OCI worker), docker-registry (the test registry),
# debootstrap (the test base image), openssh-server and openssh-client (the
# ssh:// connection test runs its own sshd on a loopback port), and for the
# arm64 test base and builds, QEMU user emulation (qemu-user-static,
# binfmt-support) and mmdebstrap; and for the pip step's own tests
# (recipes/pip, run by recipes' TestPipScript), Debian's python3 with
# python3-pip and python3-setuptools (the tests make venvs --without-pip).
set -euo pipefail
missing=()
command -v runc >/dev/null || missing+=(runc)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v arch-test >/dev/null || missing+=(arch-test)
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v update-binfmts >/dev/null || missing+=(binfmt-support)
if [ -x /usr/bin/python3 ]; then
	/usr/bin/python3 -c 'import pip' 2>/dev/null || missing+=(python3-pip)
	/usr/bin/python3 -c 'import setuptools' 2>/dev/null || missing+=(python3-setuptools)
else
	missing+=(python3 python3-pip python3-setuptools)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: ${missing[*]} missing; install them (apt-get install ${missing[*]}) or run as root" >&2
	exit 1
fi
echo "deps: installing ${missing[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# Packages that ship a service (openssh-server) must not start it: the tests
# start their own sshd on a loopback port.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
