package recipes

import (
	"github.com/imagebuild/imagebuild/graph"
	"github.com/moby/buildkit/client/llb"
)

// PythonAlpine is ADR-003's image (docs/adr-003.md) on python:3.12-alpine
// ([PythonAlpineBase]), its build dependencies installed with apk. Its
// fields are [Python]'s; the zero value is ADR-003's image as written.
type PythonAlpine Python

// AlpineBuildPackages returns ADR-003's builder-stage apk packages, with the
// Python packages that need them.
func AlpineBuildPackages() []string {
	return []string{
		"gcc", "g++", "musl-dev", "libpq-dev", "postgresql-dev", // asyncpg
		"openssl-dev", "libffi-dev", // cryptography, argon2-cffi
		"openblas-dev", "lapack-dev", "gfortran", // numpy, pandas, scikit-learn
		"protobuf-dev",  // grpcio (OTel OTLP exporter)
		"linux-headers", // miscellaneous C extensions
	}
}

var pythonAlpineBase = Base{Pin: PythonAlpineBase, Distro: Alpine}

// Name implements [Recipe].
func (PythonAlpine) Name() string { return "python-alpine" }

// Description implements [Recipe].
func (PythonAlpine) Description() string {
	return "ADR-003: Python 3.12 on Alpine, C extensions built in a builder stage, /opt/venv run as appuser"
}

// Validate implements [Recipe].
func (r PythonAlpine) Validate() error { return Python(r).validate(pythonAlpineBase) }

// Image implements [Recipe].
func (r PythonAlpine) Image(in Inputs) (graph.Image, error) {
	return Python(r).image(pythonAlpineBase, in)
}

// BuilderStage returns the builder stage alone, for looking at what it
// installs.
func (r PythonAlpine) BuilderStage(in Inputs) llb.State {
	return Python(r).builderStage(pythonAlpineBase, in)
}
