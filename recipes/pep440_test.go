package recipes

import "testing"

// TestSatisfies checks satisfies against what pip's packaging says of each
// version and specifier (SpecifierSet(spec).contains(version,
// prereleases=True)), and that it does not tell where it leaves the
// specifier to pip.
func TestSatisfies(t *testing.T) {
	for _, tt := range []struct {
		version, spec string
		ok, told      bool
	}{
		{"4.0.3", ">=4.0.3", true, true},
		{"4.0.2", ">=4.0.3", false, true},
		{"2.3.2", ">=2,<3", true, true},
		{"3.0", ">=2,<3", false, true},
		{"1.4.5", "~=1.4.2", true, true},
		{"1.5", "~=1.4.2", false, true},
		{"1.5", "~=1.4", true, true},
		{"2.0", "~=1.4", false, true},
		{"1.2.7", "==1.2.*", true, true},
		{"1.3", "==1.2.*", false, true},
		{"1.3", "!=1.2.*", true, true},
		{"1", "!=1.0.*", false, true},
		{"1", "==1.0.*", true, true},
		{"1.0", "==1.0.0.*", true, true},
		{"1.0.1", "==1.0.0.*", false, true},
		{"1.0", "", true, true},
		{"1.0", "!=1.0", false, true},
		// Pre-, post-, dev- and local versions, which the library reads.
		{"1.0rc1", ">=1.0", false, true},
		{"1.0", ">=1.0a1", true, true},
		{"1.0rc1", "<1.0", false, true},
		{"0.9rc1", "<1.0", true, true},
		{"3.0a1", "<3", false, true},
		{"2.9+local", "<3", true, true},
		{"1.0.post1", ">1.0", false, true},
		{"1.0.post1", ">=1.0", true, true},
		{"1.0+local", ">1.0", false, true},
		{"1.0+local", "==1.0", true, true},
		{"1.0", "==1.0+local", false, true},
		{"1.0alpha1", "==1.0a1", true, true},
		{"1.0a2", ">=1.0alpha1,<1.0", false, true},
		{"1.0.post1", "!=1.0.*", false, true},
		{"1.0.dev0", "==1.0.*", true, true},
		{"0.9.post1", "==1.0.*", false, true},
		{"2.0.dev0", "==1.*", false, true},
		{"1.5rc1", "~=1.4", true, true},
		{"1.01", "==1.1.*", true, true},
		// Left to pip.
		{"1.0", "===1.0", false, false},
		{"1.0", "~=1.0rc1", false, false},
		{"1.0", "~=1", false, false},
		{"1!1.0", ">=1.0", false, false},
		{"1.0", "<1!1.0", false, false},
		{"1.0", "==1!1.*", false, false},
		{"1.0", ">=1.0+local", false, false},
		{"1.0", ">=1.0.*", false, false},
		{"1.0", "==1.0rc1.*", false, false},
		{"1.0", ">=1.0 || <2", false, false},
		{"1.0", "1.0", false, false},
		{"1.0", ">=1.0,<<2", false, false},
		{"one", ">=1.0", false, false},
	} {
		ok, told := satisfies(tt.version, tt.spec)
		if ok != tt.ok || told != tt.told {
			t.Errorf("satisfies(%q, %q) = %v, %v; want %v, %v", tt.version, tt.spec, ok, told, tt.ok, tt.told)
		}
	}
}
