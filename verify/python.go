package verify

import (
	"archive/tar"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// pyVersion is a Python version as far as the ABI goes: major, minor, and
// whether it is the free-threaded build ("3.13t"), whose extension modules
// do not load in the other.
type pyVersion struct {
	major, minor int
	threaded     bool
}

func (v pyVersion) String() string {
	s := strconv.Itoa(v.major) + "." + strconv.Itoa(v.minor)
	if v.threaded {
		s += "t"
	}
	return s
}

// parseVersion reads "3.11", "3.11.2" or "3.13t" (what follows the minor
// version, but for a t, is left out).
func parseVersion(s string) (pyVersion, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return pyVersion{}, false
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return pyVersion{major: major, minor: minor, threaded: m[3] == "t"}, true
}

var (
	versionRE = regexp.MustCompile(`^(\d+)\.(\d+)(t?)`)
	// interpreterRE is an interpreter's file name: python3.12, python3.13t.
	interpreterRE = regexp.MustCompile(`^python(\d+\.\d+t?)$`)
	// libPythonRE is libpython's file name: libpython3.12.so.1.0.
	libPythonRE = regexp.MustCompile(`^libpython(\d+\.\d+t?)\.so`)
	// extensionRE is an extension module built for one Python:
	// NAME.cpython-311-x86_64-linux-gnu.so, NAME.cpython-313t-....so.
	extensionRE = regexp.MustCompile(`\.cpython-(\d)(\d+)(t?)[a-z]*-([^.]+)\.so$`)
	// abi3RE is a wheel tag of the stable ABI: cp38-abi3-manylinux_2_17_x86_64.
	abi3RE = regexp.MustCompile(`^cp(\d)(\d+)-abi3-`)
)

// venvClaim is one thing in the venv that says which Python it is for.
type venvClaim struct {
	version pyVersion
	// what names it, relative to the venv, or to its site-packages for
	// an extension module.
	what string
}

// checkPythonABI checks that the venv at venv is built for the Python it
// runs on: the interpreter its bin/python leads to, following links inside
// the image, whose version its file name gives (python3.12), else the
// standard library or libpython beside it. The venv's lib/pythonX.Y
// folder, its pyvenv.cfg's version and each extension module's ABI tag
// (NAME.cpython-XY-PLATFORM.so) must be that version; a stable-ABI module
// (NAME.abi3.so) needs Python 3, and at least the version its wheel's tag
// names (cp38-abi3) where the distribution's WHEEL file tells it; a
// module's platform tag must name the image's C library (linux-gnu for
// glibc, linux-musl for musl).
func checkPythonABI(fs fsys, venv string) Result {
	res := Result{Check: "python abi: the venv is built for its interpreter's Python"}
	link := venv + "/bin/python"
	if _, ok := fs[venv]; !ok {
		res.Status, res.Evidence = Skip, []string{venv + " is not in the image"}
		return res
	}
	if _, ok := fs[link]; !ok {
		res.Status, res.Evidence = Skip, []string{venv + " has no bin/python: not a Python venv"}
		return res
	}
	name := interpreterName(fs, link, venv)
	final, n, err := fs.resolve(link)
	switch {
	case err != nil:
		res.Status, res.Evidence = Fail, []string{fmt.Sprintf("%s's interpreter: %v", venv, err)}
		return res
	case n == nil || n.typ != tar.TypeReg:
		res.Status, res.Evidence = Fail, []string{fmt.Sprintf("%s's interpreter %s is not in the image", venv, name)}
		return res
	}
	runtime, how, ok := interpreterVersion(fs, final)
	if !ok {
		res.Status, res.Evidence = Skip, []string{fmt.Sprintf("%s's interpreter %s (%s): its version cannot be told from its name, its standard library or libpython", venv, name, final)}
		return res
	}
	claims, abi3 := venvClaims(fs, venv)
	musl, glibc := libc(fs)
	byVersion := map[pyVersion][]string{}
	var wrong []string
	for _, c := range claims {
		byVersion[c.version] = append(byVersion[c.version], c.what)
	}
	for _, v := range slices.SortedFunc(maps.Keys(byVersion), func(a, b pyVersion) int { return strings.Compare(a.String(), b.String()) }) {
		if v != runtime {
			wrong = append(wrong, fmt.Sprintf("%s is built for Python %s (%s) but its interpreter %s is Python %s", venv, v, listSome(byVersion[v]), name, runtime))
		}
	}
	modules := 0
	for _, p := range slices.Sorted(maps.Keys(fs)) {
		m := extensionRE.FindStringSubmatch(p)
		if m == nil || !under(p, []string{venv}) {
			continue
		}
		modules++
		platform := m[4]
		if (musl && strings.HasSuffix(platform, "-linux-gnu")) || (glibc && strings.HasSuffix(platform, "-linux-musl")) {
			lib := "glibc"
			if musl {
				lib = "musl"
			}
			wrong = append(wrong, fmt.Sprintf("%s's %s is built for %s but the image's C library is %s", venv, relToSite(p, venv), platform, lib))
		}
	}
	for _, a := range abi3 {
		modules++
		if runtime.major != 3 || (a.version.major == 3 && runtime.minor < a.version.minor) {
			need := "Python 3"
			if a.version.major == 3 {
				need = fmt.Sprintf("Python %d.%d or later", a.version.major, a.version.minor)
			}
			wrong = append(wrong, fmt.Sprintf("%s's %s needs %s but its interpreter %s is Python %s", venv, a.what, need, name, runtime))
		}
	}
	if len(wrong) > 0 {
		res.Status, res.Evidence = Fail, wrong
		return res
	}
	if len(claims) == 0 && len(abi3) == 0 {
		res.Status, res.Evidence = Skip, []string{fmt.Sprintf("%s holds no lib/pythonX.Y, pyvenv.cfg version or extension module to check against its interpreter %s (Python %s)", venv, name, runtime)}
		return res
	}
	res.Status = Pass
	what := append(slices.Clone(byVersion[runtime]), fmt.Sprintf("%d extension modules", modules))
	res.Evidence = []string{fmt.Sprintf("%s is built for Python %s (%s) and its interpreter %s is Python %s (%s)",
		venv, runtime, strings.Join(what, ", "), name, runtime, how)}
	return res
}

// interpreterName names the interpreter the venv's link leads to: the first
// path outside the venv on the way, as the link writes it (/usr/bin/python3),
// else the link itself.
func interpreterName(fs fsys, link, venv string) string {
	p := link
	for range maxLinks {
		n, ok := fs[p]
		if !ok || n.typ != tar.TypeSymlink {
			return p
		}
		next := n.link
		if !path.IsAbs(next) {
			next = path.Join(path.Dir(p), next)
		}
		next = path.Clean(next)
		if !under(next, []string{venv}) {
			return next
		}
		p = next
	}
	return p
}

// interpreterVersion tells the version of the interpreter at final, a
// regular file: from its name (python3.12), else from the one standard
// library (PREFIX/lib/pythonX.Y/os.py) or libpython (libpythonX.Y.so*)
// the image holds beside it. how says which.
func interpreterVersion(fs fsys, final string) (pyVersion, string, bool) {
	if m := interpreterRE.FindStringSubmatch(path.Base(final)); m != nil {
		v, ok := parseVersion(m[1])
		return v, final, ok
	}
	prefix := path.Dir(path.Dir(final))
	found := map[pyVersion]string{}
	for p, n := range fs {
		if n.typ != tar.TypeReg && n.typ != tar.TypeSymlink {
			continue
		}
		if path.Base(p) == "os.py" && path.Dir(path.Dir(p)) == path.Join(prefix, "lib") {
			if m := interpreterRE.FindStringSubmatch(path.Base(path.Dir(p))); m != nil {
				if v, ok := parseVersion(m[1]); ok {
					found[v] = path.Dir(p)
				}
			}
		}
		if m := libPythonRE.FindStringSubmatch(path.Base(p)); m != nil {
			if v, ok := parseVersion(m[1]); ok {
				if _, seen := found[v]; !seen {
					found[v] = p
				}
			}
		}
	}
	if len(found) != 1 {
		return pyVersion{}, "", false
	}
	for v, p := range found {
		return v, "from " + p, true
	}
	return pyVersion{}, "", false
}

// venvClaims lists what in the venv names the Python it is for: its
// lib/pythonX.Y folders, its extension modules' ABI tags and its
// pyvenv.cfg's version; and, apart, its stable-ABI modules, each with the
// least version its wheel's tag names (major 0 where it cannot be told).
func venvClaims(fs fsys, venv string) (claims, abi3 []venvClaim) {
	var records map[string]string // site-packages file -> its .dist-info folder
	for _, p := range slices.Sorted(maps.Keys(fs)) {
		n := fs[p]
		if path.Dir(p) == venv+"/lib" && n.typ == tar.TypeDir {
			if m := interpreterRE.FindStringSubmatch(path.Base(p)); m != nil {
				if v, ok := parseVersion(m[1]); ok {
					claims = append(claims, venvClaim{v, "lib/" + path.Base(p)})
				}
			}
			continue
		}
		if !strings.HasPrefix(p, venv+"/") || (n.typ != tar.TypeReg && n.typ != tar.TypeSymlink) {
			continue
		}
		if m := extensionRE.FindStringSubmatch(p); m != nil {
			if v, ok := parseVersion(m[1] + "." + m[2] + m[3]); ok {
				claims = append(claims, venvClaim{v, relToSite(p, venv)})
			}
			continue
		}
		if strings.HasSuffix(p, ".abi3.so") {
			if records == nil {
				records = recordOwners(fs, venv)
			}
			abi3 = append(abi3, venvClaim{wheelABI3(fs, records[p]), relToSite(p, venv)})
		}
	}
	if c, ok := pyvenvVersion(fs, venv); ok {
		claims = append(claims, c)
	}
	return claims, abi3
}

// pyvenvVersion is the version the venv's pyvenv.cfg gives (version, as
// Python's venv writes it, or version_info, as uv does).
func pyvenvVersion(fs fsys, venv string) (venvClaim, bool) {
	n, ok := fs[venv+"/pyvenv.cfg"]
	if !ok {
		return venvClaim{}, false
	}
	for line := range strings.SplitSeq(string(n.data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || (k != "version" && k != "version_info") {
			continue
		}
		if pv, ok := parseVersion(v); ok {
			return venvClaim{pv, "pyvenv.cfg " + k + " " + v}, true
		}
	}
	return venvClaim{}, false
}

// recordOwners maps each file the RECORD of a distribution in the venv
// lists to that distribution's .dist-info folder.
func recordOwners(fs fsys, venv string) map[string]string {
	out := map[string]string{}
	for p, n := range fs {
		if !strings.HasPrefix(p, venv+"/") || path.Base(p) != "RECORD" || path.Ext(path.Dir(p)) != ".dist-info" {
			continue
		}
		distInfo := path.Dir(p)
		site := path.Dir(distInfo)
		for line := range strings.SplitSeq(string(n.data), "\n") {
			file, _, _ := strings.Cut(line, ",")
			if file = strings.TrimSpace(file); file != "" {
				out[path.Join(site, file)] = distInfo
			}
		}
	}
	return out
}

// wheelABI3 is the least Python version the stable-ABI tags of the WHEEL
// file in distInfo name (cp38-abi3-... is 3.8); the zero version where
// none is known.
func wheelABI3(fs fsys, distInfo string) pyVersion {
	var least pyVersion
	n, ok := fs[distInfo+"/WHEEL"]
	if distInfo == "" || !ok {
		return least
	}
	for line := range strings.SplitSeq(string(n.data), "\n") {
		tag, ok := strings.CutPrefix(strings.TrimSpace(line), "Tag:")
		if !ok {
			continue
		}
		m := abi3RE.FindStringSubmatch(strings.TrimSpace(tag))
		if m == nil {
			continue
		}
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		if least.major == 0 || minor < least.minor {
			least = pyVersion{major: major, minor: minor}
		}
	}
	return least
}

// relToSite names p, a file of the venv, from its site-packages folder
// when it is in one, else from the venv.
func relToSite(p, venv string) string {
	if _, rest, ok := strings.Cut(p, "/site-packages/"); ok {
		return rest
	}
	return strings.TrimPrefix(p, venv+"/")
}

// libc tells whether the image has musl's dynamic loader, or glibc's.
func libc(fs fsys) (musl, glibc bool) {
	for p := range fs {
		b := path.Base(p)
		switch {
		case strings.HasPrefix(b, "ld-musl-"):
			musl = true
		case strings.HasPrefix(b, "ld-linux") && strings.Contains(b, ".so"):
			glibc = true
		}
	}
	return musl && !glibc, glibc && !musl
}

// listSome lists up to three of items, counting the rest.
func listSome(items []string) string {
	if len(items) <= 3 {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:3], ", "), len(items)-3)
}
