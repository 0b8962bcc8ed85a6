package recipes

import (
	_ "embed"
	"hash/fnv"
	pathpkg "path"
	"strings"

	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// pipTool is the script the pip steps run (pip/imagebuild-pip.py): it
// resolves a requirements file, and fetches or builds one distribution's
// wheel at fixed paths.
//
//go:embed pip/imagebuild-pip.py
var pipTool []byte

const (
	// toolDir is where the pip steps see pipTool, in a folder of its own
	// (the script's folder is not searched for imports).
	toolDir  = "/run/imagebuild/tool"
	toolPath = toolDir + "/imagebuild-pip.py"
	// toolRoot is where pipTool works, at the same paths in every build.
	toolRoot = "/tmp/imagebuild-pip"
	// wheelDir is where a distribution's step puts the wheel it installs.
	wheelDir = toolRoot + "/out"
	// projectMount is where a local project's step sees its folder.
	projectMount = "/run/imagebuild/project"
	// lockFileName is the file the resolve step writes in its output.
	lockFileName = "lock.json"
	// MaxVenvLayers is the most layers a Python recipe gives the venv's
	// distributions. With more distributions than that, each goes to one
	// of MaxVenvLayers layers by a hash of its name, so that a bump of one
	// distribution still changes one layer, and the image stays well under
	// the 127 layers overlay file systems can stack.
	MaxVenvLayers = 64
)

// venv makes the steps that fill /opt/venv: one step per distribution that
// fetches its wheel or builds it from its sdist and installs that wheel
// alone into the empty venv, and the layer of exactly what the install
// added. Each step depends on the builder stage and its own distribution
// alone, so BuildKit runs them side by side and caches each by
// the distribution's name, version and hashes.
type venv struct {
	// stage is the builder stage, with the empty venv at /opt/venv and the
	// pip that fills it.
	stage    llb.State
	distro   Distro
	platform ocispecs.Platform
	// pip is the pip command that reads the index; install is the one
	// that installs into /opt/venv: pip with target, the option that
	// names the venv ("" where pip runs in the venv itself).
	pip, install []string
	target       string
	// options are the requirements file's global options.
	options []string
}

// tool is the folder holding pipTool.
func tool() llb.State {
	return llb.Scratch().File(
		llb.Mkfile("/imagebuild-pip.py", 0o644, pipTool, llb.WithCreatedTime(FixedTime())),
		llb.WithCustomName("imagebuild's pip steps (imagebuild-pip.py)"),
	)
}

// reads are the mounts of a step that reads the index: the tool, pip's
// download cache (per distribution and platform; it holds downloads only:
// wheels are built at fixed paths, never taken from pip's cache) and the
// private index's config, a secret.
func (v venv) reads() []llb.RunOption {
	return []llb.RunOption{
		llb.AddMount(toolDir, tool(), llb.Readonly),
		v.distro.CacheMount("pip", "/root/.cache/pip", v.platform, llb.CacheMountShared),
		llb.AddSecret(pipConfPath, llb.SecretID(PipConfSecret), llb.SecretOptional),
	}
}

// resolve is the step that resolves the requirements file at path in
// context to exact distributions, writing lockFileName in its output. It
// runs in the file's folder, where the local projects the file names are
// mounted, each at its place, so that pip reads their dependencies.
func (v venv) resolve(context llb.State, path string, projects []string) llb.State {
	args := append([]string{v.pip[0], toolPath, "resolve", requirementsMount, "/out/" + lockFileName}, v.install...)
	opts := append(v.reads(),
		llb.Args(args),
		llb.Dir(requirementsDir),
		llb.AddMount(requirementsMount, context, llb.SourcePath(path), llb.Readonly),
		llb.WithCustomName("builder: pip resolve -r "+path),
	)
	for _, dir := range projects {
		opts = append(opts, llb.AddMount(requirementsDir+"/"+dir, context, llb.SourcePath(projectPath(path, dir)), llb.Readonly))
	}
	return v.stage.Run(opts...).AddMount("/out", llb.Scratch())
}

// projectPath is the context path of dir, a local project the
// requirements file at reqPath names.
func projectPath(reqPath, dir string) string {
	return pathpkg.Join(pathpkg.Dir(reqPath), dir)
}

// distScript is the step of one distribution ($1 is NAME==VERSION, $2
// the requirement pipTool fetches, $3 the pip option that names the venv
// to install into, or "", and the rest the pip command): pipTool fetches
// its wheel or builds it from its sdist, then that wheel alone is
// installed into the empty venv, and the byte code of what it installed
// compiled, with hash-based invalidation, so .pyc files do not depend on
// when the sources were unpacked. pip installs from a folder by name, not
// from the file's path, so it records no direct_url.json naming the
// builder's path. What the fetch and the build leave goes at the end.
const distScript = `set -eu
req=$1 requirement=$2 target=$3; shift 3
"$1" ` + toolPath + ` fetch ` + wheelDir + ` "$requirement" "$@"
if [ -n "$(ls ` + wheelDir + `)" ]; then
	"$@" ${target:+"$target"} install --no-deps --no-index --no-compile --no-cache-dir --disable-pip-version-check --no-input --find-links ` + wheelDir + ` "$req"
	python3 -m compileall -q --invalidation-mode checked-hash ` + venvDir + `
fi
rm -rf ` + toolRoot

// installed is what d adds to the empty venv: one step, on the builder
// stage, fetches or builds its wheel and installs it.
func (v venv) installed(d Distribution) llb.State {
	req := strings.Join(append(append([]string{}, v.options...), d.requirement()), "\n") + "\n"
	args := append([]string{"/bin/sh", "-c", distScript, "sh", d.Name + "==" + d.Version, req, v.target}, v.pip...)
	after := v.stage.Run(append(v.reads(),
		llb.Args(args),
		llb.WithCustomName("builder: pip wheel and install "+d.Name+" "+d.Version),
	)...).Root()
	return llb.Diff(v.stage, after, llb.WithCustomName("builder: what "+d.Name+" "+d.Version+" adds to "+venvDir))
}

// projectScript is the step of a local project ($1 the pip option that
// names the venv to install into, or "", and the rest the pip command):
// pipTool builds its wheel from projectMount at the fixed paths an sdist
// is built at, then that wheel alone is installed, by the name its file
// gives, without its dependencies, as distScript installs.
const projectScript = `set -eu
target=$1; shift
"$1" ` + toolPath + ` project ` + wheelDir + ` ` + projectMount + ` "$@"
wheel=$(ls ` + wheelDir + `)
"$@" ${target:+"$target"} install --no-deps --no-index --no-compile --no-cache-dir --disable-pip-version-check --no-input --find-links ` + wheelDir + ` "${wheel%%-*}"
python3 -m compileall -q --invalidation-mode checked-hash ` + venvDir + `
rm -rf ` + toolRoot

// project is what the local project at dir (a context path) adds to the
// empty venv: one step, on the builder stage, builds its wheel from the
// context's folder, and so is cached by that folder's content alone.
func (v venv) project(context llb.State, dir string) llb.State {
	args := append([]string{"/bin/sh", "-c", projectScript, "sh", v.target}, v.pip...)
	after := v.stage.Run(append(v.reads(),
		llb.Args(args),
		llb.AddMount(projectMount, context, llb.SourcePath(dir), llb.Readonly),
		llb.WithCustomName("builder: pip wheel and install ./"+dir),
	)...).Root()
	return llb.Diff(v.stage, after, llb.WithCustomName("builder: what ./"+dir+" adds to "+venvDir))
}

// venvLayer is a layer's worth of the venv: what some distributions add,
// and the name of the step that copies it into the image.
type venvLayer struct {
	name  string
	files llb.State
}

// projectLayers returns a layer for each local project at dirs (context
// paths), after the distributions'.
func (v venv) projectLayers(context llb.State, dirs []string) []venvLayer {
	var out []venvLayer
	for _, dir := range dirs {
		out = append(out, venvLayer{name: "pip: ./" + dir, files: v.project(context, dir)})
	}
	return out
}

// layers returns the venv's layers for dists: one per distribution, in the
// order of their names, or with more than MaxVenvLayers distributions, the
// distributions grouped into MaxVenvLayers layers by a hash of their names.
func (v venv) layers(dists []Distribution) []venvLayer {
	if len(dists) <= MaxVenvLayers {
		out := make([]venvLayer, len(dists))
		for i, d := range dists {
			out[i] = venvLayer{name: "pip: " + d.Name + " " + d.Version, files: v.installed(d)}
		}
		return out
	}
	groups := make([][]Distribution, MaxVenvLayers)
	for _, d := range dists {
		h := fnv.New32a()
		h.Write([]byte(d.Key()))
		i := h.Sum32() % MaxVenvLayers
		groups[i] = append(groups[i], d)
	}
	var out []venvLayer
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		var names []string
		var files []llb.State
		for _, d := range g {
			names = append(names, d.Name+" "+d.Version)
			files = append(files, v.installed(d))
		}
		out = append(out, venvLayer{name: "pip: " + strings.Join(names, ", "), files: llb.Merge(files)})
	}
	return out
}
