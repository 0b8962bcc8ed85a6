package recipes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
)

// poetryLock is a poetry.lock of lock-version 2.0 (Poetry 1.x) or 2.1
// (Poetry 2): the fields imagebuild reads.
type poetryLock struct {
	Packages []poetryPackage `toml:"package"`
	Metadata struct {
		LockVersion    string `toml:"lock-version"`
		PythonVersions string `toml:"python-versions"`
		ContentHash    string `toml:"content-hash"`
	} `toml:"metadata"`
}

// poetryPackage is a [[package]] of a poetry.lock.
type poetryPackage struct {
	Name     string `toml:"name"`
	Version  string `toml:"version"`
	Optional bool   `toml:"optional"`
	// Groups (2.1) are the groups that need the package.
	Groups []string `toml:"groups"`
	// Markers (2.1) is the marker under which the project needs the
	// package: a string, or a table of one by group.
	Markers any          `toml:"markers"`
	Files   []poetryFile `toml:"files"`
	// Dependencies are its dependencies by name: a constraint, a table
	// (version, markers, optional, extras), or a list of tables.
	Dependencies map[string]any      `toml:"dependencies"`
	Extras       map[string][]string `toml:"extras"`
	Source       *struct {
		Type string `toml:"type"`
		URL  string `toml:"url"`
	} `toml:"source"`
}

// poetryFile is one file of a release.
type poetryFile struct {
	File string `toml:"file"`
	Hash string `toml:"hash"`
}

// poetryDependency is a dependency in its table form.
type poetryDependency struct {
	markers  string
	optional bool
	extras   []string
	// python and platform are Poetry's constraints on the interpreter,
	// which imagebuild does not turn into markers.
	python, platform string
	// source names a source other than an index (git, path, url).
	source string
}

// poetryDependencies reads a dependency's forms.
func poetryDependencies(v any) ([]poetryDependency, error) {
	switch v := v.(type) {
	case string:
		return []poetryDependency{{}}, nil
	case map[string]any:
		var d poetryDependency
		str := func(k string) string { s, _ := v[k].(string); return s }
		d.markers, d.python, d.platform = str("markers"), str("python"), str("platform")
		d.optional, _ = v["optional"].(bool)
		if ex, ok := v["extras"].([]any); ok {
			for _, e := range ex {
				if s, ok := e.(string); ok {
					d.extras = append(d.extras, s)
				}
			}
		}
		for _, k := range []string{"git", "path", "url"} {
			if str(k) != "" {
				d.source = k + " " + str(k)
			}
		}
		return []poetryDependency{d}, nil
	case []any:
		var out []poetryDependency
		for _, e := range v {
			ds, err := poetryDependencies(e)
			if err != nil {
				return nil, err
			}
			out = append(out, ds...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("a dependency of type %T", v)
}

// marker is the marker of d: its markers, or an error for a python or
// platform constraint.
func (d poetryDependency) marker(name string, sel selection) (markerDNF, error) {
	if d.python != "" || d.platform != "" {
		return nil, fmt.Errorf("the dependency on %s has a python or platform constraint, which imagebuild does not read; write it as markers = \"...\"", name)
	}
	return parseMarker(d.markers, sel)
}

// parsePoetryLock reads a poetry.lock, checked against pyproject by its
// content-hash. Of lock-version 2.1, a package is in the set when one of
// its groups is main or named in groups, under the marker its markers give
// that group; of 2.0, which records no markers of the project's, the
// markers are those of the paths from the project's dependencies
// (pyproject.toml's tool.poetry.dependencies, and the groups named) along
// the lock's dependency edges, as [depGraph.markers] gives them.
func parsePoetryLock(dt, pyproject []byte, groups []string) ([]Distribution, error) {
	var l poetryLock
	if err := decodeTOML(dt, &l); err != nil {
		return nil, err
	}
	if v := l.Metadata.LockVersion; v != "2.0" && v != "2.1" {
		return nil, fmt.Errorf("lock-version = %q: imagebuild reads lock-version 2.0 (Poetry 1.x) and 2.1 (Poetry 2); lock again with one of those", v)
	}
	if pyproject == nil {
		return nil, fmt.Errorf("the context sends no pyproject.toml beside it, which the lock is checked against")
	}
	var pp map[string]any
	if err := decodeTOML(pyproject, &pp); err != nil {
		return nil, fmt.Errorf("pyproject.toml: %w", err)
	}
	if !slices.Contains(poetryContentHashes(pp), l.Metadata.ContentHash) {
		return nil, fmt.Errorf("out of date with pyproject.toml: its content-hash is not that of pyproject.toml's dependencies; run poetry lock")
	}
	poetry, _ := dig(pp, "tool", "poetry").(map[string]any)
	extrasDefined, _ := dig(pp, "tool", "poetry", "extras").(map[string]any)
	groupsDefined, _ := dig(pp, "tool", "poetry", "group").(map[string]any)
	defined := slices.Concat(slices.Collect(maps.Keys(extrasDefined)), slices.Collect(maps.Keys(groupsDefined)))
	if opt, ok := dig(pp, "project", "optional-dependencies").(map[string]any); ok {
		defined = append(defined, slices.Collect(maps.Keys(opt))...)
	}
	slices.Sort(defined)
	if err := checkGroups(groups, defined); err != nil {
		return nil, err
	}
	sel := selection{extras: groups, groups: groups}
	var markers map[string]markerDNF
	var err error
	if l.Metadata.LockVersion == "2.1" {
		markers, err = poetryGroupMarkers(l, sel, append([]string{"main"}, groups...))
	} else {
		markers, err = poetryPathMarkers(l, poetry, sel, groups)
	}
	if err != nil {
		return nil, err
	}
	var out []Distribution
	for _, p := range l.Packages {
		m, ok := markers[normalizeName(p.Name)]
		if !ok || len(m) == 0 {
			continue
		}
		if p.Source != nil && p.Source.Type != "legacy" {
			return nil, fmt.Errorf("%s %s comes from a %s source (%s), which a release build cannot pin by hash; depend on a release of an index", p.Name, p.Version, p.Source.Type, p.Source.URL)
		}
		if len(p.Files) == 0 {
			return nil, fmt.Errorf("%s %s has no files", p.Name, p.Version)
		}
		var hashes []string
		for _, f := range p.Files {
			algo, sum, _ := strings.Cut(f.Hash, ":")
			h, ok := sha256Hex(sum)
			if algo != "sha256" || !ok {
				return nil, fmt.Errorf("%s %s: %s has no sha256 hash (hash = %q); lock again with poetry lock", p.Name, p.Version, f.File, f.Hash)
			}
			hashes = append(hashes, h)
		}
		d, err := distribution(p.Name, p.Version, hashes, m)
		if err != nil {
			return nil, err
		}
		d.WheelsOnly = !slices.ContainsFunc(p.Files, func(f poetryFile) bool { return !strings.HasSuffix(f.File, ".whl") })
		out = append(out, d)
	}
	return out, nil
}

// poetryGroupMarkers are lock-version 2.1's markers of the packages of
// the groups named, by normalized name.
func poetryGroupMarkers(l poetryLock, sel selection, groups []string) (map[string]markerDNF, error) {
	out := map[string]markerDNF{}
	for _, p := range l.Packages {
		m := markerFalse
		for _, g := range p.Groups {
			if !slices.Contains(groups, g) {
				continue
			}
			text := ""
			switch mk := p.Markers.(type) {
			case string:
				text = mk
			case map[string]any:
				text, _ = mk[g].(string)
			}
			gm, err := parseMarker(text, sel)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", p.Name, p.Version, err)
			}
			m = m.or(gm)
		}
		if len(m) > 0 {
			if _, dup := out[normalizeName(p.Name)]; dup {
				return nil, fmt.Errorf("the lock holds %s twice; imagebuild reads one version of a package from a poetry.lock", p.Name)
			}
			out[normalizeName(p.Name)] = m
		}
	}
	return out, nil
}

// poetryPathMarkers are lock-version 2.0's markers of the packages the
// project's dependencies (main, and the groups and extras named) reach,
// by normalized name.
func poetryPathMarkers(l poetryLock, poetry map[string]any, sel selection, groups []string) (map[string]markerDNF, error) {
	var g depGraph
	names := map[string]poetryPackage{}
	for _, p := range l.Packages {
		if _, dup := names[normalizeName(p.Name)]; dup {
			return nil, fmt.Errorf("the lock holds %s twice; imagebuild reads one version of a package from a poetry.lock", p.Name)
		}
		names[normalizeName(p.Name)] = p
	}
	// inExtra are the root's optional dependencies its extras named in
	// groups ask for.
	inExtra := map[string]bool{}
	if extras, ok := poetry["extras"].(map[string]any); ok {
		for name, deps := range extras {
			if !slices.ContainsFunc(groups, func(g string) bool { return normalizeName(g) == normalizeName(name) }) {
				continue
			}
			list, _ := deps.([]any)
			for _, d := range list {
				if s, ok := d.(string); ok {
					inExtra[normalizeName(s)] = true
				}
			}
		}
	}
	addRoot := func(deps map[string]any) error {
		for name, v := range deps {
			if strings.EqualFold(name, "python") {
				continue
			}
			ds, err := poetryDependencies(v)
			if err != nil {
				return fmt.Errorf("pyproject.toml: %s: %w", name, err)
			}
			for _, d := range ds {
				if d.optional && !inExtra[normalizeName(name)] {
					continue
				}
				if d.source != "" {
					return fmt.Errorf("pyproject.toml: %s comes from %s, which a release build cannot pin by hash", name, d.source)
				}
				m, err := d.marker(name, sel)
				if err != nil {
					return fmt.Errorf("pyproject.toml: %w", err)
				}
				g.add("", normalizeName(name), m)
				for _, e := range d.extras {
					g.add("", normalizeName(name)+"["+normalizeName(e)+"]", m)
				}
			}
		}
		return nil
	}
	main, _ := poetry["dependencies"].(map[string]any)
	if err := addRoot(main); err != nil {
		return nil, err
	}
	for _, name := range groups {
		if deps, ok := dig(poetry, "group", name, "dependencies").(map[string]any); ok {
			if err := addRoot(deps); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range l.Packages {
		from := normalizeName(p.Name)
		// byExtra are the dependencies each extra of p asks for.
		byExtra := map[string][]string{}
		for extra, reqs := range p.Extras {
			g.add(from+"["+normalizeName(extra)+"]", from, markerTrue)
			for _, r := range reqs {
				if m := pep508.FindStringSubmatch(r); m != nil {
					byExtra[normalizeName(m[1])] = append(byExtra[normalizeName(m[1])], normalizeName(extra))
				}
			}
		}
		for name, v := range p.Dependencies {
			ds, err := poetryDependencies(v)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %s: %w", p.Name, p.Version, name, err)
			}
			for _, d := range ds {
				m, err := d.marker(name, sel)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", p.Name, p.Version, err)
				}
				froms := []string{from}
				if d.optional {
					froms = nil
					for _, extra := range byExtra[normalizeName(name)] {
						froms = append(froms, from+"["+extra+"]")
					}
				}
				for _, f := range froms {
					g.add(f, normalizeName(name), m)
					for _, e := range d.extras {
						g.add(f, normalizeName(name)+"["+normalizeName(e)+"]", m)
					}
				}
			}
		}
	}
	reached, err := g.markers("")
	if err != nil {
		return nil, err
	}
	out := map[string]markerDNF{}
	for node, m := range reached {
		if _, ok := names[node]; ok {
			out[node] = m
		}
	}
	return out, nil
}

// dig is the value at keys in nested tables, nil where there is none.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// poetryContentHashes are the content-hashes Poetry gives pyproject, pp:
// Poetry 1.x's (the sha256 of json.dumps(..., sort_keys=True) of
// tool.poetry's dependencies, source, extras and dev-dependencies, null
// where missing, and its group) and Poetry 2's (the same, with project's
// requires-python, dependencies and optional-dependencies beside it where
// the project declares any).
func poetryContentHashes(pp map[string]any) []string {
	poetry, _ := dig(pp, "tool", "poetry").(map[string]any)
	legacy := []string{"dependencies", "source", "extras", "dev-dependencies"}
	relevant := func(skipLegacyNulls bool) map[string]any {
		out := map[string]any{}
		for _, k := range append(slices.Clone(legacy), "group") {
			v, ok := poetry[k]
			if !ok && (k == "group" || skipLegacyNulls) {
				continue
			}
			out[k] = v
		}
		return out
	}
	sum := func(v any) string {
		s := sha256.Sum256([]byte(pythonJSON(v)))
		return hex.EncodeToString(s[:])
	}
	hashes := []string{sum(relevant(false))}
	project := map[string]any{}
	for _, k := range []string{"requires-python", "dependencies", "optional-dependencies"} {
		if v := dig(pp, "project", k); v != nil {
			project[k] = v
		}
	}
	if len(project) > 0 {
		hashes = append(hashes, sum(map[string]any{"project": project, "tool": map[string]any{"poetry": relevant(true)}}))
	}
	return hashes
}

// pythonJSON is v as Python's json.dumps(v, sort_keys=True) writes it
// (", " and ": " between items, non-ASCII escaped), for the TOML values
// pyproject.toml decodes to.
func pythonJSON(v any) string {
	var b strings.Builder
	var write func(v any)
	write = func(v any) {
		switch v := v.(type) {
		case nil:
			b.WriteString("null")
		case bool:
			b.WriteString(strconv.FormatBool(v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case float64:
			if v == math.Trunc(v) && math.Abs(v) < 1e16 {
				b.WriteString(strconv.FormatFloat(v, 'f', 1, 64))
			} else {
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
		case string:
			b.WriteByte('"')
			for _, r := range v {
				switch {
				case r == '"':
					b.WriteString(`\"`)
				case r == '\\':
					b.WriteString(`\\`)
				case r == '\n':
					b.WriteString(`\n`)
				case r == '\r':
					b.WriteString(`\r`)
				case r == '\t':
					b.WriteString(`\t`)
				case r == '\b':
					b.WriteString(`\b`)
				case r == '\f':
					b.WriteString(`\f`)
				case r < 0x20 || r > 0x7e:
					if r > 0xffff {
						r1, r2 := utf16.EncodeRune(r)
						fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
					} else {
						fmt.Fprintf(&b, `\u%04x`, r)
					}
				default:
					b.WriteRune(r)
				}
			}
			b.WriteByte('"')
		case []any:
			b.WriteByte('[')
			for i, e := range v {
				if i > 0 {
					b.WriteString(", ")
				}
				write(e)
			}
			b.WriteByte(']')
		case map[string]any:
			b.WriteByte('{')
			for i, k := range slices.Sorted(maps.Keys(v)) {
				if i > 0 {
					b.WriteString(", ")
				}
				write(k)
				b.WriteString(": ")
				write(v[k])
			}
			b.WriteByte('}')
		default:
			fmt.Fprintf(&b, "%q", fmt.Sprint(v))
		}
	}
	write(v)
	return b.String()
}
