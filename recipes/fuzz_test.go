package recipes

import (
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

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

// FuzzPEP440 compares two versions as the PEP 440 code reads them: it does
// not panic on any version or specifier; where it tells, its comparisons
// are antisymmetric (a < b exactly when b > a), consistent with one
// another (<= is < or ==, != is not ==, the same for prefixes) and
// reflexive, on two releases. The seeds are in testdata/fuzz/FuzzPEP440.
func FuzzPEP440(f *testing.F) {
	for _, s := range [][2]string{{"1", "1.0"}, {"1.4.5", "1.4.2"}, {"2.3.2", ">=2,<3"}, {"1", "!=1.0.*"}, {"1.0rc1", "1.0"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		satisfies(a, b) // any specifier
		if _, ok := release(a); !ok {
			return
		}
		if _, ok := release(b); !ok {
			return
		}
		sat := func(v, spec string) (bool, bool) {
			ok, told := satisfies(v, spec)
			if !told && ok {
				t.Errorf("satisfies(%q, %q) holds without telling", v, spec)
			}
			return ok, told
		}
		if _, told := sat(a, "=="+a); told {
			if ok, _ := sat(a, "=="+a); !ok {
				t.Errorf("%q is not == itself", a)
			}
		}
		type ops struct{ eq, ne, lt, le, gt, ge bool }
		read := func(v, w string) (ops, bool) {
			var o ops
			var told [6]bool
			o.eq, told[0] = sat(v, "=="+w)
			o.ne, told[1] = sat(v, "!="+w)
			o.lt, told[2] = sat(v, "<"+w)
			o.le, told[3] = sat(v, "<="+w)
			o.gt, told[4] = sat(v, ">"+w)
			o.ge, told[5] = sat(v, ">="+w)
			for _, x := range told {
				if x != told[0] {
					t.Errorf("satisfies(%q, OP %q) tells for some operators and not others: %v", v, w, told)
				}
			}
			return o, told[0]
		}
		ab, told := read(a, b)
		if !told {
			t.Fatalf("satisfies(%q, OP %q) does not tell, for two releases", a, b)
		}
		ba, told := read(b, a)
		if !told {
			t.Fatalf("satisfies(%q, OP %q) tells, satisfies(%q, OP %q) does not", a, b, b, a)
		}
		if ab.eq != ba.eq || ab.lt != ba.gt || ab.gt != ba.lt || ab.le != ba.ge || ab.ge != ba.le {
			t.Errorf("%q vs %q: %+v, but %q vs %q: %+v", a, b, ab, b, a, ba)
		}
		if ab.ne == ab.eq || ab.le != (ab.lt || ab.eq) || ab.ge != (ab.gt || ab.eq) || ab.lt == ab.ge || ab.gt == ab.le {
			t.Errorf("%q vs %q: %+v, not one order", a, b, ab)
		}
		if eq, told := sat(a, "=="+b+".*"); told {
			if ne, _ := sat(a, "!="+b+".*"); ne == eq {
				t.Errorf("satisfies(%q, ==%s.*) = satisfies(%q, !=%s.*) = %v", a, b, a, b, eq)
			}
			if ab.eq && !eq {
				t.Errorf("%q == %q, but not == %s.*", a, b, b)
			}
		}
	})
}
