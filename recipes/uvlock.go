package recipes

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// uvLock is a uv.lock, as uv writes it (version 1, revisions 1 to 3): the
// fields imagebuild reads.
type uvLock struct {
	Version        int         `toml:"version"`
	Revision       int         `toml:"revision"`
	RequiresPython string      `toml:"requires-python"`
	Packages       []uvPackage `toml:"package"`
}

// uvPackage is a [[package]] of a uv.lock.
type uvPackage struct {
	Name                 string                    `toml:"name"`
	Version              string                    `toml:"version"`
	Source               uvSource                  `toml:"source"`
	Dependencies         []uvDependency            `toml:"dependencies"`
	OptionalDependencies map[string][]uvDependency `toml:"optional-dependencies"`
	DevDependencies      map[string][]uvDependency `toml:"dev-dependencies"`
	Sdist                *uvFile                   `toml:"sdist"`
	Wheels               []uvFile                  `toml:"wheels"`
	Metadata             struct {
		RequiresDist []uvRequirement            `toml:"requires-dist"`
		RequiresDev  map[string][]uvRequirement `toml:"requires-dev"`
	} `toml:"metadata"`
}

// uvSource is where a package comes from: one field is set.
type uvSource struct {
	Registry  string `toml:"registry"`
	Editable  string `toml:"editable"`
	Virtual   string `toml:"virtual"`
	Git       string `toml:"git"`
	Path      string `toml:"path"`
	Directory string `toml:"directory"`
	URL       string `toml:"url"`
}

// kind names the source for an error; "" for an index.
func (s uvSource) kind() string {
	switch {
	case s.Editable != "":
		return "an editable (" + s.Editable + ")"
	case s.Virtual != "":
		return "a virtual project (" + s.Virtual + ")"
	case s.Git != "":
		return "a Git repository (" + s.Git + ")"
	case s.Path != "":
		return "a path (" + s.Path + ")"
	case s.Directory != "":
		return "a folder (" + s.Directory + ")"
	case s.URL != "":
		return "a URL (" + s.URL + ")"
	}
	return ""
}

// uvDependency is an edge of the lock's graph: the package name (with
// version and source where the lock holds several of that name), under
// marker, with extras.
type uvDependency struct {
	Name    string    `toml:"name"`
	Version string    `toml:"version"`
	Source  *uvSource `toml:"source"`
	Marker  string    `toml:"marker"`
	Extra   []string  `toml:"extra"`
}

// uvFile is an sdist or a wheel.
type uvFile struct {
	URL  string `toml:"url"`
	Path string `toml:"path"`
	Hash string `toml:"hash"`
	Size int64  `toml:"size"`
}

// uvRequirement is a requirement the root project declared, as the lock
// records it.
type uvRequirement struct {
	Name      string   `toml:"name"`
	Specifier string   `toml:"specifier"`
	Marker    string   `toml:"marker"`
	Extras    []string `toml:"extras"`
}

// parseUVLock reads a uv.lock: the root project is the package whose
// source is the project's own folder (editable or virtual "."), not
// installed itself; its dependencies, the extras and dev groups named in
// groups, and what they depend on are the set, each under the marker of
// [depGraph.markers].
func parseUVLock(dt, pyproject []byte, groups []string) ([]Distribution, error) {
	var l uvLock
	if err := decodeTOML(dt, &l); err != nil {
		return nil, err
	}
	if l.Version != 1 {
		return nil, fmt.Errorf("version = %d: imagebuild reads uv.lock version 1 (uv 0.4 and later); lock again with a uv that writes it", l.Version)
	}
	var root *uvPackage
	rootIndex := -1
	byName := map[string][]int{}
	for i, p := range l.Packages {
		if p.Source.Editable == "." || p.Source.Virtual == "." {
			if root != nil {
				return nil, fmt.Errorf("both %s and %s are the project in the lock's folder", root.Name, p.Name)
			}
			root, rootIndex = &l.Packages[i], i
		}
		byName[normalizeName(p.Name)] = append(byName[normalizeName(p.Name)], i)
	}
	if root == nil {
		return nil, fmt.Errorf("no package is the project itself (source = { editable = \".\" } or { virtual = \".\" }); imagebuild reads the lock of one project at the context's top")
	}
	if err := checkUVFresh(root, pyproject); err != nil {
		return nil, err
	}
	var defined []string
	for name := range root.OptionalDependencies {
		defined = append(defined, name)
	}
	for name := range root.DevDependencies {
		defined = append(defined, name)
	}
	slices.Sort(defined)
	if err := checkGroups(groups, defined); err != nil {
		return nil, err
	}
	sel := selection{extras: groups, groups: groups}

	// node is a package's index in the lock, or that with an extra.
	node := func(i int, extra string) string {
		n := l.Packages[i].Name + " " + l.Packages[i].Version
		if extra != "" {
			n += "[" + normalizeName(extra) + "]"
		}
		return n
	}
	resolve := func(d uvDependency) (int, error) {
		cands := byName[normalizeName(d.Name)]
		var match []int
		for _, i := range cands {
			if d.Version == "" || l.Packages[i].Version == d.Version {
				match = append(match, i)
			}
		}
		if len(match) != 1 {
			return 0, fmt.Errorf("the dependency on %s %s names %d packages of the lock, want one", d.Name, d.Version, len(match))
		}
		return match[0], nil
	}
	var g depGraph
	addEdges := func(from string, deps []uvDependency) error {
		for _, d := range deps {
			m, err := parseMarker(d.Marker, sel)
			if err != nil {
				return fmt.Errorf("a dependency on %s: %w", d.Name, err)
			}
			to, err := resolve(d)
			if err != nil {
				return err
			}
			g.add(from, node(to, ""), m)
			for _, e := range d.Extra {
				g.add(from, node(to, e), m)
			}
		}
		return nil
	}
	const rootNode = "" // no package's node
	if err := addEdges(rootNode, root.Dependencies); err != nil {
		return nil, err
	}
	for _, name := range groups {
		for extra, deps := range root.OptionalDependencies {
			if normalizeName(extra) == normalizeName(name) {
				if err := addEdges(rootNode, deps); err != nil {
					return nil, err
				}
			}
		}
		for group, deps := range root.DevDependencies {
			if normalizeName(group) == normalizeName(name) {
				if err := addEdges(rootNode, deps); err != nil {
					return nil, err
				}
			}
		}
	}
	for i, p := range l.Packages {
		if i == rootIndex {
			continue
		}
		if err := addEdges(node(i, ""), p.Dependencies); err != nil {
			return nil, fmt.Errorf("%s %s: %w", p.Name, p.Version, err)
		}
		for extra, deps := range p.OptionalDependencies {
			g.add(node(i, extra), node(i, ""), markerTrue)
			if err := addEdges(node(i, extra), deps); err != nil {
				return nil, fmt.Errorf("%s %s[%s]: %w", p.Name, p.Version, extra, err)
			}
		}
	}
	markers, err := g.markers(rootNode)
	if err != nil {
		return nil, err
	}
	var out []Distribution
	for i, p := range l.Packages {
		m, ok := markers[node(i, "")]
		if !ok || i == rootIndex {
			continue
		}
		if k := p.Source.kind(); k != "" {
			return nil, fmt.Errorf("%s %s comes from %s, which a release build cannot pin by hash; depend on a release of an index", p.Name, p.Version, k)
		}
		var hashes []string
		files := p.Wheels
		if p.Sdist != nil {
			files = append(slices.Clone(files), *p.Sdist)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s %s has no files (no sdist, no wheels)", p.Name, p.Version)
		}
		for _, f := range files {
			algo, sum, _ := strings.Cut(f.Hash, ":")
			h, ok := sha256Hex(sum)
			if algo != "sha256" || !ok {
				shown := f.URL
				if shown == "" {
					shown = f.Path
				}
				return nil, fmt.Errorf("%s %s: %s has no sha256 hash (hash = %q); lock again with uv lock", p.Name, p.Version, shown, f.Hash)
			}
			hashes = append(hashes, h)
		}
		d, err := distribution(p.Name, p.Version, hashes, m)
		if err != nil {
			return nil, err
		}
		d.WheelsOnly = p.Sdist == nil
		out = append(out, d)
	}
	return out, nil
}

// checkUVFresh compares what the root project declares in pyproject
// (project.dependencies and optional-dependencies, dependency-groups and
// tool.uv.dev-dependencies) with what the lock records it declared (its
// metadata's requires-dist and requires-dev), as uv lock --check does,
// by names, extras and specifiers.
func checkUVFresh(root *uvPackage, pyproject []byte) error {
	if pyproject == nil {
		return fmt.Errorf("the context sends no pyproject.toml beside it, which the lock is checked against")
	}
	var pp struct {
		Project *struct {
			Dependencies         []string            `toml:"dependencies"`
			OptionalDependencies map[string][]string `toml:"optional-dependencies"`
		} `toml:"project"`
		DependencyGroups map[string][]any `toml:"dependency-groups"`
		Tool             struct {
			UV struct {
				DevDependencies []string `toml:"dev-dependencies"`
			} `toml:"uv"`
		} `toml:"tool"`
	}
	if err := decodeTOML(pyproject, &pp); err != nil {
		return fmt.Errorf("pyproject.toml: %w", err)
	}
	if pp.Project == nil {
		return nil // a virtual root of a workspace's requirements: nothing declared to compare
	}
	var project, lock []string
	var all []string
	all = append(all, pp.Project.Dependencies...)
	for _, deps := range pp.Project.OptionalDependencies {
		all = append(all, deps...)
	}
	for _, r := range all {
		k, err := pep508Key(r)
		if err != nil {
			return fmt.Errorf("pyproject.toml: %w", err)
		}
		project = append(project, k)
	}
	for _, r := range root.Metadata.RequiresDist {
		lock = append(lock, requirementKey(r.Name, r.Extras, r.Specifier))
	}
	if diff := sameRequirements("dependencies", project, lock); diff != "" {
		return fmt.Errorf("out of date with pyproject.toml: %s; run uv lock", diff)
	}
	groups := map[string][]string{}
	for name, deps := range pp.DependencyGroups {
		for _, d := range deps {
			if s, ok := d.(string); ok { // {include-group = ...} tables are the lock's to expand
				groups[normalizeName(name)] = append(groups[normalizeName(name)], s)
			}
		}
	}
	groups["dev"] = append(groups["dev"], pp.Tool.UV.DevDependencies...)
	for g := range root.Metadata.RequiresDev {
		groups[normalizeName(g)] = append(groups[normalizeName(g)], []string(nil)...)
	}
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		project = project[:0]
		for _, r := range groups[name] {
			k, err := pep508Key(r)
			if err != nil {
				return fmt.Errorf("pyproject.toml: %w", err)
			}
			project = append(project, k)
		}
		lock = lock[:0]
		for g, reqs := range root.Metadata.RequiresDev {
			if normalizeName(g) == name {
				for _, r := range reqs {
					lock = append(lock, requirementKey(r.Name, r.Extras, r.Specifier))
				}
			}
		}
		if len(project) == 0 && len(lock) == 0 {
			continue
		}
		if diff := sameRequirements("dependency group "+name, project, lock); diff != "" {
			return fmt.Errorf("out of date with pyproject.toml: %s; run uv lock", diff)
		}
	}
	return nil
}
