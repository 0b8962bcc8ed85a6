package recipes

import (
	"fmt"
	"slices"
	"strings"

	"github.com/imagebuild/imagebuild/builder"
	"github.com/moby/buildkit/client/llb"
)

// PythonAlpine is ADR-003's image: two stages on python:3.12-alpine pinned by
// digest. The builder stage installs the C-extension build dependencies with
// apk and pip-installs the requirements file into /opt/venv; the runtime
// stage gets only /opt/venv and the build context (as /app), both owned by
// the non-root appuser (UID/GID 1000, no home, /sbin/nologin), and runs as
// that user.
//
// The zero value is ADR-003's image as written.
type PythonAlpine struct {
	// Packages are the build dependencies apk installs in the builder stage.
	// Default: [AlpineBuildPackages], ADR-003's list.
	Packages []string
	// Requirements is the pip requirements file's path in the build context.
	// It is the pip step's only input from the context, so editing the app
	// does not run pip again. Default: requirements.txt.
	Requirements string
	// Cmd is the runtime command, run in /app. Default: python -m app.
	Cmd []string
	// Env sets runtime environment variables, KEY=VALUE. PATH always has
	// /opt/venv/bin first and cannot be set here.
	Env []string
	// Labels are added to the image's labels.
	Labels map[string]string
	// User is the image config's user: appuser (the default), or its numeric
	// form 1000:1000, which Kubernetes' runAsNonRoot needs to verify.
	User string
	// Healthcheck, when set, is the image's healthcheck.
	Healthcheck *builder.Healthcheck
}

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

// Name implements [Recipe].
func (PythonAlpine) Name() string { return "python-alpine" }

// Description implements [Recipe].
func (PythonAlpine) Description() string {
	return "ADR-003: Python 3.12 on Alpine, C extensions built in a builder stage, /opt/venv run as appuser"
}

// Validate implements [Recipe].
func (r PythonAlpine) Validate() error {
	r = r.withDefaults()
	for _, p := range r.Packages {
		if p == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, " \t\n") {
			return fmt.Errorf("package %q: want an apk package name", p)
		}
	}
	if err := builder.ValidContextPath(r.Requirements); err != nil {
		return fmt.Errorf("requirements: %w", err)
	}
	if !slices.Contains(appUser.configUsers(), r.User) {
		return fmt.Errorf("user %q: want one of %s", r.User, strings.Join(appUser.configUsers(), ", "))
	}
	return r.config().Validate()
}

func (r PythonAlpine) withDefaults() PythonAlpine {
	if r.Packages == nil {
		r.Packages = AlpineBuildPackages()
	}
	if r.Requirements == "" {
		r.Requirements = "requirements.txt"
	}
	if r.Cmd == nil {
		r.Cmd = []string{"python", "-m", "app"}
	}
	if r.User == "" {
		r.User = appUser.name
	}
	return r
}

func (r PythonAlpine) config() builder.Config {
	return builder.Config{
		Path:        []string{venvDir + "/bin"},
		Env:         r.Env,
		User:        r.User,
		WorkingDir:  appDir,
		Cmd:         r.Cmd,
		Healthcheck: r.Healthcheck,
		Labels:      r.Labels,
	}
}

// Image implements [Recipe].
func (r PythonAlpine) Image(in Inputs) (builder.Image, error) {
	if err := r.Validate(); err != nil {
		return builder.Image{}, fmt.Errorf("recipe %s: %w", r.Name(), err)
	}
	r = r.withDefaults()
	pin := in.Base
	if pin == "" {
		pin = PythonAlpineBase
	}
	if err := pin.Validate(); err != nil {
		return builder.Image{}, fmt.Errorf("recipe %s: base: %w", r.Name(), err)
	}
	base := llb.Image(pin.String(), llb.Platform(in.Platform))
	context := in.Context.All()
	build := pythonBuilder(base, alpine, r.Packages, context, r.Requirements)
	return builder.Image{
		Platform: in.Platform,
		Root:     pythonRuntime(base, alpine, build, context),
		Base:     pin,
		Config:   r.config(),
	}, nil
}

// BuilderStage returns the builder stage alone, for looking at what it
// installs.
func (r PythonAlpine) BuilderStage(in Inputs) llb.State {
	r = r.withDefaults()
	pin := in.Base
	if pin == "" {
		pin = PythonAlpineBase
	}
	base := llb.Image(pin.String(), llb.Platform(in.Platform))
	return pythonBuilder(base, alpine, r.Packages, in.Context.All(), r.Requirements)
}
