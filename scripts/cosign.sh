#!/usr/bin/env bash
# Builds cosign v2 at the version tools/cosign requires, from the Go module
# proxy, into the project's cache folder (once; later runs reuse it), and
# prints the binary's path. The sign package's integration tests check its
# signatures against this cosign and this cosign's against the package.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${IMAGEBUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagebuild}

# One place decides the version: tools/cosign's go.mod.
version=$(cd "$root/tools/cosign" && go list -m -f '{{.Version}}' github.com/sigstore/cosign/v2)
bin=$cache/bin/cosign-$version

. "$root/scripts/lock.sh"
lock "cosign-$version"
if [ ! -x "$bin/cosign" ]; then
	echo "cosign: building cosign $version into $bin (a few minutes)" >&2
	rm -rf "$bin.partial"
	mkdir -p "$bin.partial"
	# Built from tools/cosign (its own go.mod and go.sum) rather than with
	# go install pkg@version, and stamped with the version as cosign's
	# releases are (else `cosign version` says "devel").
	(cd "$root/tools/cosign" && CGO_ENABLED=0 go build -trimpath \
		-ldflags "-X sigs.k8s.io/release-utils/version.gitVersion=$version" \
		-o "$bin.partial/cosign" github.com/sigstore/cosign/v2/cmd/cosign)
	mkdir -p "$bin"
	mv "$bin.partial/cosign" "$bin/cosign"
	rmdir "$bin.partial"
fi
echo "$bin/cosign"
