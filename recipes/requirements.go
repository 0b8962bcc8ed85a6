package recipes

import (
	"encoding/hex"
	"encoding/json"
	"errors"
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
	// (name==version), without hashes (a file with any is locked or an
	// error, but for one that names a distribution twice, which pip
	// resolves, checking the hashes): the build fetches and builds each
	// while it resolves the file, checking the hashes it has.
	Pinned []Distribution
	// PinnedOnly is set, when not Locked, for a file that pins every
	// requirement to one version without extras (as pip freeze writes
	// it), names no other file and no local project: its pins are its
	// whole set when their dependencies are among them, which the build
	// checks before it resolves the file (see [graph.Expansion.Later]).
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
// version (of the characters a PEP 440 version is written in), and an
// environment marker after ";".
var requirementLine = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*===?\s*([A-Za-z0-9][A-Za-z0-9._+!-]*)\s*(?:;\s*(.*))?$`)

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
// requirements, each with its hashes, and local projects (./PATH) is
// Locked; any other (a name without a version, a range, a requirement
// without hashes, an included file, an editable or a direct reference) is
// to be resolved by pip in the build.
//
// A --hash on any line (or --require-hashes) has pip check every
// requirement's hashes, and so does imagebuild: such a file must be locked
// whole, each requirement pinned with == (or ===) and hashed, besides local
// projects, which the build makes from the context; anything else is an
// error naming the lines that are not, as is a --hash that is not
// sha256:<64 hex digits>. An index option whose URL holds user info (a
// password or a token) is an error too: the options reach the build graph,
// and a private index's credentials belong in pip's config file, the
// pipconf secret.
func ParseRequirements(dt []byte) (Requirements, error) {
	var r Requirements
	locked, pinnedOnly := true, true
	// hashMode names what turned pip's hash-checking mode on, "" while
	// nothing has; unchecked are the lines it cannot check.
	var hashMode string
	var unchecked []string
	for _, line := range logicalLines(string(dt)) {
		fields := strings.Fields(line.text)
		if len(fields) == 0 {
			continue
		}
		if hashMode == "" {
			for _, f := range fields {
				if strings.HasPrefix(f, "--hash") {
					hashMode = fmt.Sprintf("line %d gives a --hash", line.number)
					break
				}
				if f == "--require-hashes" {
					hashMode = fmt.Sprintf("line %d gives --require-hashes", line.number)
					break
				}
			}
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
			if opt == "--require-hashes" && !hasValue && len(fields) == 1 {
				continue // hash-checking mode, which a locked file is in anyway
			}
			if !slices.Contains(globalOptions, opt) {
				locked, pinnedOnly = false, false // -r, -c, -e and the like: pip resolves them
				unchecked = append(unchecked, fmt.Sprintf("line %d (%s)", line.number, strings.Join(fields, " ")))
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
				if strings.HasPrefix(value, "#") {
					// Each pip step is given "OPTION VALUE", where pip reads it as a comment.
					return r, fmt.Errorf("line %d: %s=%s: a value that starts with # is not one", line.number, opt, value)
				}
				if slices.Contains(urlOptions, opt) {
					if err := checkIndexURL(value); err != nil {
						return r, fmt.Errorf("line %d: %s %w", line.number, opt, err)
					}
				}
				words = append(words, value)
			}
			r.Options = append(r.Options, strings.Join(words, " "))
			continue
		}
		spec, hashes, err := cutHashes(line.text)
		if err != nil {
			return r, fmt.Errorf("line %d: %w", line.number, err)
		}
		d, ok := parsePinned(spec, hashes)
		if !ok {
			locked = false
			shown := strings.Join(strings.Fields(spec), " ")
			if shown == "" {
				shown = "--hash without a requirement"
			}
			unchecked = append(unchecked, fmt.Sprintf("line %d (%s)", line.number, shown))
			m := requirementLine.FindStringSubmatch(strings.TrimSpace(spec))
			if m == nil {
				pinnedOnly = false
				continue
			}
			d = Distribution{Name: m[1], Version: m[3], Hashes: hashes, Marker: strings.TrimSpace(m[4])}
			r.Pinned = append(r.Pinned, d)
		} else {
			r.Distributions = append(r.Distributions, d)
		}
		if m := requirementLine.FindStringSubmatch(strings.TrimSpace(spec)); m == nil || m[2] != "" {
			pinnedOnly = false // extras bring more dependencies
		}
	}
	if hashMode != "" && len(unchecked) > 0 {
		verb := "is"
		if len(unchecked) > 1 {
			verb = "are"
		}
		return r, fmt.Errorf("%s, which has pip check every requirement's hashes: %s %s not pinned with == and hashed; hash every requirement (pip-compile --generate-hashes writes them; a local project ./PATH needs none) or none",
			hashMode, strings.Join(unchecked, ", "), verb)
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

// urlOptions are the global options whose value is a URL (or, for
// --find-links, a path).
var urlOptions = []string{"-i", "--index-url", "--extra-index-url", "-f", "--find-links"}

// checkIndexURL refuses an index option's value that holds user info, a
// password or a token alone, or that is not a URL or path: the error, to
// follow the option's name, shows no part of the user info but the name
// of a user with a password.
func checkIndexURL(value string) error {
	const fix = "give a private index in pip's config file as the " + PipConfSecret + " secret, which no step's command line, layer or cache holds"
	u, err := url.Parse(value)
	if err != nil {
		return fmt.Errorf("value is not a URL (not shown: it may hold a token): %s", fix)
	}
	if u.User == nil {
		return nil
	}
	if pass, ok := u.User.Password(); ok && pass != "" && u.User.Username() != "" {
		return fmt.Errorf("%s holds a password: %s", u.Redacted(), fix)
	}
	u.User = url.User("xxxxx")
	return fmt.Errorf("%s holds user info (a token): %s", u.String(), fix)
}

// cutHashes takes the --hash options out of a requirement line and returns
// the rest and the hashes (hex, lower case). A hash that is not
// sha256:<64 hex digits> is an error.
func cutHashes(text string) (string, []string, error) {
	spec, hashes := text, []string(nil)
	for {
		i := strings.Index(spec, "--hash")
		if i < 0 {
			return spec, hashes, nil
		}
		rest := strings.TrimLeft(spec[i+len("--hash"):], "= \t")
		value := rest
		if j := strings.IndexAny(rest, " \t"); j >= 0 {
			value = rest[:j]
		}
		algo, sum, ok := strings.Cut(value, ":")
		if b, err := hex.DecodeString(sum); !ok || algo != "sha256" || err != nil || len(b) != 32 {
			if value == "" {
				return "", nil, errors.New("--hash without a value: want --hash=sha256:<64 hex digits>")
			}
			return "", nil, fmt.Errorf("--hash=%s is not sha256:<64 hex digits>, the hashes imagebuild checks (pip-compile --generate-hashes writes them)", value)
		}
		hashes = append(hashes, strings.ToLower(sum))
		spec = spec[:i] + " " + rest[len(value):]
	}
}

// parsePinned parses a requirement, spec, pinned to a version, with its
// hashes: false where spec is not pinned or hashes is empty.
func parsePinned(spec string, hashes []string) (Distribution, bool) {
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
