package recipes

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	pathpkg "path"
	"regexp"
	"slices"
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
	// python is the interpreter that runs pipTool: one with pip, which
	// runs under venvPython to install into the venv.
	python string
	// options are the requirements file's global options.
	options []string
	// lock is the platform's lock the steps follow, nil for none.
	lock *PlatformLock
	// wheelhouse is whether the builder stage is a builder image, which
	// holds every locked build requirement in wheelhouseDir.
	wheelhouse bool
	// records are, in `imagebuild lock`'s stage, the packages step's
	// record.
	records []llb.State
	// venvFrom, when set, is the stage the image's empty /opt/venv is
	// copied from in place of stage: a cross stage's (see crossImage).
	venvFrom llb.State
	// native, when set, is the builder's base on the daemon's own
	// platform, where the runtime's steps that only read its base's files
	// run in place of that base (see crossImage).
	native llb.State
}

const (
	// wheelhouseDir is where a builder image holds the locked build
	// requirements.
	wheelhouseDir = "/opt/imagebuild-wheelhouse"
	// recordMount is where the lock's steps write their records.
	recordMount = "/run/imagebuild/record"
)

// locked returns the options of a step that builds the distribution or
// project keyed key (see [LockKey]) under the lock: the locked build
// requirements and file (pipTool's LOCKED, LOCKED_FILE) and, from a
// builder image, its wheelhouse. Without a lock, none.
func (v venv) locked(key string) ([]llb.RunOption, error) {
	if v.lock == nil {
		return nil, nil
	}
	d, err := v.lock.distribution(key)
	if err != nil {
		return nil, err
	}
	reqs, err := json.Marshal(d.Requires)
	if err != nil {
		return nil, err
	}
	opts := []llb.RunOption{llb.AddEnv("IMAGEBUILD_BUILD_REQUIREMENTS", string(reqs))}
	if d.File != "" {
		opts = append(opts, llb.AddEnv("IMAGEBUILD_LOCKED_FILE", d.File))
	}
	if v.wheelhouse {
		opts = append(opts, llb.AddEnv("IMAGEBUILD_WHEELHOUSE", wheelhouseDir))
	}
	return opts, nil
}

// checkLocked reports whether the lock records every distribution of
// dists and local project of projects.
func (v venv) checkLocked(dists []Distribution, projects []string) error {
	for _, d := range dists {
		if _, err := v.locked(LockKey(d)); err != nil {
			return err
		}
	}
	for _, dir := range projects {
		if _, err := v.locked(projectLockKey(dir)); err != nil {
			return err
		}
	}
	return nil
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
	args := []string{v.python, toolPath, "resolve", requirementsMount, "/out/" + lockFileName, venvPython}
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

// requirementText is the one requirement d, as a step hands it to pipTool:
// a requirements file's text, the file's global options then d's line.
func (v venv) requirementText(d Distribution) string {
	return strings.Join(append(slices.Clone(v.options), d.requirement()), "\n") + "\n"
}

// installed is what d adds to the empty venv: one step, on the builder
// stage, fetches its wheel or builds it from its sdist and installs it
// (pipTool's install: by pip's wheel installer, which records no
// direct_url.json naming the builder's path, and byte code compiled).
func (v venv) installed(d Distribution) llb.State {
	return v.installedAs(d, "builder: pip wheel and install "+d.Name+" "+d.Version)
}

// installedAs is installed with its step named name.
func (v venv) installedAs(d Distribution, name string) llb.State {
	req := v.requirementText(d)
	locked, _ := v.locked(LockKey(d)) // checked with the graph: see checkLocked
	after := v.stage.Run(append(append(v.reads(), locked...),
		llb.Args([]string{v.python, toolPath, "install", req, d.Name + "==" + d.Version, venvPython}),
		llb.WithCustomName(name),
	)...).Root()
	return llb.Diff(v.stage, after, llb.WithCustomName("builder: what "+d.Name+" "+d.Version+" adds to "+venvDir))
}

// reportFile is the report of a distribution's or project's step (see
// graph.Report): JSON {"name", "version", "file", "compiled"}, the file
// it fetched ("" for a project, or where markers exclude the platform)
// and whether it compiled the wheel from source. It stays out of the
// image, as aheadFile does.
const reportFile = "/tmp/imagebuild-report.json"

// aheadFile is the file the step ahead of a pinned distribution writes:
// the sha256 of the file it fetched, or why it fetched none. It is read
// from what the step adds to the builder stage, the result the image's
// graph uses (the venv of it alone: the file stays out of the image), so a
// daemon that imports the cache of an earlier build reads it without
// running the step: a cache export holds that result, not the step's own.
const aheadFile = "/tmp/imagebuild-fetched.json"

// aheadStep is the step that fetches or builds d's wheel and installs it,
// as installed does, side by side with the resolve step: d is pinned to one
// version in a requirements file that is not locked, so the hash of the
// file pip will choose is not known yet. It is cached by d's name and
// version (and the file's options), and records the sha256 of the file it
// fetched in aheadFile, so the graph takes it where the resolve step chose
// that file. It does not fail: it records why it could not. Hashes the
// file gives d are the step's too, checked by it: it records no other file.
type aheadStep struct {
	dist Distribution
	// added is what the step adds to the builder stage.
	added llb.State
}

func (v venv) ahead(d Distribution) aheadStep {
	req := v.requirementText(d)
	locked, _ := v.locked(LockKey(d)) // the graph takes a step ahead only where the lock records it
	root := v.stage.Run(append(append(v.reads(), locked...),
		llb.Args([]string{v.python, toolPath, "install", req, d.Name + "==" + d.Version, venvPython, aheadFile}),
		llb.WithCustomName("builder: pip wheel and install "+d.Name+" "+d.Version+", while resolving"),
	)...).Root()
	return aheadStep{dist: d, added: llb.Diff(v.stage, root, llb.WithCustomName("builder: what "+d.Name+" "+d.Version+" adds to "+venvDir))}
}

// aheadRecord is what aheadFile holds.
type aheadRecord struct {
	SHA256 string `json:"sha256"`
	// Version is the version of the wheel installed (the requirement may
	// name a range).
	Version string `json:"version"`
	// Requires are the dependencies the wheel's metadata names whose
	// environment markers hold on the platform.
	Requires []struct {
		Name      string   `json:"name"`
		Specifier string   `json:"specifier"`
		Extras    []string `json:"extras"`
	} `json:"requires"`
	Error string `json:"error"`
}

// readRecords reads what each step ahead recorded; nil where a step wrote
// no record, or one without the file it fetched.
func readRecords(records [][]byte) []*aheadRecord {
	out := make([]*aheadRecord, len(records))
	for i, dt := range records {
		var r aheadRecord
		if dt != nil && json.Unmarshal(dt, &r) == nil && r.SHA256 != "" {
			out[i] = &r
		}
	}
	return out
}

// closed returns the pinned distributions ahead fetched, as the resolve
// step would give them (each with the hash of the file fetched), when they
// are the whole set (see [narrowed]: nothing is missing). Otherwise a
// resolve is needed. recs[i] is ahead[i]'s.
func closed(ahead []aheadStep, recs []*aheadRecord) ([]Distribution, bool) {
	pinned, missing, ok := narrowed(ahead, recs)
	return pinned, ok && len(missing) == 0
}

// narrowed tells what a file that pins every requirement needs beyond its
// pins, from what the steps ahead fetched: pinned are the pins, each with
// the hash of the file fetched, and missing the dependencies they name
// that are not among them,
// which a resolve of their own, the pins its constraints, adds to the
// set. ok is false when only a resolve of the whole file can tell: a step
// fetched nothing, or a file whose hash the requirements do not give, or
// a dependency on a pin names extras or a version the pin does not meet
// (as far as [satisfies] tells), or is written in a way this does not
// read. recs[i] is ahead[i]'s.
func narrowed(ahead []aheadStep, recs []*aheadRecord) (pinned []Distribution, missing []dependency, ok bool) {
	byKey := map[string]Distribution{}
	for i, a := range ahead {
		if recs[i] == nil {
			return nil, nil, false
		}
		if len(a.dist.Hashes) > 0 && !slices.Contains(a.dist.Hashes, recs[i].SHA256) {
			return nil, nil, false
		}
		byKey[a.dist.Key()] = a.dist
	}
	for i, a := range ahead {
		for _, r := range recs[i].Requires {
			if !distributionName.MatchString(r.Name) || !dependencySpec.MatchString(r.Specifier) {
				return nil, nil, false
			}
			dep, ok := byKey[Distribution{Name: r.Name}.Key()]
			if !ok {
				line := r.Name
				if len(r.Extras) > 0 {
					for _, e := range r.Extras {
						if !distributionName.MatchString(e) {
							return nil, nil, false
						}
					}
					line += "[" + strings.Join(r.Extras, ",") + "]"
				}
				dep := dependency{name: r.Name, line: line + r.Specifier}
				if !slices.Contains(missing, dep) {
					missing = append(missing, dep)
				}
				continue
			}
			if len(r.Extras) > 0 {
				return nil, nil, false
			}
			if holds, told := satisfies(dep.Version, r.Specifier); !holds || !told {
				return nil, nil, false
			}
		}
		d := a.dist
		d.Hashes, d.Marker = []string{recs[i].SHA256}, ""
		pinned = append(pinned, d)
	}
	return pinned, missing, true
}

// dependency is a dependency the pins leave out: its name, and the
// requirement line that names it, NAME[EXTRAS]SPEC.
type dependency struct{ name, line string }

// dependencySpec is a dependency's version specifier as packaging writes
// it (clauses of an operator and a version, joined by commas, no spaces):
// what narrowed writes in a requirements file, beside the dependency's
// name and extras (PEP 508's identifiers: distributionName). A step ahead
// reads them from a wheel's metadata, which the index serves: anything
// else is left to a resolve of the whole file.
var dependencySpec = regexp.MustCompile(`^((~=|==|!=|<=|>=|<|>|===)[A-Za-z0-9.*+!_-]+(,(~=|==|!=|<=|>=|<|>|===)[A-Za-z0-9.*+!_-]+)*)?$`)

// resolveMissing is the step that resolves missing (see [narrowed]) with
// the pins as constraints, as the resolve step resolves the file, writing
// lockFileName: the distributions the pins leave out. Its inputs are those
// lines and the file's options, not the file: an edit that adds a pin
// resolves what the pin brings, not the whole file again.
func (v venv) resolveMissing(missing []dependency, pinned []Distribution) llb.State {
	var cons strings.Builder
	for _, d := range pinned {
		fmt.Fprintf(&cons, "%s==%s\n", d.Name, d.Version)
	}
	lines := dependencyLines(missing)
	reqs := strings.Join(append(append(slices.Clone(v.options), "-c "+constraintsName), lines...), "\n") + "\n"
	files := llb.Scratch().
		File(llb.Mkfile("/"+pathpkg.Base(requirementsMount), 0o644, []byte(reqs), llb.WithCreatedTime(FixedTime()))).
		File(llb.Mkfile("/"+constraintsName, 0o644, []byte(cons.String()), llb.WithCreatedTime(FixedTime())),
			llb.WithCustomName("builder: the pins' dependencies to resolve: "+strings.Join(lines, " ")))
	args := []string{v.python, toolPath, "resolve", requirementsMount, "/out/" + lockFileName, venvPython}
	opts := append(v.reads(),
		llb.Args(args),
		llb.Dir(requirementsDir),
		llb.AddMount(requirementsDir, files, llb.Readonly),
		llb.WithCustomName("builder: pip resolve what the pins leave out: "+strings.Join(lines, " ")),
	)
	return v.stage.Run(opts...).AddMount("/out", llb.Scratch())
}

func dependencyLines(deps []dependency) []string {
	lines := make([]string, len(deps))
	for i, d := range deps {
		lines[i] = d.line
	}
	return lines
}

// aheadOfMissing is the step that fetches or builds, and installs, the
// best file of the distribution dep names (the newest release its line
// allows, as pip's finder takes it), side by side with resolveMissing, as
// a step ahead of the resolve step does for a pin: it records the version
// and the sha256 of the file it fetched, and the graph takes it where the
// resolve chose that file (it does, unless another distribution narrows
// the range). It is cached by the line: a newer release later makes it
// a miss, and the distribution's own step builds what was resolved.
func (v venv) aheadOfMissing(dep dependency) llb.State {
	req := strings.Join(append(slices.Clone(v.options), dep.line), "\n") + "\n"
	root := v.stage.Run(append(v.reads(),
		llb.Args([]string{v.python, toolPath, "install", req, dep.line, venvPython, aheadFile}),
		llb.WithCustomName("builder: pip wheel and install "+dep.line+", while resolving what the pins leave out"),
	)...).Root()
	return llb.Diff(v.stage, root, llb.WithCustomName("builder: what "+dep.line+" adds to "+venvDir))
}

// narrowAhead is the steps ahead of a narrower resolve, for missing, as
// aheadSteps whose distribution's version is the one each recorded (recs,
// in order), for [fetched]; none where a step recorded none.
func narrowAhead(missing []dependency, steps []llb.State, recs []*aheadRecord) ([]aheadStep, []*aheadRecord) {
	var out []aheadStep
	var outRecs []*aheadRecord
	for i, dep := range missing {
		if i >= len(recs) || recs[i] == nil || recs[i].Version == "" {
			continue
		}
		out = append(out, aheadStep{dist: Distribution{Name: dep.name, Version: recs[i].Version}, added: steps[i]})
		outRecs = append(outRecs, recs[i])
	}
	return out, outRecs
}

// constraintsName is the pins' file beside the requirements of
// resolveMissing.
const constraintsName = "constraints.txt"

// withMissing is the whole set: pinned, and those of resolved (the
// resolveMissing step's) that are not pinned, in the order of the resolve
// step's (by name, in lower case).
func withMissing(pinned, resolved []Distribution) []Distribution {
	out := slices.Clone(pinned)
	for _, d := range resolved {
		if !slices.ContainsFunc(pinned, func(p Distribution) bool { return p.Key() == d.Key() }) {
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(a, b Distribution) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out
}

// fetched returns, by distribution key, what the steps ahead added for
// those of dists whose file they fetched, so that the image takes it.
// recs[i] is ahead[i]'s.
func fetched(ahead []aheadStep, recs []*aheadRecord, dists []Distribution) map[string]llb.State {
	byKey := map[string]int{}
	for i, a := range ahead {
		byKey[a.dist.Key()] = i
	}
	out := map[string]llb.State{}
	for _, d := range dists {
		i, ok := byKey[d.Key()]
		if ok && recs[i] != nil && d.Version == ahead[i].dist.Version && slices.Contains(d.Hashes, recs[i].SHA256) {
			out[d.Key()] = ahead[i].added
		}
	}
	return out
}

// project is what the local project at dir (a context path) adds to the
// empty venv: one step, on the builder stage, builds its wheel from the
// context's folder at the fixed paths an sdist is built at and installs
// it without its dependencies, as installed does; it is cached by that
// folder's content (and the requirements file's options, with which its
// build requirements are installed) alone.
func (v venv) project(context llb.State, dir string) llb.State {
	args := []string{v.python, toolPath, "project", projectMount, venvPython}
	if len(v.options) > 0 {
		args = append(args, strings.Join(v.options, "\n"))
	}
	locked, _ := v.locked(projectLockKey(dir)) // checked with the graph: see checkLocked
	after := v.stage.Run(append(append(v.reads(), locked...),
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
func (v venv) layers(dists []Distribution, files func(Distribution) llb.State) []venvLayer {
	if len(dists) <= MaxVenvLayers {
		out := make([]venvLayer, len(dists))
		for i, d := range dists {
			out[i] = venvLayer{name: "pip: " + d.Name + " " + d.Version, files: files(d)}
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
		var states []llb.State
		for _, d := range g {
			names = append(names, d.Name+" "+d.Version)
			states = append(states, files(d))
		}
		out = append(out, venvLayer{name: "pip: " + strings.Join(names, ", "), files: llb.Merge(states)})
	}
	return out
}

// lockRecord is the step of `imagebuild lock` for d: it fetches d's file
// and, for an sdist, resolves its build requirements, compiling nothing,
// and writes its record as the n-th file of distsRecord.
func (v venv) lockRecord(d Distribution, n int) llb.State {
	req := v.requirementText(d)
	out := fmt.Sprintf("%s%s/%04d.json", recordMount, distsRecord, n)
	return v.stage.Run(append(v.reads(),
		llb.Args([]string{v.python, toolPath, "lock", req, LockKey(d), out}),
		llb.WithCustomName("lock: "+d.Name+" "+d.Version+": its file, and its build requirements when it is built from source"),
	)...).AddMount(recordMount, llb.Scratch())
}

// lockProject is lockRecord for the local project at dir (a context path).
func (v venv) lockProject(context llb.State, dir string, n int) llb.State {
	out := fmt.Sprintf("%s%s/%04d.json", recordMount, distsRecord, n)
	return v.stage.Run(append(v.reads(),
		llb.Args([]string{v.python, toolPath, "lock-project", projectMount, projectLockKey(dir), out, strings.Join(v.options, "\n")}),
		llb.AddMount(projectMount, context, llb.SourcePath(dir), llb.Readonly),
		llb.WithCustomName("lock: ./"+dir+": its build requirements"),
	)...).AddMount(recordMount, llb.Scratch())
}

// withWheelhouse is the builder stage with a wheelhouse of every build
// requirement the lock records, each checked against its sha256: the
// builder image's last step.
func (v venv) withWheelhouse() (llb.State, error) {
	seen := map[string]bool{}
	var all []PythonFile
	for _, key := range slices.Sorted(maps.Keys(v.lock.Distributions)) {
		for _, f := range v.lock.Distributions[key].Requires {
			if !seen[f.File] {
				seen[f.File] = true
				all = append(all, f)
			}
		}
	}
	slices.SortFunc(all, func(a, b PythonFile) int { return strings.Compare(a.File, b.File) })
	if all == nil {
		all = []PythonFile{}
	}
	dt, err := json.Marshal(all)
	if err != nil {
		return llb.State{}, err
	}
	return v.stage.Run(append(v.reads(),
		llb.AddEnv("IMAGEBUILD_BUILD_REQUIREMENTS", string(dt)),
		llb.Args([]string{v.python, toolPath, "wheelhouse", wheelhouseDir, strings.Join(v.options, "\n")}),
		llb.WithCustomName(fmt.Sprintf("builder image: download the %d locked build requirements into %s", len(all), wheelhouseDir)),
	)...).Root(), nil
}

// StepReport is what a Python recipe's distribution or project step
// reports (see graph.Report; the build's Reports and the metadata file's
// imagebuild.reports hold it by "NAME VERSION", or "./DIR" for a local
// project).
type StepReport struct {
	// File is the file the step fetched: a wheel, or an sdist it
	// compiled; "" for a local project, or a distribution whose markers
	// exclude the platform.
	File string `json:"file"`
	// Wheel is the wheel the step installed, "" for none.
	Wheel string `json:"wheel"`
	// Compiled is whether the step built that wheel from source.
	Compiled bool `json:"compiled"`
	// Cross is whether the step ran on another platform than the
	// image's, cross-compiling (see [Inputs]'s Native).
	Cross bool `json:"cross,omitempty"`
}

// SummarizeReports says in one line what a platform's reports (as the
// build read them, by name) tell: which distributions were compiled from
// source (and which of them cross-compiled) and how many came as wheels. "" when none is a [StepReport].
func SummarizeReports(reports map[string][]byte) string {
	var compiled []string
	wheels := 0
	for _, name := range slices.Sorted(maps.Keys(reports)) {
		var r StepReport
		if json.Unmarshal(reports[name], &r) != nil {
			continue
		}
		switch {
		case r.Compiled && r.Cross:
			compiled = append(compiled, name+" cross-compiled")
		case r.Compiled:
			compiled = append(compiled, name)
		case r.Wheel != "":
			wheels++
		}
	}
	if len(compiled) == 0 && wheels == 0 {
		return ""
	}
	s := fmt.Sprintf("%d distributions installed from wheels, %d compiled from source", wheels, len(compiled))
	if len(compiled) > 0 {
		s += " (" + strings.Join(compiled, ", ") + ")"
	}
	return s
}
