#!/usr/bin/env bash
# Makes, once per machine, what the integration tests share, and prints the
# BuildKit daemon's address: the daemon (started by buildkitd.sh unless
# BUILDKIT_HOST names one, which must then answer), the test base trees for
# linux/amd64 and linux/arm64 (testbase-rootfs.sh; arm64 under QEMU
# emulation), Trivy (trivy.sh), cosign v2 (cosign.sh) and the Docker Engines
# (engine.sh). `make test` and CI run it before go test.
# The tests would make the same parts themselves, under the same file locks,
# but one step first shows what it does and stops at the first part that
# cannot be had, naming it, before any test runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ -n "${BUILDKIT_HOST:-}" ]; then
	bin=$(bash "$root/scripts/buildkitd.sh" --bin)
	if ! out=$("$bin/buildctl" --addr "$BUILDKIT_HOST" debug workers 2>&1); then
		echo "test set-up: no BuildKit daemon answers at $BUILDKIT_HOST (BUILDKIT_HOST): $(printf '%s\n' "$out" | tail -n 1); start one there, or unset BUILDKIT_HOST and the tests start their own" >&2
		exit 1
	fi
	addr=$BUILDKIT_HOST
else
	addr=$(bash "$root/scripts/buildkitd.sh")
fi
for arch in amd64 arm64; do
	bash "$root/scripts/testbase-rootfs.sh" "$arch" >/dev/null
done
bash "$root/scripts/trivy.sh" >/dev/null
bash "$root/scripts/cosign.sh" >/dev/null
bash "$root/scripts/engine.sh" >/dev/null
echo "$addr"
