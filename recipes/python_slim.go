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

// aptInstall installs packages without recommends and removes what apt
// leaves behind: its lists, its archive cache and its logs.
const aptInstall = `set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "$@"
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log /var/cache/ldconfig/aux-cache /var/cache/debconf/*-old`

var debian = distro{
	install: func(pkgs []string) []string {
		return append([]string{"/bin/sh", "-c", aptInstall, "sh"}, pkgs...)
	},
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
