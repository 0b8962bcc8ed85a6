package recipes

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Lock files of Python's tools (uv.lock, pylock.toml, poetry.lock) are read
// into the same [Requirements] a requirements file locked with hashes
// gives: every distribution of the lock's default set (and the groups and
// extras asked for) at its version, with the sha256 of every file the lock
// gives its release and the marker under which the project needs it. The
// platform's choice is then made in the build, by each distribution's step
// with the platform's interpreter: pip's finder takes the best of the
// files the hashes name by the interpreter's tags, else the sdist, and a
// marker that does not hold there installs nothing.

// Lock file formats, by the name [LockFileFormat] gives them.
const (
	FormatUV     = "uv.lock"
	FormatPylock = "pylock.toml"
	FormatPoetry = "poetry.lock"
)

// LockFiles are the lock files a Python recipe looks for, in this order,
// at the top of the build context when its Requirements field is not set
// and the context sends no requirements.txt.
var LockFiles = []string{"uv.lock", "pylock.toml", "poetry.lock"}

// LockFileFormat is the format of the file at path by its name: FormatUV
// for uv.lock, FormatPylock for pylock.toml and pylock.NAME.toml (PEP
// 751's names), FormatPoetry for poetry.lock; "" for a requirements file.
func LockFileFormat(p string) string {
	switch base := path.Base(p); {
	case base == "uv.lock":
		return FormatUV
	case base == "pylock.toml" || pylockName.MatchString(base):
		return FormatPylock
	case base == "poetry.lock":
		return FormatPoetry
	}
	return ""
}

var pylockName = regexp.MustCompile(`^pylock\.[^.]+\.toml$`)

// ErrUnknownGroup is the error of a group or extra the lock does not
// define: the recipe's Groups field is wrong, not the lock.
var ErrUnknownGroup = errors.New("not a dependency group or extra the lock defines")

// ParseLockFile reads a lock file of the format [LockFileFormat] gives
// name into locked Requirements: the lock's default set (uv's and Poetry's
// main dependencies; a pylock.toml's default-groups) and the dependency
// groups and extras named in groups. pyproject is the content of the
// pyproject.toml beside the lock (nil for none), which a uv.lock or a
// poetry.lock is checked against, as uv lock --check and poetry check
// --lock do. A file without a sha256 hash, a source other than an index
// (a Git repository, a folder, a URL, an editable), a lock version the
// reader does not know, and a lock out of date are errors.
func ParseLockFile(name string, lock, pyproject []byte, groups []string) (Requirements, error) {
	var dists []Distribution
	var err error
	switch LockFileFormat(name) {
	case FormatUV:
		dists, err = parseUVLock(lock, pyproject, groups)
	case FormatPylock:
		dists, err = parsePylock(lock, groups)
	case FormatPoetry:
		dists, err = parsePoetryLock(lock, pyproject, groups)
	default:
		return Requirements{}, fmt.Errorf("%s is not a lock file imagebuild reads (uv.lock, pylock.toml, pylock.NAME.toml, poetry.lock)", name)
	}
	if err != nil {
		return Requirements{}, err
	}
	slices.SortFunc(dists, func(a, b Distribution) int {
		if c := strings.Compare(a.Key(), b.Key()); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return Requirements{Locked: true, Distributions: dists}, nil
}

// decodeTOML reads a lock's TOML into v.
func decodeTOML(dt []byte, v any) error {
	if err := toml.Unmarshal(dt, v); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return fmt.Errorf("not TOML as the format defines it: line %d column %d: %s", row, col, de.Error())
		}
		return fmt.Errorf("not TOML as the format defines it: %w", err)
	}
	return nil
}

// sha256Hex checks that h is 64 hex digits and returns it in lower case.
func sha256Hex(h string) (string, bool) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return strings.ToLower(h), true
}

// distribution is the distribution name at version with the hashes and
// marker given, its hashes sorted and each once. The name and version
// become a line of the requirements its step hands pip: a name that is not
// PEP 508's, or a version of other characters than PEP 440's, is an error
// (the marker's strings are checked as it is read: see markerTokens).
func distribution(name, version string, hashes []string, m markerDNF) (Distribution, error) {
	if !distributionName.MatchString(name) {
		return Distribution{}, fmt.Errorf("%q is not a distribution's name (PEP 508: letters, digits, \".\", \"-\" and \"_\")", name)
	}
	if !versionText.MatchString(version) {
		return Distribution{}, fmt.Errorf("%s: %q is not a version (PEP 440)", name, version)
	}
	slices.Sort(hashes)
	return Distribution{Name: name, Version: version, Hashes: slices.Compact(hashes), Marker: m.String()}, nil
}

var (
	distributionName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)
	versionText      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+!*-]*$`)
)

// checkGroups reports the first of asked that is not among defined (names
// compared normalized).
func checkGroups(asked []string, defined []string) error {
	for _, g := range asked {
		if !slices.ContainsFunc(defined, func(d string) bool { return normalizeName(d) == normalizeName(g) }) {
			have := "none"
			if len(defined) > 0 {
				have = strings.Join(defined, ", ")
			}
			return fmt.Errorf("%q: %w (it defines %s)", g, ErrUnknownGroup, have)
		}
	}
	return nil
}

// depGraph is a lock's dependency graph, for the markers under which each
// package is needed: nodes are packages, or a package with one of its
// extras ("name[extra]"), and an edge holds under its marker.
type depGraph struct {
	edges map[string][]depEdge
}

type depEdge struct {
	to     string
	marker markerDNF
}

func (g *depGraph) add(from, to string, m markerDNF) {
	if g.edges == nil {
		g.edges = map[string][]depEdge{}
	}
	g.edges[from] = append(g.edges[from], depEdge{to: to, marker: m})
}

// markers returns, for each node reached from root, the marker under which
// it is: the "or", over the paths from root, of the "and" of the edges'
// markers. It is computed to a fixed point (a marker only grows, and in the
// normal form of [markerDNF] it can grow only so far), so cycles end; a
// marker beyond maxConjunctions is an error naming its node.
func (g *depGraph) markers(root string) (map[string]markerDNF, error) {
	out := map[string]markerDNF{root: markerTrue}
	for changed := true; changed; {
		changed = false
		for _, from := range slices.Sorted(maps.Keys(out)) {
			for _, e := range g.edges[from] {
				m, err := out[from].and(e.marker)
				if err != nil {
					return nil, fmt.Errorf("the marker of %s: %w", e.to, err)
				}
				if len(m) == 0 {
					continue
				}
				old, seen := out[e.to]
				next := old.or(m)
				if len(next) > maxConjunctions {
					return nil, fmt.Errorf("the marker of %s: %w", e.to, errMarkerTooLarge)
				}
				if !seen || next.String() != old.String() || len(next) != len(old) {
					out[e.to] = next
					changed = true
				}
			}
		}
	}
	return out, nil
}

// pep508 is a PEP 508 requirement's parts: a name, extras, a version
// specifier and a marker (a direct reference, "@ URL", is its specifier).
var pep508 = regexp.MustCompile(`^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*([^;]*?)\s*(?:;\s*(.*))?$`)

// requirementKey is a requirement as the check of a lock against its
// project compares it: its normalized name, sorted extras and sorted
// specifiers without spaces. Markers are left out: the tools rewrite them
// as they lock (uv writes python_version as python_full_version).
func requirementKey(name string, extras []string, specifier string) string {
	var ex []string
	for _, e := range extras {
		if e = strings.TrimSpace(e); e != "" {
			ex = append(ex, normalizeName(e))
		}
	}
	slices.Sort(ex)
	spec := strings.NewReplacer(" ", "", "(", "", ")", "").Replace(specifier)
	var specs []string
	for _, s := range strings.Split(spec, ",") {
		if s != "" {
			specs = append(specs, s)
		}
	}
	slices.Sort(specs)
	return normalizeName(name) + "[" + strings.Join(ex, ",") + "]" + strings.Join(specs, ",")
}

// pep508Key is the requirementKey of a PEP 508 requirement's text.
func pep508Key(text string) (string, error) {
	m := pep508.FindStringSubmatch(text)
	if m == nil {
		return "", fmt.Errorf("%q is not a PEP 508 requirement", text)
	}
	return requirementKey(m[1], strings.Split(m[2], ","), m[3]), nil
}

// sameRequirements reports the first difference of two sets of requirement
// keys, "" for none.
func sameRequirements(what string, project, lock []string) string {
	slices.Sort(project)
	slices.Sort(lock)
	project, lock = slices.Compact(project), slices.Compact(lock)
	for _, k := range project {
		if _, ok := slices.BinarySearch(lock, k); !ok {
			return fmt.Sprintf("pyproject.toml's %s has %s, which the lock does not record", what, k)
		}
	}
	for _, k := range lock {
		if _, ok := slices.BinarySearch(project, k); !ok {
			return fmt.Sprintf("the lock records %s in %s, which pyproject.toml no longer has", k, what)
		}
	}
	return ""
}
