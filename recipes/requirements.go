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
	// WheelsOnly is set where every file Hashes names is a wheel (a lock
	// file lists them by name): the distribution is never compiled.
	WheelsOnly bool
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

// pinnedText is a requirement pinned to one version: a name, extras, ==
// or === and a version (of the characters a PEP 440 version is written
// in), and an environment marker after ";".
var pinnedText = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(===?)\s*([A-Za-z0-9][A-Za-z0-9._+!-]*)\s*(?:;\s*(.*))?$`)

// globalOptions are the requirements-file options that apply to the whole
// file and that imagebuild passes to every pip step; the value of each in
// withValue is the next field when not written with "=".
var (
	globalOptions = []string{"-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links",
		"--trusted-host", "--pre", "--prefer-binary", "--only-binary", "--no-binary"}
	withValue = []string{"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host",
		"--only-binary", "--no-binary"}
)

// requirementLine is one logical line of a requirements file, read once:
// exactly one of its kinds (a local project, a global option, an option
// pip resolves, a requirement) is set, none for a blank line.
type requirementLine struct {
	// number is the line's number in the file (its first, when continued).
	number int
	// hashMode names what on the line turns pip's hash-checking mode on
	// ("a --hash", "--require-hashes"), "" for nothing.
	hashMode string
	// project is a local project's folder, cleaned.
	project string
	// option is a global option and its value, as every pip step is
	// given it ("--index-url URL", "--pre").
	option string
	// other is an option pip resolves (-r FILE, -c FILE, -e ...), its
	// fields joined by one space.
	other string
	// requirement is a requirement, pinned or not.
	requirement *requirement
}

// requirement is a requirement line other than an option or a local
// project, its --hash options cut out.
type requirement struct {
	// spec is the line without its hashes, its fields joined by one
	// space.
	spec string
	// hashes are its sha256 hashes (hex, lower case).
	hashes []string
	// name, extras ("[a,b]", "" for none), op (== or ===), version and
	// marker are set when it pins one version ("" name otherwise).
	name, extras, op, version, marker string
}

// pinned is r as a distribution, false where r does not pin one version.
func (r *requirement) pinned() (Distribution, bool) {
	if r.name == "" {
		return Distribution{}, false
	}
	return Distribution{Name: r.name, Version: r.version, Hashes: r.hashes, Marker: r.marker}, true
}

// readRequirementLine reads one logical line.
func readRequirementLine(line logicalLine) (requirementLine, error) {
	l := requirementLine{number: line.number}
	fields := strings.Fields(line.text)
	if len(fields) == 0 {
		return l, nil
	}
	for _, f := range fields {
		if strings.HasPrefix(f, "--hash") {
			l.hashMode = "a --hash"
			break
		}
		if f == "--require-hashes" {
			l.hashMode = "--require-hashes"
			break
		}
	}
	switch {
	case strings.HasPrefix(fields[0], "./") || strings.HasPrefix(fields[0], "../"):
		dir := path.Clean(fields[0])
		if len(fields) > 1 || dir == "." || strings.HasPrefix(dir, "../") || dir == ".." {
			return l, fmt.Errorf("line %d: %s: a local project is a folder under the requirements file's, written alone as ./PATH", line.number, line.text)
		}
		l.project = dir
	case strings.HasPrefix(fields[0], "-") && !strings.HasPrefix(fields[0], "--hash"):
		opt, value, hasValue := strings.Cut(fields[0], "=")
		if opt == "--require-hashes" && !hasValue && len(fields) == 1 {
			return l, nil // hash-checking mode, which a locked file is in anyway
		}
		if !slices.Contains(globalOptions, opt) {
			l.other = strings.Join(fields, " ")
			return l, nil
		}
		words := []string{opt}
		if slices.Contains(withValue, opt) {
			if !hasValue && len(fields) > 1 {
				value = fields[1]
			}
			if value == "" { // --index-url alone, or --index-url=
				return l, fmt.Errorf("line %d: %s needs a value", line.number, opt)
			}
			if strings.HasPrefix(value, "#") {
				// Each pip step is given "OPTION VALUE", where pip reads it as a comment.
				return l, fmt.Errorf("line %d: %s=%s: a value that starts with # is not one", line.number, opt, value)
			}
			if slices.Contains(urlOptions, opt) {
				if err := checkIndexURL(value); err != nil {
					return l, fmt.Errorf("line %d: %s %w", line.number, opt, err)
				}
			}
			words = append(words, value)
		}
		l.option = strings.Join(words, " ")
	default:
		spec, hashes, err := cutHashes(line.text)
		if err != nil {
			return l, fmt.Errorf("line %d: %w", line.number, err)
		}
		r := &requirement{spec: strings.Join(strings.Fields(spec), " "), hashes: hashes}
		if m := pinnedText.FindStringSubmatch(strings.TrimSpace(spec)); m != nil {
			r.name, r.extras, r.op, r.version, r.marker = m[1], m[2], m[3], m[4], strings.TrimSpace(m[5])
		}
		l.requirement = r
	}
	return l, nil
}

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
	for _, text := range logicalLines(string(dt)) {
		line, err := readRequirementLine(text)
		if err != nil {
			return r, err
		}
		if hashMode == "" && line.hashMode != "" {
			hashMode = fmt.Sprintf("line %d gives %s", line.number, line.hashMode)
		}
		switch {
		case line.project != "":
			if !slices.Contains(r.Projects, line.project) {
				r.Projects = append(r.Projects, line.project)
			}
			pinnedOnly = false
		case line.option != "":
			r.Options = append(r.Options, line.option)
		case line.other != "":
			locked, pinnedOnly = false, false // -r, -c, -e and the like: pip resolves them
			unchecked = append(unchecked, fmt.Sprintf("line %d (%s)", line.number, line.other))
		case line.requirement != nil:
			req := line.requirement
			d, pinned := req.pinned()
			switch {
			case pinned && len(req.hashes) > 0:
				r.Distributions = append(r.Distributions, d)
			case pinned:
				locked = false
				unchecked = append(unchecked, fmt.Sprintf("line %d (%s)", line.number, req.spec))
				r.Pinned = append(r.Pinned, d)
			default:
				locked, pinnedOnly = false, false
				shown := req.spec
				if shown == "" {
					shown = "--hash without a requirement"
				}
				unchecked = append(unchecked, fmt.Sprintf("line %d (%s)", line.number, shown))
			}
			if req.extras != "" {
				pinnedOnly = false // extras bring more dependencies
			}
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
		if !pinnedText.MatchString(e.Name + "==" + e.Version) {
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
