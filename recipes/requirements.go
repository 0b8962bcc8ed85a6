package recipes

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Distribution is one distribution of a resolved set of requirements: a
// name at an exact version, with the hashes of the files that may be
// installed for it. Each gets build steps of its own in a Python recipe's
// graph, and a layer of its own in the image.
type Distribution struct {
	// Name is the distribution's name as written.
	Name string
	// Version is its exact version.
	Version string
	// Hashes are the sha256 digests (hex) of its files that may be
	// installed: pip checks what it downloads against them.
	Hashes []string
	// Marker is its environment marker (python_version < "3.11"), "" for
	// none; pip skips the distribution where the marker is false.
	Marker string
}

// Key is the distribution's normalized name (PEP 503): lower case, runs of
// "-", "_" and "." as one "-".
func (d Distribution) Key() string {
	return strings.ToLower(separators.ReplaceAllString(d.Name, "-"))
}

var separators = regexp.MustCompile(`[-_.]+`)

// requirement is d as a requirements file line, its hashes checked by pip.
func (d Distribution) requirement() string {
	line := d.Name + "==" + d.Version
	if d.Marker != "" {
		line += " ; " + d.Marker
	}
	for _, h := range d.Hashes {
		line += " --hash=sha256:" + h
	}
	return line
}

// Requirements is a pip requirements file as a recipe reads it.
type Requirements struct {
	// Options are the file's global options (--index-url URL,
	// --extra-index-url URL, --find-links, --pre, ...), one a line, which
	// every pip step that reads the index is given.
	Options []string
	// Locked is set when every requirement pins an exact version with
	// hashes (as pip-compile --generate-hashes and uv pip compile write
	// them): Distributions are then the whole set, and the graph is made
	// from them without resolving.
	Locked bool
	// Distributions are the requirements, when Locked.
	Distributions []Distribution
	// Pinned are, when not Locked, the requirements pinned to one version
	// (name==version), hashes or not: the build fetches and builds each
	// while it resolves the file.
	Pinned []Distribution
	// PinnedOnly is set, when not Locked, for a file that pins every
	// requirement to one version without extras (as pip freeze writes
	// it), names no other file and no local project: its pins are its
	// whole set when their dependencies are among them, which the build
	// checks before it resolves the file (see [builder.Expansion.Later]).
	PinnedOnly bool
	// Projects are the local projects the file names, folders under its
	// own written as ./PATH (as pip takes them), cleaned: each is built
	// from the build context in a step of its own and installed without
	// its dependencies, which the file names (a file that is not locked
	// is resolved with the projects, so pip adds theirs). They do not
	// make a file unlocked.
	Projects []string
}

// requirementLine is a pinned requirement: a name, extras, == or === and a
// version, and an environment marker after ";".
var requirementLine = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*===?\s*([^\s;*]+)\s*(?:;\s*(.*))?$`)

// globalOptions are the requirements-file options that apply to the whole
// file and that imagebuild passes to every pip step; the value of each in
// withValue is the next field when not written with "=".
var (
	globalOptions = []string{"-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links",
		"--trusted-host", "--pre", "--prefer-binary", "--only-binary", "--no-binary"}
	withValue = []string{"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host",
		"--only-binary", "--no-binary"}
)

// ParseRequirements reads a pip requirements file. A file of pinned
// requirements, each with its hashes, and local projects (./PATH) is Locked; any other (a name without
// a version, a range, a requirement without hashes, an included file, an
// editable or a direct reference) is to be resolved by pip in the build.
// An index option whose URL holds a password is an error: the options reach
// the build graph, and a private index's credentials belong in pip's config
// file, the pipconf secret.
func ParseRequirements(dt []byte) (Requirements, error) {
	var r Requirements
	locked, pinnedOnly := true, true
	for _, line := range logicalLines(string(dt)) {
		fields := strings.Fields(line.text)
		if len(fields) == 0 {
			continue
		}
		if strings.HasPrefix(fields[0], "./") || strings.HasPrefix(fields[0], "../") {
			dir := path.Clean(fields[0])
			if len(fields) > 1 || dir == "." || strings.HasPrefix(dir, "../") || dir == ".." {
				return r, fmt.Errorf("line %d: %s: a local project is a folder under the requirements file's, written alone as ./PATH", line.number, line.text)
			}
			if !slices.Contains(r.Projects, dir) {
				r.Projects = append(r.Projects, dir)
			}
			pinnedOnly = false
			continue
		}
		if strings.HasPrefix(fields[0], "-") && !strings.HasPrefix(fields[0], "--hash") {
			opt, value, hasValue := strings.Cut(fields[0], "=")
			if !slices.Contains(globalOptions, opt) {
				locked, pinnedOnly = false, false // -r, -c, -e and the like: pip resolves them
				continue
			}
			words := []string{opt}
			if slices.Contains(withValue, opt) {
				if !hasValue {
					if len(fields) < 2 {
						return r, fmt.Errorf("line %d: %s needs a value", line.number, opt)
					}
					value = fields[1]
				}
				if u, err := url.Parse(value); err == nil && u.User != nil {
					if _, ok := u.User.Password(); ok {
						return r, fmt.Errorf("line %d: %s %s holds a password: give a private index in pip's config file as the %s secret, which no step's command line, layer or cache holds", line.number, opt, u.Redacted(), PipConfSecret)
					}
				}
				words = append(words, value)
			}
			r.Options = append(r.Options, strings.Join(words, " "))
			continue
		}
		d, ok := parsePinned(line.text)
		if !ok {
			locked = false
			m := requirementLine.FindStringSubmatch(strings.TrimSpace(line.text))
			if m == nil {
				pinnedOnly = false
				continue
			}
			d = Distribution{Name: m[1], Version: m[3], Marker: strings.TrimSpace(m[4])}
			r.Pinned = append(r.Pinned, d)
		} else {
			r.Distributions = append(r.Distributions, d)
		}
		if m := requirementLine.FindStringSubmatch(strings.TrimSpace(strings.Split(line.text, "--hash")[0])); m == nil || m[2] != "" {
			pinnedOnly = false // extras bring more dependencies
		}
	}
	seen := map[string]bool{}
	for _, d := range append(slices.Clone(r.Distributions), r.Pinned...) {
		if seen[d.Key()] {
			locked, pinnedOnly = false, false // pip tells such a file's mistakes best
		}
		seen[d.Key()] = true
	}
	r.Locked = locked
	r.PinnedOnly = pinnedOnly && !locked
	if locked {
		r.Pinned = nil
	} else {
		r.Pinned = append(r.Pinned, r.Distributions...)
		r.Distributions = nil
	}
	slices.SortFunc(r.Pinned, func(a, b Distribution) int { return strings.Compare(a.Key(), b.Key()) })
	slices.SortFunc(r.Distributions, func(a, b Distribution) int { return strings.Compare(a.Key(), b.Key()) })
	slices.Sort(r.Projects)
	return r, nil
}

// parsePinned parses a requirement line pinned to a version with hashes.
func parsePinned(text string) (Distribution, bool) {
	spec, hashes := text, []string(nil)
	for {
		i := strings.Index(spec, "--hash")
		if i < 0 {
			break
		}
		rest := strings.TrimLeft(spec[i+len("--hash"):], "= \t")
		value, after, _ := strings.Cut(rest, " ")
		algo, sum, ok := strings.Cut(value, ":")
		if !ok || algo != "sha256" {
			return Distribution{}, false
		}
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return Distribution{}, false
		}
		hashes = append(hashes, strings.ToLower(sum))
		spec = spec[:i] + " " + after
	}
	m := requirementLine.FindStringSubmatch(strings.TrimSpace(spec))
	if m == nil || len(hashes) == 0 {
		return Distribution{}, false
	}
	return Distribution{Name: m[1], Version: m[3], Hashes: hashes, Marker: strings.TrimSpace(m[4])}, true
}

type logicalLine struct {
	number int
	text   string
}

// logicalLines joins a requirements file's continued lines (a "\" at the
// end) and drops its comments, as pip reads them.
func logicalLines(s string) []logicalLine {
	var out []logicalLine
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(s, "\n") {
		if cur.Len() == 0 {
			start = i + 1
		}
		line := strings.TrimRight(raw, "\r")
		if j := commentStart(line); j >= 0 {
			line = line[:j]
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		out = append(out, logicalLine{number: start, text: cur.String()})
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, logicalLine{number: start, text: cur.String()})
	}
	return out
}

// commentStart is where a comment starts in line: a "#" at its start or
// after white space; -1 for none.
func commentStart(line string) int {
	for i := range len(line) {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return i
		}
	}
	return -1
}

// lockFile is what the resolve step writes: the distributions pip would
// install, each with the sha256 of the file it chose.
type lockFile []lockEntry

// lockEntry is one distribution of a [lockFile].
type lockEntry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// parseLock reads the resolve step's output.
func parseLock(dt []byte) ([]Distribution, error) {
	var lf lockFile
	if err := json.Unmarshal(dt, &lf); err != nil {
		return nil, fmt.Errorf("read the resolved requirements: %w", err)
	}
	var out []Distribution
	for _, e := range lf {
		if !requirementLine.MatchString(e.Name + "==" + e.Version) {
			return nil, fmt.Errorf("the resolved requirements name %q at %q, not a distribution and a version", e.Name, e.Version)
		}
		if b, err := hex.DecodeString(e.SHA256); err != nil || len(b) != 32 {
			return nil, fmt.Errorf("the resolved requirements give %s %s the hash %q, not a sha256", e.Name, e.Version, e.SHA256)
		}
		out = append(out, Distribution{Name: e.Name, Version: e.Version, Hashes: []string{e.SHA256}})
	}
	slices.SortFunc(out, func(a, b Distribution) int { return strings.Compare(a.Key(), b.Key()) })
	return out, nil
}
