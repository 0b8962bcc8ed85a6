#!/usr/bin/env bash
# Builds Trivy at the version the CI gate pins, from the Go module proxy, into
# the project's cache folder (once; later runs reuse it), and prints the
# binary's path. tools/trivydb, which writes the tests' vulnerability
# database, must use the trivy-db version this Trivy requires; the script
# checks that they agree.
set -euo pipefail

version=v0.74.0

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${IMAGEBUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagebuild}
bin=$cache/bin/trivy-$version

gomod=$(cd "$root" && go mod download -json "github.com/aquasecurity/trivy@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
want=$(awk '$1 == "github.com/aquasecurity/trivy-db" { print $2 }' "$gomod")
have=$(cd "$root/tools/trivydb" && go list -m -f '{{.Version}}' github.com/aquasecurity/trivy-db)
if [ -z "$want" ] || [ "$want" != "$have" ]; then
	echo "trivy: Trivy $version requires trivy-db ${want:-(not found in $gomod)} but tools/trivydb requires $have; run: (cd tools/trivydb && go get github.com/aquasecurity/trivy-db@$want && go mod tidy)" >&2
	exit 1
fi

. "$root/scripts/lock.sh"
lock "trivy-$version"
if [ ! -x "$bin/trivy" ]; then
	echo "trivy: building Trivy $version into $bin (a few minutes)" >&2
	mkdir -p "$bin"
	# Trivy $version needs Go's encoding/json/v2, still an experiment in Go
	# 1.26; the version is stamped as Trivy's releases do (else it says "dev").
	GOEXPERIMENT=jsonv2 GOBIN="$bin.partial" go install \
		-ldflags "-X github.com/aquasecurity/trivy/pkg/version/app.ver=${version#v}" \
		"github.com/aquasecurity/trivy/cmd/trivy@$version"
	mv "$bin.partial/trivy" "$bin/trivy"
	rmdir "$bin.partial"
fi
echo "$bin/trivy"
