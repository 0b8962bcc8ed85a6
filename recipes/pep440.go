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
// !=X.*) are read here; for anything else it cannot tell, and the build
// has pip resolve the file.
func satisfies(version, spec string) (ok, told bool) {
	v, isRelease := release(version)
	if !isRelease {
		return false, false
	}
	for _, clause := range strings.Split(spec, ",") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		var op string
		for _, o := range []string{"~=", "==", "!=", "<=", ">=", "<", ">"} {
			if strings.HasPrefix(clause, o) {
				op = o
				break
			}
		}
		if op == "" || strings.HasPrefix(clause, "===") {
			return false, false
		}
		target := strings.TrimSpace(clause[len(op):])
		if prefix, wild := strings.CutSuffix(target, ".*"); wild && (op == "==" || op == "!=") {
			p, ok := release(prefix)
			if !ok {
				return false, false
			}
			match := len(v) >= len(p) && compareRelease(v[:len(p)], p) == 0
			if match != (op == "==") {
				return false, true
			}
			continue
		}
		t, ok := release(target)
		if !ok {
			return false, false
		}
		c := compareRelease(v, t)
		var holds bool
		switch op {
		case "==":
			holds = c == 0
		case "!=":
			holds = c != 0
		case "<":
			holds = c < 0
		case "<=":
			holds = c <= 0
		case ">":
			holds = c > 0
		case ">=":
			holds = c >= 0
		case "~=":
			if len(t) < 2 {
				return false, false
			}
			holds = c >= 0 && compareRelease(v[:min(len(v), len(t)-1)], t[:len(t)-1]) == 0
		}
		if !holds {
			return false, true
		}
	}
	return true, true
}
