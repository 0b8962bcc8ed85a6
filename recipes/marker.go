package recipes

import (
	"fmt"
	"slices"
	"strings"
)

// A lock file's markers are read into a disjunctive normal form: a
// [markerDNF] is an "or" of "and"s of comparisons, each comparison kept as
// PEP 508 text with its strings in double quotes. The comparisons on what a
// lock selects (extra, extras, dependency_groups) are decided when the
// marker is read; the rest are left for pip to evaluate on the platform.
// The form is exact (no comparison is dropped but by the absorption law),
// so a simplified marker holds where the lock's does.

// markerDNF is a marker as an "or" of conjunctions, each a sorted set of
// comparisons. No conjunction is the false marker; one empty conjunction is
// the true one.
type markerDNF [][]string

var (
	markerTrue  = markerDNF{{}}
	markerFalse = markerDNF(nil)
)

// isTrue reports whether m always holds.
func (m markerDNF) isTrue() bool {
	return slices.ContainsFunc(m, func(c []string) bool { return len(c) == 0 })
}

// String is m as a PEP 508 marker, "" for the true marker.
func (m markerDNF) String() string {
	if m.isTrue() {
		return ""
	}
	var ors []string
	for _, c := range m {
		s := strings.Join(c, " and ")
		if len(m) > 1 && len(c) > 1 {
			s = "(" + s + ")"
		}
		ors = append(ors, s)
	}
	return strings.Join(ors, " or ")
}

// or is m or n, with the conjunctions that another's comparisons imply
// dropped (absorption: a or (a and b) is a).
func (m markerDNF) or(n markerDNF) markerDNF {
	all := append(slices.Clone(m), n...)
	slices.SortFunc(all, func(a, b []string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return slices.Compare(a, b)
	})
	var out markerDNF
	for _, c := range all {
		if !slices.ContainsFunc(out, func(k []string) bool { return subset(k, c) }) {
			out = append(out, c)
		}
	}
	return out
}

// maxConjunctions bounds a marker's normal form, which an "and" of
// "or"s multiplies out: a marker of more is refused, not computed.
const maxConjunctions = 256

// errMarkerTooLarge is the error of a marker beyond maxConjunctions.
var errMarkerTooLarge = fmt.Errorf("more than %d alternatives once its \"and\"s of \"or\"s are multiplied out, more than imagebuild reads", maxConjunctions)

// and is m and n.
func (m markerDNF) and(n markerDNF) (markerDNF, error) {
	if len(m)*len(n) > maxConjunctions {
		return nil, errMarkerTooLarge
	}
	var out markerDNF
	for _, a := range m {
		for _, b := range n {
			c := append(slices.Clone(a), b...)
			slices.Sort(c)
			out = out.or(markerDNF{slices.Compact(c)})
		}
	}
	return out, nil
}

// subset reports whether every element of a (sorted) is in b (sorted).
func subset(a, b []string) bool {
	for _, s := range a {
		if _, ok := slices.BinarySearch(b, s); !ok {
			return false
		}
	}
	return true
}

// selection is what a lock's markers may ask of the install: the extras
// and dependency groups chosen.
type selection struct {
	extras, groups []string
}

// parseMarker reads a PEP 508 marker ("" is the true marker), deciding its
// comparisons on extra, extras and dependency_groups by sel.
func parseMarker(text string, sel selection) (markerDNF, error) {
	if strings.TrimSpace(text) == "" {
		return markerTrue, nil
	}
	toks, err := markerTokens(text)
	if err != nil {
		return nil, fmt.Errorf("marker %q: %w", text, err)
	}
	p := markerParser{toks: toks, sel: sel}
	m, err := p.or()
	if err == nil && p.i < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.i])
	}
	if err != nil {
		return nil, fmt.Errorf("marker %q: %w", text, err)
	}
	return m, nil
}

type markerParser struct {
	toks []string
	i    int
	sel  selection
}

func (p *markerParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *markerParser) or() (markerDNF, error) {
	m, err := p.and()
	for err == nil && p.peek() == "or" {
		p.i++
		var n markerDNF
		if n, err = p.and(); err == nil {
			if m = m.or(n); len(m) > maxConjunctions {
				err = errMarkerTooLarge
			}
		}
	}
	return m, err
}

func (p *markerParser) and() (markerDNF, error) {
	m, err := p.atom()
	for err == nil && p.peek() == "and" {
		p.i++
		var n markerDNF
		if n, err = p.atom(); err == nil {
			m, err = m.and(n)
		}
	}
	return m, err
}

// markerOps are PEP 508's comparison operators.
var markerOps = []string{"===", "==", "!=", "<=", ">=", "<", ">", "~=", "in", "not in"}

func (p *markerParser) atom() (markerDNF, error) {
	if p.peek() == "(" {
		p.i++
		m, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("want ) at %q", p.peek())
		}
		p.i++
		return m, nil
	}
	if p.i+3 > len(p.toks) {
		return nil, fmt.Errorf("want a comparison at %q", p.peek())
	}
	left, op, right := p.toks[p.i], p.toks[p.i+1], p.toks[p.i+2]
	if !slices.Contains(markerOps, op) || !markerValue(left) || !markerValue(right) {
		return nil, fmt.Errorf("want a comparison at %q", strings.Join(p.toks[p.i:p.i+3], " "))
	}
	p.i += 3
	if held, decided := p.sel.decide(left, op, right); decided {
		if held {
			return markerTrue, nil
		}
		return markerFalse, nil
	}
	return markerDNF{{left + " " + op + " " + right}}, nil
}

// markerValue reports whether tok is a variable or a quoted string.
func markerValue(tok string) bool {
	return strings.HasPrefix(tok, `"`) || markerVariable(tok)
}

func markerVariable(tok string) bool {
	if tok == "" {
		return false
	}
	for _, r := range tok {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return !slices.Contains([]string{"and", "or", "in", "not"}, tok)
}

// decide evaluates a comparison on extra (a requirement's extra, as uv and
// Poetry write them), extras or dependency_groups (PEP 751's), and reports
// whether it did.
func (s selection) decide(left, op, right string) (held, decided bool) {
	unquote := func(v string) (string, bool) {
		if strings.HasPrefix(v, `"`) {
			return normalizeName(v[1 : len(v)-1]), true
		}
		return "", false
	}
	has := func(list []string, name string) bool {
		return slices.ContainsFunc(list, func(x string) bool { return normalizeName(x) == name })
	}
	switch {
	case left == "extra" || right == "extra":
		v, ok := unquote(right)
		if left != "extra" {
			v, ok = unquote(left)
		}
		if !ok || (op != "==" && op != "!=") {
			return false, false
		}
		return has(s.extras, v) == (op == "=="), true
	case right == "extras" || right == "dependency_groups":
		v, ok := unquote(left)
		if !ok || (op != "in" && op != "not in") {
			return false, false
		}
		list := s.extras
		if right == "dependency_groups" {
			list = s.groups
		}
		return has(list, v) == (op == "in"), true
	}
	return false, false
}

// normalizeName is a name as PEP 503 normalizes it.
func normalizeName(name string) string {
	return Distribution{Name: name}.Key()
}

// markerTokens splits a marker into variables, quoted strings (rewritten
// in double quotes), operators and parentheses.
func markerTokens(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			out = append(out, string(c))
			i++
		case c == '"' || c == '\'':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated string at %q", s[i:])
			}
			v := s[i+1 : i+1+j]
			if err := checkMarkerString(v); err != nil {
				return nil, err
			}
			out = append(out, `"`+v+`"`)
			i += j + 2
		case strings.ContainsRune("=!<>~", rune(c)):
			j := i
			for j < len(s) && strings.ContainsRune("=!<>~", rune(s[j])) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t()\"'=!<>~", rune(s[j])) {
				j++
			}
			word := s[i:j]
			if word == "not" {
				k := j
				for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
					k++
				}
				if strings.HasPrefix(s[k:], "in") && (k+2 == len(s) || strings.ContainsRune(" \t\"'(", rune(s[k+2]))) {
					word, j = "not in", k+2
				}
			}
			out = append(out, word)
			i = j
		}
	}
	return out, nil
}

// checkMarkerString refuses a marker's string that pip, reading the
// requirement line the marker ends up on, would not take as a string alone:
// one holding a quote, a backslash, a "#" (a comment), a character that is
// not printable ASCII (a line break) or a "-" after white space (an
// option).
func checkMarkerString(v string) error {
	for i, r := range v {
		if r < 0x20 || r > 0x7e || strings.ContainsRune(`"'\#`, r) || (r == '-' && i > 0 && (v[i-1] == ' ' || v[i-1] == '\t')) {
			return fmt.Errorf("the string %q: a marker's strings are printable ASCII without quotes, backslashes, \"#\" or \" -\"", v)
		}
	}
	return nil
}
