package sbom

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/github/go-spdx/v2/spdxexp"
)

// Package types, as package URLs name them.
const (
	Deb  = "deb"  // a Debian package, from dpkg's database
	Apk  = "apk"  // an Alpine package, from apk's database
	PyPI = "pypi" // a Python distribution, from its .dist-info folder
)

// Inventory is what an image's root filesystem holds, as [Catalog] finds it.
type Inventory struct {
	// OS is the operating system os-release names; zero when the image
	// has no os-release.
	OS OS
	// Packages are sorted by Type, Name and Version (then Arch and Files,
	// so that the order is total).
	Packages []Package
}

// OS is an image's operating system, from os-release.
type OS struct {
	// ID is os-release's ID, such as debian or alpine.
	ID string
	// VersionID is os-release's VERSION_ID, such as 12 or 3.20.3.
	VersionID string
	// Name is os-release's PRETTY_NAME, such as "Debian GNU/Linux 12 (bookworm)".
	Name string
}

// Package is one installed package.
type Package struct {
	// Type is the package URL type: [Deb], [Apk] or [PyPI].
	Type string
	// Name is the package's name as its database writes it (a Python
	// distribution's as its METADATA does, not normalised).
	Name string
	// Version is the package's version as its database writes it (a
	// Debian version with its epoch, such as 1:2.3-4).
	Version string
	// Arch is the package's architecture (amd64, x86_64, all, noarch);
	// empty for Python distributions.
	Arch string
	// License is the declared license as a valid SPDX license expression,
	// normalised; empty when none is known as one (dpkg keeps none).
	License string
	// SourceName is the source package it was built from, when that
	// differs from the package (dpkg's Source field, apk's origin).
	SourceName string
	// SourceVersion is the source package's version, when it differs
	// from Version (dpkg's Source: NAME (VERSION)).
	SourceVersion string
	// Files are the absolute paths of a Python distribution's files, as
	// its RECORD lists them, sorted; files RECORD lists that are outside
	// the filesystem or missing are left out.
	Files []string
}

// String is the package as [Diff] reports it: "pypi asyncpg 0.30.0".
func (p Package) String() string {
	return p.Type + " " + p.Name + " " + p.Version
}

// Where Catalog looks.
const (
	osRelease    = "etc/os-release"
	osReleaseLib = "usr/lib/os-release"
	dpkgStatus   = "var/lib/dpkg/status"
	dpkgStatusD  = "var/lib/dpkg/status.d" // distroless images: a file per package
	apkInstalled = "lib/apk/db/installed"
	apkUsr       = "usr/lib/apk/db/installed" // where newer apk keeps it
)

// sitePackages are the folders whose *.dist-info folders Catalog reads, as
// fs.Glob patterns.
var sitePackages = []string{
	"opt/venv/lib/python3*/site-packages",
	"usr/local/lib/python3*/site-packages",
	"usr/lib/python3*/site-packages",
	"usr/lib/python3/dist-packages",
}

// Catalog lists what is installed in fsys, an image's root filesystem
// (io/fs paths: no leading slash):
//
//   - the OS, from etc/os-release (else usr/lib/os-release): ID,
//     VERSION_ID and PRETTY_NAME;
//   - Debian packages from dpkg's database, var/lib/dpkg/status, and the
//     files in var/lib/dpkg/status.d that distroless images have instead:
//     the installed ones only (Status "install ok installed", or "hold ok
//     installed"; an entry in status.d without Status counts as installed,
//     as distroless writes them), with their source package;
//   - Alpine packages from apk's database, lib/apk/db/installed (else
//     usr/lib/apk/db/installed): name, version, architecture, license and
//     origin;
//   - Python distributions: every *.dist-info folder in
//     opt/venv/lib/python3*/site-packages,
//     usr/local/lib/python3*/site-packages, usr/lib/python3*/site-packages
//     and usr/lib/python3/dist-packages, with its license
//     (License-Expression, else a License field that is a valid SPDX
//     expression, else none) and the files its RECORD lists.
//
// It reads those files only ([Reads] tells which), and stats the files a
// RECORD lists to leave out those that are missing. An entry it cannot
// make sense of (a package without a name or version, a RECORD that is
// not CSV) is an error that names the file.
func Catalog(fsys fs.FS) (*Inventory, error) {
	inv := &Inventory{}
	var err error
	if inv.OS, err = readOS(fsys); err != nil {
		return nil, err
	}
	for _, read := range []func(fs.FS) ([]Package, error){readDpkg, readApk, readPython} {
		pkgs, err := read(fsys)
		if err != nil {
			return nil, err
		}
		inv.Packages = append(inv.Packages, pkgs...)
	}
	sortPackages(inv.Packages)
	return inv, nil
}

// Reads reports whether [Catalog] reads the content of the file at p (an
// io/fs path; a leading / or ./ is allowed): os-release, dpkg's and apk's
// databases, and the METADATA and RECORD files of the dist-info folders it
// reads. A caller that streams an image's layers can keep the content of
// these files only, as long as it keeps every other file's name too:
// Catalog stats the files a RECORD lists, and [SPDX] reads those.
func Reads(p string) bool {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	switch p {
	case osRelease, osReleaseLib, dpkgStatus, apkInstalled, apkUsr:
		return true
	}
	dir, file := path.Split(p)
	if dir == dpkgStatusD+"/" {
		return !strings.HasSuffix(file, ".md5sums")
	}
	if file != "METADATA" && file != "RECORD" {
		return false
	}
	distInfo := strings.TrimSuffix(dir, "/")
	if path.Ext(distInfo) != ".dist-info" {
		return false
	}
	site := path.Dir(distInfo)
	for _, pattern := range sitePackages {
		if ok, _ := path.Match(pattern, site); ok {
			return true
		}
	}
	return false
}

// readFile reads name from fsys; a missing file is no error: ok is false.
func readFile(fsys fs.FS, name string) (data []byte, ok bool, err error) {
	data, err = fs.ReadFile(fsys, name)
	if missing(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", name, err)
	}
	return data, true, nil
}

// missing reports whether err says a file is not there.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func readOS(fsys fs.FS) (OS, error) {
	for _, name := range []string{osRelease, osReleaseLib} {
		data, ok, err := readFile(fsys, name)
		if err != nil {
			return OS{}, err
		}
		if !ok {
			continue
		}
		vars := parseOSRelease(data)
		return OS{ID: vars["ID"], VersionID: vars["VERSION_ID"], Name: vars["PRETTY_NAME"]}, nil
	}
	return OS{}, nil
}

// parseOSRelease parses os-release's shell-style assignments, KEY=value
// with the value optionally quoted.
func parseOSRelease(data []byte) map[string]string {
	vars := map[string]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch {
		case len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"':
			value = value[1 : len(value)-1]
			var b strings.Builder
			for i := 0; i < len(value); i++ {
				if value[i] == '\\' && i+1 < len(value) && strings.ContainsRune("\"\\$`", rune(value[i+1])) {
					i++
				}
				b.WriteByte(value[i])
			}
			value = b.String()
		case len(value) >= 2 && value[0] == '\'' && value[len(value)-1] == '\'':
			value = value[1 : len(value)-1]
		}
		vars[key] = value
	}
	return vars
}

// paragraph is one paragraph of a Debian control file (or the header of a
// Python METADATA file): its fields by lower-case name, and the line it
// starts on.
type paragraph struct {
	line   int
	fields map[string]string
}

// paragraphs splits data, in Debian's control-file format ("Name: value"
// lines, continuation lines starting with a space or tab, even when they
// hold nothing else, as METADATA's folded License fields do; paragraphs
// separated by empty lines), into paragraphs. A field that appears twice
// keeps its first value.
func paragraphs(data []byte) []paragraph {
	var out []paragraph
	var cur *paragraph
	var last string
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		line = strings.TrimRight(line, "\r\n")
		continuation := line != "" && (line[0] == ' ' || line[0] == '\t')
		if strings.TrimSpace(line) == "" && (!continuation || cur == nil) {
			cur = nil
			continue
		}
		if continuation {
			if cur != nil && last != "" {
				cur.fields[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		if cur == nil {
			out = append(out, paragraph{line: n, fields: map[string]string{}})
			cur = &out[len(out)-1]
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			last = ""
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		if _, seen := cur.fields[key]; seen {
			last = ""
			continue
		}
		cur.fields[key] = strings.TrimSpace(value)
		last = key
	}
	return out
}

func readDpkg(fsys fs.FS) ([]Package, error) {
	var pkgs []Package
	data, ok, err := readFile(fsys, dpkgStatus)
	if err != nil {
		return nil, err
	}
	if ok {
		if pkgs, err = dpkgPackages(dpkgStatus, data, true); err != nil {
			return nil, err
		}
	}
	entries, err := fs.ReadDir(fsys, dpkgStatusD)
	if err != nil && !missing(err) {
		return nil, fmt.Errorf("read %s: %w", dpkgStatusD, err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".md5sums") {
			continue
		}
		name := path.Join(dpkgStatusD, e.Name())
		data, ok, err := readFile(fsys, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		more, err := dpkgPackages(name, data, false)
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, more...)
	}
	return pkgs, nil
}

// dpkgPackages returns the installed packages of a dpkg status file, name;
// needStatus says whether an entry without a Status field is left out (the
// status database) or taken as installed (distroless's status.d).
func dpkgPackages(name string, data []byte, needStatus bool) ([]Package, error) {
	var pkgs []Package
	for _, para := range paragraphs(data) {
		f := para.fields
		status, hasStatus := f["status"]
		if hasStatus || needStatus {
			if !installed(status) {
				continue
			}
		}
		p := Package{Type: Deb, Name: f["package"], Version: f["version"], Arch: f["architecture"]}
		if p.Name == "" || p.Version == "" {
			return nil, fmt.Errorf("%s: the package at line %d has no Package or no Version field", name, para.line)
		}
		if src := f["source"]; src != "" {
			srcName, srcVersion, _ := strings.Cut(src, " ")
			p.SourceName = srcName
			p.SourceVersion = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(srcVersion), "("), ")")
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// installed reports whether dpkg's Status ("want flag state") says a
// package is installed and meant to be: "install ok installed", or held.
func installed(status string) bool {
	f := strings.Fields(status)
	return len(f) == 3 && (f[0] == "install" || f[0] == "hold") && f[1] == "ok" && f[2] == "installed"
}

func readApk(fsys fs.FS) ([]Package, error) {
	for _, name := range []string{apkInstalled, apkUsr} {
		data, ok, err := readFile(fsys, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		return apkPackages(name, data)
	}
	return nil, nil
}

// apkPackages parses apk's installed database: "X:value" lines, a blank
// line between packages.
func apkPackages(name string, data []byte) ([]Package, error) {
	var pkgs []Package
	var cur *Package
	start := 0
	end := func() error {
		if cur == nil {
			return nil
		}
		if cur.Name == "" || cur.Version == "" {
			return fmt.Errorf("%s: the package at line %d has no P: (name) or no V: (version) line", name, start)
		}
		if cur.SourceName == cur.Name {
			cur.SourceName = ""
		}
		pkgs = append(pkgs, *cur)
		cur = nil
		return nil
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if err := end(); err != nil {
				return nil, err
			}
			continue
		}
		if cur == nil {
			cur, start = &Package{Type: Apk}, n
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch key {
		case "P":
			cur.Name = value
		case "V":
			cur.Version = value
		case "A":
			cur.Arch = value
		case "L":
			cur.License = license(value)
		case "o":
			cur.SourceName = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := end(); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// license returns expr normalised if it is a valid SPDX license
// expression, else "".
func license(expr string) string {
	expr = strings.TrimSpace(expr)
	if expr == "" || strings.ContainsAny(expr, "\n\r") {
		return ""
	}
	valid, invalid := spdxexp.ValidateAndNormalizeLicensesWithOptions([]string{expr}, spdxexp.ValidateLicensesOptions{})
	if len(invalid) > 0 || len(valid) != 1 {
		return ""
	}
	return valid[0]
}

func readPython(fsys fs.FS) ([]Package, error) {
	var pkgs []Package
	lister := dirLister{fsys: fsys, entries: map[string]map[string]fs.FileMode{}}
	for _, pattern := range sitePackages {
		dirs, err := fs.Glob(fsys, pattern+"/*.dist-info")
		if err != nil {
			return nil, fmt.Errorf("find dist-info folders %s: %w", pattern, err)
		}
		for _, dir := range dirs {
			info, err := fs.Stat(fsys, dir)
			if err != nil || !info.IsDir() {
				continue
			}
			p, err := distribution(fsys, dir, lister)
			if err != nil {
				return nil, err
			}
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, nil
}

// distribution reads the Python distribution of the dist-info folder dir.
func distribution(fsys fs.FS, dir string, dirs dirLister) (Package, error) {
	metadata := path.Join(dir, "METADATA")
	data, ok, err := readFile(fsys, metadata)
	if err != nil {
		return Package{}, err
	}
	if !ok {
		return Package{}, fmt.Errorf("%s: no METADATA file", dir)
	}
	var f map[string]string
	if paras := paragraphs(headerOf(data)); len(paras) > 0 {
		f = paras[0].fields
	}
	p := Package{Type: PyPI, Name: f["name"], Version: f["version"]}
	if p.Name == "" || p.Version == "" {
		return Package{}, fmt.Errorf("%s: no Name or no Version field", metadata)
	}
	p.License = license(f["license-expression"])
	if p.License == "" {
		p.License = license(f["license"])
	}
	if p.Files, err = recordFiles(fsys, dir, dirs); err != nil {
		return Package{}, err
	}
	return p, nil
}

// headerOf returns the header of a METADATA file: what comes before its
// first blank line (the rest is the description).
func headerOf(data []byte) []byte {
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
		return data[:i+1]
	}
	return data
}

// recordFiles returns the files the RECORD of the dist-info folder dir
// lists, resolved against its site-packages folder, as absolute paths,
// sorted; those outside the filesystem, missing, or folders are left out.
// dirLister answers whether paths are files (not folders, not missing)
// from one listing of each folder, read once: a filesystem a daemon serves
// answers each call in a round trip, and a distribution's files are
// thousands in a few folders.
type dirLister struct {
	fsys fs.FS
	// entries are the names in each folder listed, with their types; nil
	// for a folder that is not there.
	entries map[string]map[string]fs.FileMode
}

// file reports whether p is in the filesystem and not a folder.
func (d dirLister) file(p string) (bool, error) {
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	names, ok := d.entries[dir]
	if !ok {
		list, err := fs.ReadDir(d.fsys, dir)
		if err != nil && !missing(err) {
			return false, fmt.Errorf("list %s: %w", dir, err)
		}
		if err == nil {
			names = make(map[string]fs.FileMode, len(list))
			for _, e := range list {
				names[e.Name()] = e.Type()
			}
		}
		d.entries[dir] = names
	}
	typ, ok := names[name]
	switch {
	case !ok:
		return false, nil
	case typ&fs.ModeSymlink != 0:
		// What a link names is asked of the filesystem.
		info, err := fs.Stat(d.fsys, p)
		if missing(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", p, err)
		}
		return !info.IsDir(), nil
	}
	return !typ.IsDir(), nil
}

func recordFiles(fsys fs.FS, dir string, dirs dirLister) ([]string, error) {
	record := path.Join(dir, "RECORD")
	data, ok, err := readFile(fsys, record)
	if err != nil || !ok {
		return nil, err
	}
	site := path.Dir(dir)
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	var files []string
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: not a RECORD file (CSV): %w", record, err)
		}
		if len(row) == 0 || row[0] == "" {
			continue
		}
		var p string
		if entry := row[0]; path.IsAbs(entry) {
			p = strings.TrimPrefix(path.Clean(entry), "/")
		} else {
			p = path.Join(site, entry)
		}
		if p == "" || p == "." || p == ".." || strings.HasPrefix(p, "../") || !fs.ValidPath(p) {
			continue
		}
		file, err := dirs.file(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", record, err)
		}
		if file {
			files = append(files, "/"+p)
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// sortPackages sorts pkgs by Type, Name and Version, then by the rest of
// their fields, so that the order is total.
func sortPackages(pkgs []Package) {
	slices.SortFunc(pkgs, comparePackages)
}

func comparePackages(a, b Package) int {
	return cmp.Or(
		cmp.Compare(a.Type, b.Type),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.Arch, b.Arch),
		cmp.Compare(a.SourceName, b.SourceName),
		cmp.Compare(a.SourceVersion, b.SourceVersion),
		cmp.Compare(a.License, b.License),
		slices.Compare(a.Files, b.Files),
	)
}
