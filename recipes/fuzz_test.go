package recipes

import (
	"encoding/hex"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	pep440 "github.com/aquasecurity/go-pep440-version"
	"github.com/google/go-cmp/cmp"
)

// FuzzParseRequirements reads requirements files as an attacker may write
// them: ParseRequirements does not panic; what it takes as locked has
// sha256 hashes alone; no index option it keeps holds user info; and a
// locked file written again line by line from what was read reads the same.
// The seeds are in testdata/fuzz/FuzzParseRequirements.
func FuzzParseRequirements(f *testing.F) {
	a := strings.Repeat("ab", 32)
	for _, s := range []string{
		"hiredis==2.3.2 --hash=sha256:" + a + "\n",
		"--index-url https://pypi.example.com/simple\nflask>=2\n./native\n",
		"smalldep==1.0 --hash=sha256:" + strings.Repeat("0", 64) + "\notherdep==1.0\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, dt []byte) {
		r, err := ParseRequirements(dt)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("an error of more than one line: %q", err)
			}
			return
		}
		for _, o := range r.Options {
			opt, value, _ := strings.Cut(o, " ")
			if u, err := url.Parse(value); (opt == "-i" || opt == "--index-url" || opt == "--extra-index-url" || opt == "-f" || opt == "--find-links") && (err != nil || u.User != nil) {
				t.Errorf("option %q kept: its URL holds user info or is not one", o)
			}
		}
		if !r.Locked {
			return
		}
		if len(r.Pinned) > 0 || r.PinnedOnly {
			t.Errorf("a locked file has Pinned %+v, PinnedOnly %v", r.Pinned, r.PinnedOnly)
		}
		for _, d := range r.Distributions {
			if len(d.Hashes) == 0 {
				t.Errorf("%s %s is locked without a hash", d.Name, d.Version)
			}
			for _, h := range d.Hashes {
				if b, err := hex.DecodeString(h); err != nil || len(b) != 32 || h != strings.ToLower(h) {
					t.Errorf("%s %s is locked with the hash %q, not a sha256 of 64 lower-case hex digits", d.Name, d.Version, h)
				}
			}
		}
		again, err := ParseRequirements([]byte(renderRequirements(r)))
		if err != nil {
			t.Fatalf("the file written again from what was read:\n%s\ndoes not read: %v", renderRequirements(r), err)
		}
		if diff := cmp.Diff(r, again); diff != "" {
			t.Errorf("the file written again from what was read:\n%s\nreads otherwise (-first +again):\n%s", renderRequirements(r), diff)
		}
	})
}

// renderRequirements writes a locked r as a requirements file.
func renderRequirements(r Requirements) string {
	var b strings.Builder
	for _, o := range r.Options {
		b.WriteString(o + "\n")
	}
	for _, p := range r.Projects {
		b.WriteString("./" + p + "\n")
	}
	for _, d := range r.Distributions {
		b.WriteString(d.requirement() + "\n")
	}
	return b.String()
}

// FuzzPEP440 compares two versions as satisfies reads them: it does not
// panic on any version or specifier, and holds only where it tells. Where
// it tells, on any PEP 440 version a: ==a, >=a and <=a hold, !=a, <a and
// >a do not; == and != of the same version or prefix never agree; a version
// equal to b matches the prefix of b's release; ~=b implies >=b. On two
// releases (1, 1.2, 2.3.2) it tells every comparison, and they are
// antisymmetric (a < b exactly when b > a), consistent with one another
// (<= is < or ==) and one order (where their numbers fit in a uint64,
// as the library reads them). The seeds are in
// testdata/fuzz/FuzzPEP440.
func FuzzPEP440(f *testing.F) {
	for _, s := range [][2]string{{"1", "1.0"}, {"1.4.5", "1.4.2"}, {"2.3.2", ">=2,<3"}, {"1", "!=1.0.*"}, {"1.0rc1", "1.0"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		satisfies(a, b) // any specifier
		sat := func(v, spec string) (bool, bool) {
			ok, told := satisfies(v, spec)
			if !told && ok {
				t.Errorf("satisfies(%q, %q) holds without telling", v, spec)
			}
			return ok, told
		}
		for _, v := range []string{a, b} {
			if strings.Contains(v, ",") {
				continue
			}
			for op, want := range map[string]bool{"==": true, ">=": true, "<=": true, "!=": false, "<": false, ">": false} {
				if ok, told := sat(v, op+v); told && ok != want {
					t.Errorf("satisfies(%q, %s%s) = %v", v, op, v, ok)
				}
			}
		}
		if strings.Contains(a+b, ",") {
			return
		}
		for _, w := range []string{b, b + ".*"} {
			eq, told := sat(a, "=="+w)
			if ne, told2 := sat(a, "!="+w); told && told2 && ne == eq {
				t.Errorf("satisfies(%q, ==%s) = satisfies(%q, !=%s) = %v", a, w, a, w, eq)
			}
		}
		if eq, _ := sat(a, "=="+b); eq {
			if base := releaseOf(b); base != "" {
				if in, told := sat(a, "=="+base+".*"); told && !in {
					t.Errorf("%q == %q, but not == %s.*", a, b, base)
				}
			}
		}
		if compatible, _ := sat(a, "~="+b); compatible {
			if ge, _ := sat(a, ">="+b); !ge {
				t.Errorf("%q is ~=%s but not >=%s", a, b, b)
			}
		}
		if !smallRelease(a) || !smallRelease(b) {
			return
		}
		type ops struct{ eq, ne, lt, le, gt, ge bool }
		read := func(v, w string) ops {
			var o ops
			var told [6]bool
			o.eq, told[0] = sat(v, "=="+w)
			o.ne, told[1] = sat(v, "!="+w)
			o.lt, told[2] = sat(v, "<"+w)
			o.le, told[3] = sat(v, "<="+w)
			o.gt, told[4] = sat(v, ">"+w)
			o.ge, told[5] = sat(v, ">="+w)
			for _, x := range told {
				if !x {
					t.Fatalf("satisfies(%q, OP %q) does not tell for some operators, for two releases: %v", v, w, told)
				}
			}
			return o
		}
		ab, ba := read(a, b), read(b, a)
		if ab.eq != ba.eq || ab.lt != ba.gt || ab.gt != ba.lt || ab.le != ba.ge || ab.ge != ba.le {
			t.Errorf("%q vs %q: %+v, but %q vs %q: %+v", a, b, ab, b, a, ba)
		}
		if ab.ne == ab.eq || ab.le != (ab.lt || ab.eq) || ab.ge != (ab.gt || ab.eq) || ab.lt == ab.ge || ab.gt == ab.le {
			t.Errorf("%q vs %q: %+v, not one order", a, b, ab)
		}
		if _, told := sat(a, "=="+b+".*"); !told {
			t.Errorf("satisfies(%q, ==%s.*) does not tell, for two releases", a, b)
		}
	})
}

// releaseVersion matches a PEP 440 version that is a release alone: 1,
// 1.2, 2.3.2.
var releaseVersion = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// smallRelease reports whether v is a release whose numbers are each below
// the largest uint64, which the library reads (and the next of which a
// prefix needs).
func smallRelease(v string) bool {
	if !releaseVersion.MatchString(v) {
		return false
	}
	for _, n := range strings.Split(v, ".") {
		if x, err := strconv.ParseUint(n, 10, 64); err != nil || x == math.MaxUint64 {
			return false
		}
	}
	return true
}

// releaseOf is the epoch and release of the PEP 440 version v (1!2.0 for
// 1!2.0rc1+local), "" for one that is not.
func releaseOf(v string) string {
	p, err := pep440.Parse(v)
	if err != nil {
		return ""
	}
	return p.BaseVersion()
}
