package recipes

import (
	"regexp"
	"strconv"
	"strings"

	pep440 "github.com/aquasecurity/go-pep440-version"
)

// satisfies reports whether version meets the PEP 440 specifier spec
// (">=4.0.3,<5", "" for any) as pip's packaging tells it, pre-releases
// allowed (as pip checks a pinned requirement), and whether it could tell:
// for a version that is not PEP 440, one with an epoch (N!), or a clause
// of spec that is not one PEP 440 writes with ~=, ==, !=, <=, >=, < or >
// (=== is left out), or a ~= of more than a release (~=1.0rc1), it cannot
// tell, and the build has pip resolve the file: packaging's releases read
// epochs in prefixes and such ~= clauses each their own way.
//
// Versions are parsed and ordered by go-pep440-version. Its own reading of
// a specifier is not used as it is: it splits a version spelled with a
// long pre-release name (1.0alpha1) into several clauses, and its prefix
// matching pads the wrong side (1 would not match ==1.0.*), so each clause
// is read here, its version written back in canonical form, and ==X.* and
// ~= are turned into the ordered comparisons PEP 440 defines them by.
func satisfies(version, spec string) (ok, told bool) {
	v, err := pep440.Parse(version)
	if err != nil || strings.Contains(version, "!") {
		return false, false
	}
	var clauses []func(pep440.Version) bool
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
	for _, holds := range clauses {
		if !holds(v) {
			return false, true
		}
	}
	return true, true
}

// clauseText is one clause of a specifier as PEP 440 writes it, but for
// ===: an operator, then a version (checked by the parser) or, after == and
// !=, a prefix: an epoch and a release followed by ".*".
var clauseText = regexp.MustCompile(`^(~=|==|!=|<=|>=|<|>)\s*(\S+)$`)

// prefixText is the version of a prefix clause (==X.*, !=X.*), the ".*"
// cut: its release, and the release's last number.
var prefixText = regexp.MustCompile(`^[vV]?((?:[0-9]+\.)*)([0-9]+)$`)

// readClause reads a clause of a specifier into what it checks, false for
// one satisfies does not read.
func readClause(text string) (func(pep440.Version) bool, bool) {
	m := clauseText.FindStringSubmatch(text)
	if m == nil || strings.HasPrefix(text, "===") || strings.Contains(m[2], "!") {
		return nil, false
	}
	op, target := m[1], m[2]
	if prefix, wild := strings.CutSuffix(target, ".*"); wild {
		if op != "==" && op != "!=" {
			return nil, false
		}
		in, ok := prefixMatch(prefix)
		if !ok {
			return nil, false
		}
		if op == "!=" {
			return func(v pep440.Version) bool { return !in(v) }, true
		}
		return in, true
	}
	t, err := pep440.Parse(target)
	if err != nil {
		return nil, false
	}
	// The canonical form (1.0a1 for 1.0alpha1, 1.0.post1 for 1.0-1) is one
	// the library's specifier reads as one clause.
	check, ok := ordered(op, t.String())
	if !ok {
		return nil, false
	}
	if op != "~=" {
		return check, true
	}
	// ~=V.N is >=V.N together with ==V.*: the release without its last
	// number.
	base := t.BaseVersion()
	cut := strings.LastIndex(base, ".")
	if cut < 0 || t.String() != base {
		return nil, false // a release of one number, which ~= does not take, or more than a release
	}
	in, ok := prefixMatch(base[:cut])
	if !ok {
		return nil, false
	}
	return func(v pep440.Version) bool { return check(v) && in(v) }, true
}

// ordered is the clause op version (~= read as >=) as the library checks
// it, false where the library does not take it (a local version after an
// ordered comparison, say).
func ordered(op, version string) (func(pep440.Version) bool, bool) {
	if op == "~=" {
		op = ">="
	}
	s, err := pep440.NewSpecifiers(op + version)
	if err != nil {
		return nil, false
	}
	return s.Check, true
}

// prefixMatch is the check of ==prefix.* (prefix a release): a version
// matches when its release, padded with zeros, starts with prefix's, which
// is exactly
// >=prefix.dev0,<next.dev0 with next the prefix with its last number one
// more (PEP 440's dev0 of a release comes before its pre-releases, and
// after every release before it).
func prefixMatch(prefix string) (func(pep440.Version) bool, bool) {
	m := prefixText.FindStringSubmatch(prefix)
	if m == nil {
		return nil, false
	}
	last, err := strconv.ParseUint(m[2], 10, 64)
	if err != nil || last == ^uint64(0) {
		return nil, false
	}
	next := m[1] + strconv.FormatUint(last+1, 10)
	from, ok := ordered(">=", strings.TrimLeft(prefix, "vV")+".dev0")
	if !ok {
		return nil, false
	}
	below, ok := ordered("<", next+".dev0")
	if !ok {
		return nil, false
	}
	return func(v pep440.Version) bool { return from(v) && below(v) }, true
}
