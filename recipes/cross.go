package recipes

import (
	"encoding/json"
	"strings"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/moby/buildkit/client/llb"
)

// crossTarget is a platform a builder stage on another machine builds
// for without running anything of it: a cross compiler, the target's
// libraries and Python headers, wheels chosen by its tags.
type crossTarget struct {
	// arch is the platform's architecture as OCI and Debian name it.
	arch string
	// machine is its machine as wheel tags and environment markers name
	// it.
	machine string
	// triplet is its GNU triplet with glibc: the cross compiler's prefix,
	// and the multiarch folder of its libraries.
	triplet string
}

// crossTargets are the platforms a builder stage cross-builds for, by
// architecture.
var crossTargets = map[string]crossTarget{
	"amd64": {arch: "amd64", machine: "x86_64", triplet: "x86_64-linux-gnu"},
	"arm64": {arch: "arm64", machine: "aarch64", triplet: "aarch64-linux-gnu"},
}

// crossFor returns what a builder stage for in.Native needs to build for
// in.Platform without emulation on distribution d, and whether it can:
// both platforms Linux of two machines it knows, on a distribution with a
// cross toolchain (Debian's; Alpine has none for musl, so its stages run
// under emulation).
func crossFor(d Distro, in Inputs) (crossTarget, bool) {
	native, target := platforms.Normalize(in.Native), platforms.Normalize(in.Platform)
	if d.crossPackages == nil || native.OS != "linux" || target.OS != "linux" || native.Architecture == target.Architecture {
		return crossTarget{}, false
	}
	if _, ok := crossTargets[native.Architecture]; !ok {
		return crossTarget{}, false
	}
	t, ok := crossTargets[target.Architecture]
	return t, ok
}

// debianCrossPackages are Debian's packages that build for t what pkgs
// build natively: compilers as cross compilers (gcc as
// gcc-aarch64-linux-gnu, build-essential as crossbuild-essential-arm64),
// libraries and headers (lib*, *-dev) as the target's through multiarch
// (libpq-dev:arm64), python3-dev as the target's libpython3-dev; anything
// else is a tool that runs on the builder's machine, as it is.
func debianCrossPackages(pkgs []string, t crossTarget) []string {
	var out []string
	for _, p := range pkgs {
		switch {
		case p == "gcc" || p == "g++" || p == "gfortran" || p == "cpp":
			p += "-" + t.triplet
		case p == "build-essential":
			p = "crossbuild-essential-" + t.arch
		case strings.HasPrefix(p, "python3") && strings.HasSuffix(p, "-dev"):
			p = "lib" + p + ":" + t.arch
		case strings.HasPrefix(p, "lib") || strings.HasSuffix(p, "-dev"):
			p += ":" + t.arch
		}
		out = append(out, p)
	}
	return out
}

// crossRoot is where the cross step sees the target's base image.
const crossRoot = "/run/imagebuild/target"

// aptCrossInstall is aptInstall with the target's architecture ($1) added
// to dpkg's first, then the target's Python taken from its base, mounted at
// crossRoot: its sysconfigdata beside this Python's standard library, and
// its headers in place of this Python's when the base has them (an
// official python image's own Python, whose pyconfig.h differs by
// machine; Debian's python3 has them from libpython3-dev:ARCH).
const aptCrossInstall = aptPrelude + `dpkg --add-architecture "$1"
triplet=$2
shift 2
aptget update
aptget install -y --no-install-recommends "$@"
` + aptCleanup + `
stdlib=$(python3 -c 'import os; print(os.path.dirname(os.__file__))')
for f in "` + crossRoot + `$stdlib"/_sysconfigdata_*_"$triplet".py; do
	if [ -f "$f" ]; then cp "$f" "$stdlib/"; fi
done
include=$(python3 -c 'import sysconfig; print(sysconfig.get_path("include"))')
if [ -f "` + crossRoot + `$include/pyconfig.h" ]; then
	rm -rf "$include"
	cp -a "` + crossRoot + `$include" "$include"
fi`

// crossVenv is the builder stage for the platform t on the machine
// in.Native, and the steps that fill /opt/venv from it (see [venv]): base
// (the builder's base for in.Native) with the cross toolchain and the
// target's libraries (see [Distro]'s crossPackages) unless nothing
// compiles, target (the builder's base for in.Platform) mounted for its
// Python's headers and sysconfig, and the venvs made by in.Native's
// Python, which is the target's at the same path and version. Its steps
// run on in.Native, told the target by IMAGEBUILD_CROSS and
// IMAGEBUILD_CROSS_MACHINE (pipTool's cross command).
func (p Python) crossVenv(base, target llb.State, d Distro, t crossTarget, in Inputs, options []string, compiles bool) venv {
	v := p.newVenv(d, in.Platform, options)
	v.native = base.Platform(in.Native)
	st := builderEnv(v.native)
	if compiles && len(p.Packages) > 0 {
		st = st.Run(
			llb.Args(append([]string{"/bin/sh", "-c", aptCrossInstall, "sh", t.arch, t.triplet}, d.crossPackages(p.Packages, t)...)),
			llb.AddMount(crossRoot, target, llb.Readonly),
			d.CacheMount("packages-cross", d.CacheDir, in.Native, llb.CacheMountLocked),
			llb.WithCustomName("builder: install build dependencies for "+platforms.Format(in.Platform)+" on "+platforms.Format(in.Native)+", cross"),
		).Root()
	}
	v.stage = st.AddEnv("IMAGEBUILD_CROSS", t.triplet).AddEnv("IMAGEBUILD_CROSS_MACHINE", t.machine)
	return p.withVenvs(v)
}

// crossFile is the file a cross step writes: {"built": true}, or
// {"error"} where the distribution could not be cross-built.
const crossFile = "/tmp/imagebuild-cross.json"

// crossed is the step that builds d for the cross stage's target and
// installs it, as installed does, recording in crossFile whether it
// could.
func (v venv) crossed(d Distribution) llb.State {
	req := v.requirementText(d)
	root := v.stage.Run(append(v.reads(),
		llb.Args([]string{v.python, toolPath, "cross", req, d.Name + "==" + d.Version, venvPython, crossFile}),
		llb.WithCustomName("builder: pip wheel and install "+d.Name+" "+d.Version+" for "+platforms.Format(v.platform)+", cross"),
	)...).Root()
	return llb.Diff(v.stage, root, llb.WithCustomName("builder: what "+d.Name+" "+d.Version+" adds to "+venvDir))
}

// crossImage sets img's graph to the runtime over what the cross steps
// of cv build of dists, each distribution that could not be cross-built
// taken from its step under emulation on v, and the local projects
// (which build under emulation). The steps run side by side ahead of the
// graph ([graph.Expansion]), which reads their records.
func (p Python) crossImage(img *graph.Image, runtime func(v venv, fetched map[string]llb.State) (llb.State, []graph.Report), v, cv venv, dists []Distribution) {
	steps := make([]llb.State, len(dists))
	x := &graph.Expansion{Later: true}
	all := map[string]llb.State{}
	for i, d := range dists {
		steps[i] = cv.crossed(d)
		all[d.Key()] = steps[i]
		x.Ahead = append(x.Ahead, graph.Ahead{Step: steps[i], File: crossFile})
	}
	v.venvFrom, v.native = cv.stage, cv.native
	img.Root, img.Reports = runtime(v, all)
	x.Step = img.Root
	x.Root = func(_ map[string][]byte, records [][]byte) (graph.Expanded, error) {
		built := map[string]llb.State{}
		for i, d := range dists {
			if crossBuilt(records[i]) {
				built[d.Key()] = steps[i]
			} else {
				built[d.Key()] = v.installedAs(d, "builder: pip wheel and install "+d.Name+" "+d.Version+", under emulation: it cannot be cross-built")
			}
		}
		root, reports := runtime(v, built)
		return graph.Expanded{Root: root, Reports: reports}, nil
	}
	img.Expand = x
}

// crossBuilt reads a cross step's record.
func crossBuilt(record []byte) bool {
	var r struct {
		Built bool `json:"built"`
	}
	return record != nil && json.Unmarshal(record, &r) == nil && r.Built
}
