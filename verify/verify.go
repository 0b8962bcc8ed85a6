package verify

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/imagebuild/imagebuild/sbom"
)

// Check results.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// Result is one check's outcome and the evidence for it.
type Result struct {
	Check    string   `json:"check"`
	Status   string   `json:"status"`
	Evidence []string `json:"evidence"`
}

// Report is every check's result.
type Report struct {
	// Platform is the image's platform (linux/amd64), as its config says.
	Platform string   `json:"platform,omitempty"`
	Results  []Result `json:"results"`
}

// Passed reports whether no check failed.
func (r *Report) Passed() bool {
	for _, res := range r.Results {
		if res.Status == Fail {
			return false
		}
	}
	return true
}

// Failures lists the names of the checks that failed.
func (r *Report) Failures() []string {
	var out []string
	for _, res := range r.Results {
		if res.Status == Fail {
			out = append(out, res.Check)
		}
	}
	return out
}

// WriteText writes the report for people, a check a line, evidence below.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, res := range r.Results {
		fmt.Fprintf(&b, "%-4s %s\n", res.Status, res.Check)
		for _, e := range res.Evidence {
			fmt.Fprintf(&b, "       %s\n", e)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Options say where the image keeps its code.
type Options struct {
	// Dirs are the directories whose ELF files must find their libraries
	// and which must belong to the runtime user. Default: /opt/venv and
	// the config's working directory (else /app).
	Dirs []string
	// Keychain gives registry credentials for the base check; default
	// Docker's config.
	Keychain authn.Keychain
	// SBOM is the SPDX document attached to the image, checked against
	// it; nil skips that check (see [PlatformImage]).
	SBOM []byte
}

// Image runs every check on img.
func Image(ctx context.Context, img v1.Image, opt Options) (*Report, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	dirs := opt.Dirs
	if len(dirs) == 0 {
		app := cf.Config.WorkingDir
		if app == "" || app == "/" {
			app = "/app"
		}
		dirs = []string{"/opt/venv", path.Clean(app)}
	}
	// The SBOM is read first: the files it lists are hashed as the
	// layers stream by.
	var listing *sbom.Listing
	var sbomErr error
	s := &scanner{roots: dirs, content: map[string]bool{}, hash: map[string]bool{}}
	if opt.SBOM != nil {
		if listing, sbomErr = sbom.Read(opt.SBOM); sbomErr == nil {
			for p := range listing.Files {
				s.hash[p] = true
			}
		}
	}
	pipConfig := pipConfigFile(cf.Config.Env, cf.Config.WorkingDir)
	if pipConfig != "" {
		s.content[pipConfig] = true
	}
	fs, err := s.scan(img)
	if err != nil {
		return nil, err
	}
	users := parsePasswd(fs["/etc/passwd"])
	uid, user, userRes := checkNonRoot(cf.Config.User, users)
	platform := cf.OS + "/" + cf.Architecture
	if cf.Variant != "" {
		platform += "/" + cf.Variant
	}
	r := &Report{Platform: platform, Results: []Result{
		userRes,
		checkUserShape(fs, user, uid, users),
		checkToolchains(fs),
		checkLibraries(fs, dirs, cf.Config.Env),
		checkOwnership(fs, dirs, uid),
		checkBase(ctx, img, cf, opt.Keychain),
		checkLeftovers(fs, cf.Config.Env, pipConfig),
		checkVenvLayers(img, cf, "/opt/venv", uid),
		checkSBOM(img, fs, opt.SBOM, listing, sbomErr),
		checkPythonABI(fs, "/opt/venv"),
	}}
	return r, nil
}

type account struct {
	name  string
	uid   int
	home  string
	shell string
}

func parsePasswd(n *node) []account {
	if n == nil {
		return nil
	}
	var out []account
	for line := range strings.SplitSeq(string(n.data), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		out = append(out, account{name: f[0], uid: uid, home: f[5], shell: f[6]})
	}
	return out
}

// checkNonRoot resolves the config's user to a UID other than 0; it
// returns the UID (-1 when unknown) and the account when it has one.
func checkNonRoot(user string, users []account) (int, *account, Result) {
	res := Result{Check: "non-root user"}
	u, _, _ := strings.Cut(user, ":")
	if u == "" {
		res.Status = Fail
		res.Evidence = []string{"the config sets no User: the container runs as root"}
		return 0, nil, res
	}
	var acct *account
	uid, err := strconv.Atoi(u)
	if err == nil {
		for i := range users {
			if users[i].uid == uid {
				acct = &users[i]
				break
			}
		}
	} else {
		for i := range users {
			if users[i].name == u {
				acct = &users[i]
			}
		}
		if acct == nil {
			res.Status = Fail
			res.Evidence = []string{fmt.Sprintf("User %q is not in the image's /etc/passwd: it cannot be resolved", user)}
			return -1, nil, res
		}
		uid = acct.uid
	}
	if uid == 0 {
		res.Status = Fail
		res.Evidence = []string{fmt.Sprintf("User %q is UID 0", user)}
		return 0, acct, res
	}
	res.Status = Pass
	res.Evidence = []string{fmt.Sprintf("User %q is UID %d", user, uid)}
	return uid, acct, res
}

var nologinShells = []string{"/sbin/nologin", "/usr/sbin/nologin", "/bin/false", "/usr/bin/false"}

func checkUserShape(fs fsys, acct *account, uid int, users []account) Result {
	res := Result{Check: "user has no home and no login shell"}
	if uid == 0 {
		res.Status = Skip
		res.Evidence = []string{"the image runs as root"}
		return res
	}
	if acct == nil {
		if uid > 0 {
			res.Status = Pass
			res.Evidence = []string{fmt.Sprintf("UID %d has no /etc/passwd entry: no home, no shell", uid)}
		} else {
			res.Status = Skip
			res.Evidence = []string{"no non-root account to look at"}
		}
		return res
	}
	res.Status = Pass
	_, n, err := fs.resolve(acct.home)
	switch {
	case err != nil:
		res.Status = Fail
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s's home %v", acct.name, err))
	case n != nil && acct.home != "/" && n.typ == tar.TypeDir:
		res.Status = Fail
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s's home %s exists in the image", acct.name, acct.home))
	default:
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s's home %s does not exist", acct.name, acct.home))
	}
	if !slices.Contains(nologinShells, acct.shell) {
		res.Status = Fail
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s's shell is %s, not a nologin shell", acct.name, acct.shell))
	} else {
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s's shell is %s", acct.name, acct.shell))
	}
	return res
}

// toolchain are the basenames of compilers, linkers and build tools.
var toolchain = []string{
	"gcc", "g++", "c++", "cc", "cc1", "cc1plus", "cc1obj", "collect2", "lto1", "f951", "gfortran",
	"clang", "clang++", "tcc", "ld", "ld.bfd", "ld.gold", "ld.lld", "as", "make", "gmake", "cmake", "ninja",
}

func checkToolchains(fs fsys) Result {
	res := Result{Check: "no compilers or toolchains"}
	var found []string
	for _, p := range slices.Sorted(maps.Keys(fs)) {
		n := fs[p]
		base := path.Base(p)
		if (n.typ == tar.TypeReg || n.typ == tar.TypeSymlink) && matchTool(base) {
			if n.typ == tar.TypeReg && n.mode&0o111 == 0 {
				continue
			}
			found = append(found, p)
		}
		if (base == "stdio.h" || base == "stdlib.h") && n.typ == tar.TypeReg {
			found = append(found, path.Dir(p)+"/ (C headers tree)")
		}
	}
	return res.findings(found, "no compiler, linker, assembler, make or C headers found")
}

// findings fails the check with what was found, or passes it with none.
func (res Result) findings(found []string, none string) Result {
	if len(found) > 0 {
		res.Status = Fail
		res.Evidence = found
		return res
	}
	res.Status = Pass
	res.Evidence = []string{none}
	return res
}

// matchTool matches toolchain names, also with a target prefix or version
// suffix: x86_64-linux-gnu-gcc, gcc-12.
func matchTool(base string) bool {
	for _, t := range toolchain {
		if base == t || strings.HasSuffix(base, "-"+t) {
			return true
		}
		if v, ok := strings.CutPrefix(base, t+"-"); ok && v != "" && strings.Trim(v, "0123456789.") == "" {
			return true
		}
	}
	return false
}

func checkOwnership(fs fsys, dirs []string, uid int) Result {
	res := Result{Check: "venv and app owned by the runtime user"}
	if uid <= 0 {
		res.Status = Skip
		res.Evidence = []string{"no non-root runtime user to own them"}
		return res
	}
	res.Status = Pass
	for _, d := range dirs {
		if _, ok := fs[d]; !ok {
			// What is not there is not owned: an image without its venv
			// or app is not the image the checks are for.
			res.Status = Fail
			res.Evidence = append(res.Evidence, d+" is not in the image")
			continue
		}
		var wrong []string
		n := 0
		for p, node := range fs {
			if p != d && !strings.HasPrefix(p, d+"/") {
				continue
			}
			n++
			if node.uid != uid {
				wrong = append(wrong, fmt.Sprintf("%s owned by %d:%d", p, node.uid, node.gid))
			}
		}
		if len(wrong) > 0 {
			res.Status = Fail
			slices.Sort(wrong)
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %d of %d entries not owned by UID %d, e.g. %s", d, len(wrong), n, uid, strings.Join(wrong[:min(3, len(wrong))], "; ")))
		} else {
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s: all %d entries owned by UID %d", d, n, uid))
		}
	}
	return res
}

// checkBase compares the image's first layers with the base its labels name.
func checkBase(ctx context.Context, img v1.Image, cf *v1.ConfigFile, keychain authn.Keychain) Result {
	res := Result{Check: "base layers first"}
	baseName, baseDigest := cf.Config.Labels[ref.LabelBaseName], cf.Config.Labels[ref.LabelBaseDigest]
	if baseName == "" || baseDigest == "" {
		res.Status = Skip
		res.Evidence = []string{"the image has no base name and digest labels"}
		return res
	}
	baseRef := baseName + "@" + baseDigest
	r, err := ref.Parse(baseRef)
	if err != nil {
		res.Status = Fail
		res.Evidence = []string{fmt.Sprintf("base label %s is not a reference: %v", baseRef, err)}
		return res
	}
	base, err := remote.Image(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(ref.Keychain(keychain)),
		remote.WithPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}))
	if err != nil {
		res.Status = Skip
		res.Evidence = []string{fmt.Sprintf("the base %s cannot be read: %v", baseRef, err)}
		return res
	}
	bcf, err := base.ConfigFile()
	if err != nil {
		res.Status = Skip
		res.Evidence = []string{fmt.Sprintf("the base %s's config cannot be read: %v", baseRef, err)}
		return res
	}
	want, got := bcf.RootFS.DiffIDs, cf.RootFS.DiffIDs
	if len(got) < len(want) || !slices.Equal(want, got[:len(want)]) {
		res.Status = Fail
		res.Evidence = []string{fmt.Sprintf("the first %d layers are not %s's", len(want), baseRef)}
		return res
	}
	res.Status = Pass
	res.Evidence = []string{fmt.Sprintf("the first %d of %d layers are %s's", len(want), len(got), baseRef)}
	return res
}

// cacheDirs hold package managers' downloads and indexes.
var cacheDirs = []string{"/var/cache/apk", "/etc/apk/cache", "/var/cache/imagebuild-apt", "/var/cache/apt/archives", "/var/lib/apt/lists", "/root/.cache/pip", "/var/cache/yum", "/var/cache/dnf"}

// checkLeftovers looks for package managers' caches and for credentials:
// in files (pipConfig is the file PIP_CONFIG_FILE names, if any) and in the
// config's environment env.
func checkLeftovers(fs fsys, env []string, pipConfig string) Result {
	res := Result{Check: "no package-manager caches or credential files"}
	var found []string
	for _, p := range slices.Sorted(maps.Keys(fs)) {
		n := fs[p]
		if n.typ != tar.TypeReg {
			continue
		}
		for _, d := range cacheDirs {
			if strings.HasPrefix(p, d+"/") && path.Base(p) != "lock" && !strings.HasSuffix(p, "/partial") {
				found = append(found, p+" (package-manager cache)")
			}
		}
		if strings.Contains(p, "/.cache/pip/") && !strings.HasPrefix(p, "/root/.cache/pip/") {
			found = append(found, p+" (pip cache)")
		}
		if why := credential(p, n, pipConfig); why != "" {
			found = append(found, p+" ("+why+")")
		}
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		// Any user info in pip's settings is a token or a password; in
		// other variables, a name alone may be no secret.
		if user, pass := urlUserinfo(v); pass || (user && strings.HasPrefix(k, "PIP_")) {
			found = append(found, fmt.Sprintf("the config's Env %s (credentials in a URL)", k))
		}
	}
	return res.findings(found, "no package-manager cache and no credential file found")
}

// pipConfigFile is the file PIP_CONFIG_FILE names in env (relative to the
// working directory dir), or "".
func pipConfigFile(env []string, dir string) string {
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "PIP_CONFIG_FILE=")
		switch {
		case !ok || v == "" || v == "/dev/null":
		case path.IsAbs(v):
			return path.Clean(v)
		default:
			return path.Join("/", dir, v)
		}
	}
	return ""
}

// credential says why the file p, whose content a check reads, holds a
// credential, or "".
func credential(p string, n *node, pipConfig string) string {
	base := path.Base(p)
	text := string(n.data)
	user, pass := urlUserinfo(text)
	pass = pass || strings.Contains(strings.ToLower(text), "password")
	pipConf := base == "pip.conf" || base == "pip.ini" || p == pipConfig
	switch {
	case base == ".netrc":
		return ".netrc"
	case base == ".pypirc" && (user || pass):
		return ".pypirc with credentials"
	case pipConf && pass:
		return "pip config with a password"
	case pipConf && user:
		return "pip config with credentials in a URL"
	case requirementsFile(base) && user:
		return "requirements file with credentials in a URL"
	case strings.Contains(text, "-----BEGIN") && strings.Contains(text, "PRIVATE KEY-----"):
		return "private key"
	}
	return ""
}

// urlUserinfo tells whether text holds a URL with user info
// (https://TOKEN@host, https://user:password@host), and whether that
// user info has a password.
func urlUserinfo(text string) (user, password bool) {
	for rest := text; ; {
		i := strings.Index(rest, "://")
		if i < 0 {
			return user, password
		}
		rest = rest[i+3:]
		authority := rest
		if end := strings.IndexAny(authority, "/?#\"'<> \t\r\n"); end >= 0 {
			authority = authority[:end]
		}
		if at := strings.LastIndex(authority, "@"); at > 0 {
			user = true
			password = password || strings.Contains(authority[:at], ":")
		}
	}
}
