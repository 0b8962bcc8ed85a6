package recipes

import (
	"github.com/imagebuild/imagebuild/graph"
	"github.com/moby/buildkit/client/llb"
)

// PythonSlim is ADR-003's image (docs/adr-003.md) on python:3.12-slim
// ([PythonSlimBase], Debian), the ADR's own alternative: the same stages as
// [PythonAlpine], its build dependencies installed with apt-get. Its fields
// are [Python]'s.
type PythonSlim Python

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

var pythonSlimBase = Base{Pin: PythonSlimBase, Distro: Debian}

// Name implements [Recipe].
func (PythonSlim) Name() string { return "python-slim" }

// Description implements [Recipe].
func (PythonSlim) Description() string {
	return "ADR-003's alternative: Python 3.12 on Debian slim, the same stages with apt-get"
}

// Validate implements [Recipe].
func (r PythonSlim) Validate() error { return Python(r).validate(pythonSlimBase) }

// Image implements [Recipe].
func (r PythonSlim) Image(in Inputs) (graph.Image, error) {
	return Python(r).image(pythonSlimBase, in)
}

// BuilderStage returns the builder stage alone, for looking at what it
// installs.
func (r PythonSlim) BuilderStage(in Inputs) llb.State {
	return Python(r).builderStage(pythonSlimBase, in)
}
