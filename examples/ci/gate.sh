#!/usr/bin/env bash
# ADR-003's container gate (docs/adr-003.md), as CI runs it: check the base image pins, build
# the image once into an OCI layout directory, verify it (imagebuild verify,
# every platform, and the SBOM a build with --sbom attaches), scan every
# platform's image with Trivy (CRITICAL/HIGH with a fix, .trivyignore
# honoured), and push exactly what was checked, signed with SIGN_KEY when it
# is set. The image is built once, so the digest pushed is the digest scanned.
#
#   examples/ci/gate.sh IMAGE [BUILD FLAGS...]
#
# IMAGE is where the image is pushed (NAME[:TAG]); BUILD FLAGS are passed to
# `imagebuild build` (--secret, --sbom, --provenance, --base, --cache-from, ...).
# On success the last line on stdout is IMAGE@DIGEST (with PUSH=false, the
# digest scanned). Progress and Trivy's report go to stderr.
#
# Environment (defaults in brackets):
#   RECIPE       the recipe to build [python-alpine]
#   CONTEXT      the build context [.]
#   OUT          where the layout (OUT/image) and OUT/metadata.json go [out/gate]
#   IMAGEBUILD   the imagebuild command [imagebuild built from this repository]
#   TRIVY        the trivy command [trivy]
#   TRIVY_FLAGS  more trivy flags, e.g. --cache-dir DIR --skip-db-update --offline-scan
#   TRIVYIGNORE  Trivy's ignore file [.trivyignore, when there is one]
#   PINS_FLAGS   flags for `imagebuild pins check`, e.g. --registry-mirror docker.io=M
#   CHECK_PINS   true, or false for builds on another base (--base) [true]
#   PUSH         true, or false to stop after the scan [true]
#   SIGN_KEY     a cosign private key (cosign generate-key-pair): what is pushed
#                is signed with it, as cosign v2 stores signatures, its password
#                in COSIGN_PASSWORD [nothing signed]
set -euo pipefail

if [ $# -lt 1 ] || [ -z "$1" ]; then
	echo "usage: gate.sh IMAGE [BUILD FLAGS...]" >&2
	exit 2
fi
image=$1
shift
recipe=${RECIPE:-python-alpine}
context=${CONTEXT:-.}
out=${OUT:-out/gate}
trivy=${TRIVY:-trivy}
trivyignore=${TRIVYIGNORE:-.trivyignore}
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${SIGN_KEY:-}" ] && [ ! -f "$SIGN_KEY" ]; then
	echo "gate: SIGN_KEY=$SIGN_KEY is not a file; give the cosign private key, or unset it to push unsigned" >&2
	exit 2
fi
if [ -n "${TRIVYIGNORE:-}" ] && [ ! -f "$TRIVYIGNORE" ]; then
	echo "gate: TRIVYIGNORE=$TRIVYIGNORE is not a file; give Trivy's ignore file, or unset it for .trivyignore" >&2
	exit 2
fi

if [ -n "${IMAGEBUILD:-}" ]; then
	read -ra imagebuild <<<"$IMAGEBUILD"
else
	bin=$(mktemp -d)
	trap 'rm -rf "$bin"' EXIT
	(cd "$root" && go build -o "$bin/imagebuild" ./cmd/imagebuild)
	imagebuild=("$bin/imagebuild")
fi
read -ra trivyflags <<<"${TRIVY_FLAGS:-}"
read -ra pinsflags <<<"${PINS_FLAGS:-}"

if [ "${CHECK_PINS:-true}" = true ]; then
	echo "gate: checking the base image pins" >&2
	"${imagebuild[@]}" pins check "${pinsflags[@]}" >&2 || {
		echo "gate: a base image pin is stale, missing or unpinned (above); run imagebuild pins bump, or fix the pin" >&2
		exit 1
	}
fi

# A result of an earlier run is never what gets scanned or pushed.
mkdir -p "$out"
rm -rf "$out/image" "$out/metadata.json"
echo "gate: building $recipe into $out/image" >&2
"${imagebuild[@]}" build "$recipe" --context "$context" \
	--output "type=oci,\"dest=$out/image\",tar=false" --metadata-file "$out/metadata.json" "$@" >&2 || {
	echo "gate: the build failed (above); nothing scanned or pushed" >&2
	exit 1
}

echo "gate: verifying $out/image (ADR-003's promises on the image's shape)" >&2
"${imagebuild[@]}" verify "$out/image" >&2 || {
	echo "gate: imagebuild verify failed the image (above); nothing pushed" >&2
	exit 1
}

# Trivy reads one image of a layout: each platform's gets a layout of its
# own, sharing the build's blobs, so that every platform is scanned.
ignore=()
[ -f "$trivyignore" ] && ignore=(--ignorefile "$trivyignore")
manifests=$(sed -n 's/^ *"\(linux\/[^"]*\)": *"\(sha256:[0-9a-f]*\)".*/\1 \2/p' "$out/metadata.json")
if [ -z "$manifests" ]; then
	echo "gate: $out/metadata.json names no platform's manifest (imagebuild.manifests); nothing scanned or pushed" >&2
	exit 1
fi
rm -rf "$out/platforms"
failed=()
while read -r platform manifest; do
	dir=$out/platforms/${platform//\//_}
	mkdir -p "$dir"
	ln -s ../../image/blobs "$dir/blobs"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	size=$(stat -c %s "$out/image/blobs/sha256/${manifest#sha256:}")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s}]}' "$manifest" "$size" >"$dir/index.json"
	echo "gate: scanning $platform ($manifest) with Trivy (CRITICAL,HIGH, --ignore-unfixed)" >&2
	"$trivy" image --input "$dir" --scanners vuln --severity CRITICAL,HIGH --ignore-unfixed \
		--exit-code 1 "${ignore[@]}" "${trivyflags[@]}" >&2 || failed+=("$platform")
done <<<"$manifests"
if [ ${#failed[@]} -gt 0 ]; then
	echo "gate: Trivy failed the image of ${failed[*]} (findings or errors above); nothing pushed" >&2
	exit 1
fi

digest=$(sed -n 's/.*"containerimage.digest": *"\([^"]*\)".*/\1/p' "$out/metadata.json")
if [ "${PUSH:-true}" != true ]; then
	echo "gate: passed; not pushed (PUSH=${PUSH})" >&2
	echo "$digest"
	exit 0
fi
sign=()
if [ -n "${SIGN_KEY:-}" ]; then
	sign=(--sign "$SIGN_KEY")
	echo "gate: pushing the scanned layout to $image, signed with $SIGN_KEY" >&2
else
	echo "gate: pushing the scanned layout to $image" >&2
fi
pushed=$("${imagebuild[@]}" push "${sign[@]}" "$out/image" "$image")
if [ "$pushed" != "$digest" ]; then
	echo "gate: pushed $pushed but the build reported $digest" >&2
	exit 1
fi
echo "$image@$pushed"
