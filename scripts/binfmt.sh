#!/usr/bin/env bash
# Registers QEMU user emulation for foreign architectures (Debian's
# qemu-user-static and binfmt-support), so that a BuildKit daemon started
# after it can run their steps. Needs root; run it before buildkitd starts,
# since the daemon lists the platforms it can run when it starts. Says what
# it registered on stderr.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "binfmt: registering QEMU emulation needs root; skipped (the daemon runs only this machine's platform)" >&2
	exit 0
fi
if ! command -v update-binfmts >/dev/null || ! ls /usr/share/binfmts/qemu-* >/dev/null 2>&1; then
	echo "binfmt: installing qemu-user-static and binfmt-support from Debian" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends qemu-user-static binfmt-support >&2 || {
		apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends qemu-user-static binfmt-support >&2
	}
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
	mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
enabled=()
for f in /usr/share/binfmts/qemu-*; do
	name=$(basename "$f")
	if [ ! -e "/proc/sys/fs/binfmt_misc/$name" ]; then
		update-binfmts --enable "$name" >/dev/null 2>&1 || continue
	fi
	[ -e "/proc/sys/fs/binfmt_misc/$name" ] && enabled+=("${name#qemu-}")
done
echo "binfmt: QEMU emulation registered for: ${enabled[*]:-none}" >&2
