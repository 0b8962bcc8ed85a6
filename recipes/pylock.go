package recipes

import (
	"fmt"
	"slices"
	"strings"
)

// pylock is a pylock.toml as PEP 751 defines it (lock-version 1.x): the
// fields imagebuild reads.
type pylock struct {
	LockVersion      string          `toml:"lock-version"`
	Environments     []string        `toml:"environments"`
	RequiresPython   string          `toml:"requires-python"`
	Extras           []string        `toml:"extras"`
	DependencyGroups []string        `toml:"dependency-groups"`
	DefaultGroups    []string        `toml:"default-groups"`
	CreatedBy        string          `toml:"created-by"`
	Packages         []pylockPackage `toml:"packages"`
}

// pylockPackage is a [[packages]] entry.
type pylockPackage struct {
	Name           string         `toml:"name"`
	Version        string         `toml:"version"`
	Marker         string         `toml:"marker"`
	RequiresPython string         `toml:"requires-python"`
	Index          string         `toml:"index"`
	VCS            map[string]any `toml:"vcs"`
	Directory      map[string]any `toml:"directory"`
	Archive        map[string]any `toml:"archive"`
	Sdist          *pylockFile    `toml:"sdist"`
	Wheels         []pylockFile   `toml:"wheels"`
}

// pylockFile is an sdist or a wheel: hashes by algorithm.
type pylockFile struct {
	Name   string            `toml:"name"`
	URL    string            `toml:"url"`
	Path   string            `toml:"path"`
	Size   int64             `toml:"size"`
	Hashes map[string]string `toml:"hashes"`
}

// parsePylock reads a pylock.toml: a package is installed where its
// marker holds, the lock's extras and dependency groups in it decided by
// the default-groups and groups (PEP 751's "'dev' in dependency_groups").
func parsePylock(dt []byte, groups []string) ([]Distribution, error) {
	var l pylock
	if err := decodeTOML(dt, &l); err != nil {
		return nil, err
	}
	if major, _, _ := strings.Cut(l.LockVersion, "."); major != "1" {
		return nil, fmt.Errorf("lock-version = %q: imagebuild reads PEP 751's lock-version 1.x", l.LockVersion)
	}
	if err := checkGroups(groups, append(slices.Clone(l.Extras), l.DependencyGroups...)); err != nil {
		return nil, err
	}
	sel := selection{extras: groups, groups: append(slices.Clone(l.DefaultGroups), groups...)}
	var out []Distribution
	for _, p := range l.Packages {
		m, err := parseMarker(p.Marker, sel)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", p.Name, p.Version, err)
		}
		if len(m) == 0 {
			continue // not in the extras and groups chosen
		}
		switch {
		case p.VCS != nil:
			return nil, fmt.Errorf("%s comes from a version control system (packages.vcs), which a release build cannot pin by hash; lock a release of an index", p.Name)
		case p.Directory != nil:
			return nil, fmt.Errorf("%s comes from a folder (packages.directory), which a release build cannot pin by hash; lock a release of an index", p.Name)
		case p.Archive != nil:
			return nil, fmt.Errorf("%s comes from an archive (packages.archive), which pip's finder does not look up on an index; lock a release of an index", p.Name)
		case p.Version == "":
			return nil, fmt.Errorf("%s has no version", p.Name)
		}
		files := p.Wheels
		if p.Sdist != nil {
			files = append(slices.Clone(files), *p.Sdist)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s %s has no files (no sdist, no wheels)", p.Name, p.Version)
		}
		var hashes []string
		for _, f := range files {
			h, ok := sha256Hex(f.Hashes["sha256"])
			if !ok {
				shown := f.Name
				for _, s := range []string{f.URL, f.Path} {
					if shown == "" {
						shown = s
					}
				}
				return nil, fmt.Errorf("%s %s: %s has no sha256 hash; lock again with hashes", p.Name, p.Version, shown)
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
