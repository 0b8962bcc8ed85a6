package recipes

import (
	"github.com/imagebuild/imagebuild/builder"
	"github.com/moby/buildkit/client/llb"
)

// PythonSlim is ADR-003's image on python:3.12-slim ([PythonSlimBase],
// Debian), the ADR's own alternative: the same stages as [PythonAlpine],
// its build dependencies installed with apt-get. See [Python] for the
// stages and fields.
type PythonSlim struct {
	Python
}

// DebianBuildPackages returns the Debian equivalents of ADR-003's
// builder-stage packages, with the Python packages that need them.
func DebianBuildPackages() []string {
	return []string{
		"gcc", "g++", "libc6-dev", "libpq-dev", // asyncpg
		"libssl-dev", "libffi-dev", // cryptography, argon2-cffi
		"libopenblas-dev", "liblapack-dev", "gfortran", // numpy, pandas, scikit-learn
		"libprotobuf-dev", // grpcio (OTel OTLP exporter)
		"linux-libc-dev",  // miscellaneous C extensions
	}
}

// aptCache is the cache mount that holds apt's package lists and
// downloaded packages, outside the paths the base's apt configuration
// cleans (Debian's images delete /var/cache/apt/archives/*.deb after every
// install).
const aptCache = "/var/cache/imagebuild-apt"

// aptInstall installs packages without recommends, with apt's lists and
// downloads in aptCache, and removes the logs apt and dpkg leave behind.
const aptInstall = `set -eu
export DEBIAN_FRONTEND=noninteractive
mkdir -p ` + aptCache + `/lists/partial ` + aptCache + `/archives/partial
aptget() { apt-get -o Dir::State::Lists=` + aptCache + `/lists -o Dir::Cache::Archives=` + aptCache + `/archives "$@"; }
aptget update
aptget install -y --no-install-recommends "$@"
rm -rf /var/log/apt /var/log/dpkg.log /var/cache/ldconfig/aux-cache /var/cache/debconf/*-old`

var debian = distro{
	name: "debian",
	install: func(pkgs []string) []string {
		return append([]string{"/bin/sh", "-c", aptInstall, "sh"}, pkgs...)
	},
	cacheDir:     aptCache,
	nologin:      "/usr/sbin/nologin",
	packages:     DebianBuildPackages,
	validPackage: validPackageName,
}

// Name implements [Recipe].
func (PythonSlim) Name() string { return "python-slim" }

// Description implements [Recipe].
func (PythonSlim) Description() string {
	return "ADR-003's alternative: Python 3.12 on Debian slim, the same stages with apt-get"
}

// Validate implements [Recipe].
func (r PythonSlim) Validate() error { return r.validate(debian) }

// Image implements [Recipe].
func (r PythonSlim) Image(in Inputs) (builder.Image, error) {
	return r.image(r.Name(), debian, PythonSlimBase, in)
}

// BuilderStage returns the builder stage alone, for looking at what it
// installs.
func (r PythonSlim) BuilderStage(in Inputs) llb.State {
	return r.builderStage(debian, PythonSlimBase, in)
}
