package recipes

import (
	"regexp"
	"strconv"
	"strings"
)

// releaseVersion matches a PEP 440 version that is a release alone:
// 1, 1.2, 2.3.2. Anything else (epochs, pre-, post- and dev releases,
// local versions) the checks below leave to pip.
var releaseVersion = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// release parses a release version into its numbers.
func release(v string) ([]int, bool) {
	if !releaseVersion.MatchString(v) {
		return nil, false
	}
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// compareRelease compares two releases as PEP 440 does, a missing number
// being 0.
func compareRelease(a, b []int) int {
	for i := range max(len(a), len(b)) {
		x, y := 0, 0
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// satisfies reports whether version meets the PEP 440 specifier spec
// (">=4.0.3,<5", "" for any) and whether it could tell: only release
// versions and the operators ==, !=, <, <=, >, >= and ~= (with ==X.* and
// !=X.*) are read here; for anything else, in any clause of spec, it cannot
// tell, and the build has pip resolve the file.
func satisfies(version, spec string) (ok, told bool) {
	v, isRelease := release(version)
	if !isRelease {
		return false, false
	}
	var clauses []clause
	for _, text := range strings.Split(spec, ",") {
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		c, ok := readClause(text)
		if !ok {
			return false, false
		}
		clauses = append(clauses, c)
	}
	for _, c := range clauses {
		if !c.holds(v) {
			return false, true
		}
	}
	return true, true
}

// clause is one clause of a specifier: an operator and a release, which
// is a prefix for ==X.* and !=X.*.
type clause struct {
	op     string
	target []int
	prefix bool
}

// readClause reads a clause of a specifier, "" and false for one that
// satisfies does not read.
func readClause(text string) (clause, bool) {
	var op string
	for _, o := range []string{"~=", "==", "!=", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(text, o) {
			op = o
			break
		}
	}
	if op == "" || strings.HasPrefix(text, "===") {
		return clause{}, false
	}
	target := strings.TrimSpace(text[len(op):])
	prefix, wild := strings.CutSuffix(target, ".*")
	if wild {
		if op != "==" && op != "!=" {
			return clause{}, false
		}
		target = prefix
	}
	t, ok := release(target)
	if !ok || (op == "~=" && len(t) < 2) {
		return clause{}, false
	}
	return clause{op: op, target: t, prefix: wild}, true
}

// holds reports whether the release v meets c.
func (c clause) holds(v []int) bool {
	if c.prefix {
		// The version is padded with zeros to the prefix's length, as
		// pip's packaging does: 1 matches 1.0.*.
		match := compareRelease(v[:min(len(v), len(c.target))], c.target) == 0
		return match == (c.op == "==")
	}
	cmp := compareRelease(v, c.target)
	switch c.op {
	case "==":
		return cmp == 0
	case "!=":
		return cmp != 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	default: // ~=
		t := c.target
		return cmp >= 0 && compareRelease(v[:min(len(v), len(t)-1)], t[:len(t)-1]) == 0
	}
}
