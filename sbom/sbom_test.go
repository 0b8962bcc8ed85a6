package sbom_test

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/sbom"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdxlib"
	spdxutils "github.com/spdx/tools-golang/utils"
)

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
`

// dpkgStatus has installed packages (one with a Source, one with a Source
// and version and an epoch, one held) and two that are not installed.
const dpkgStatus = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u9
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
 .
 Version: 9.9.9 (a continuation line, not a field)

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u9

Package: python3-old
Status: deinstall ok config-files
Architecture: all
Version: 3.9.2-3

Package: libgmp10
Status: hold ok installed
Architecture: amd64
Source: gmp (2:6.2.1+dfsg1-1.1)
Version: 2:6.2.1+dfsg1-1.1+b1

Package: half
Status: install reinstreq half-installed
Architecture: amd64
Version: 1.0-1
`

// distroless keeps a file per package in status.d, without Status, and
// md5sums beside them.
const statusDTzdata = `Package: tzdata
Version: 2024a-0+deb12u1
Architecture: all
`

const (
	site       = "opt/venv/lib/python3.12/site-packages"
	asyncpgDir = site + "/asyncpg-0.30.0.dist-info"
	pyyamlDir  = site + "/PyYAML-6.0.2.dist-info"
	distPkgs   = "usr/lib/python3/dist-packages"
)

// debianFS is a Debian image with a venv holding two distributions, and a
// distribution in Debian's dist-packages.
func debianFS() fstest.MapFS {
	return fstest.MapFS{
		"etc/os-release":                          {Data: []byte(debianOSRelease)},
		"var/lib/dpkg/status":                     {Data: []byte(dpkgStatus)},
		"var/lib/dpkg/status.d/tzdata":            {Data: []byte(statusDTzdata)},
		"var/lib/dpkg/status.d/tzdata.md5sums":    {Data: []byte("0123  usr/share/zoneinfo/UTC\n")},
		"etc/passwd":                              {Data: []byte("root:x:0:0::/root:/bin/sh\n")},
		"opt/venv/bin/asyncpg-tool":               {Data: []byte("#!/opt/venv/bin/python\n")},
		site + "/asyncpg/__init__.py":             {Data: []byte("from .connection import connect\n")},
		site + "/asyncpg/protocol/protocol.so":    {Data: []byte("\x7fELF...")},
		site + "/asyncpg/with,comma.py":           {Data: []byte("# a name CSV quotes\n")},
		site + "/yaml/__init__.py":                {Data: []byte("__version__ = '6.0.2'\n")},
		site + "/yaml/dir-in-record/keep.txt":     {Data: []byte("x")},
		asyncpgDir + "/INSTALLER":                 {Data: []byte("pip\n")},
		distPkgs + "/legacy-1.0.dist-info/RECORD": {Data: []byte("")},
		asyncpgDir + "/METADATA": {Data: []byte(`Metadata-Version: 2.4
Name: asyncpg
Version: 0.30.0
License: Apache License
        Version 2.0, January 2004
        
        TERMS AND CONDITIONS
License-Expression: Apache-2.0
Classifier: Programming Language :: Python :: 3

asyncpg is a database interface library.
`)},
		asyncpgDir + "/RECORD": {Data: []byte(`asyncpg/__init__.py,sha256=abc,32
asyncpg/protocol/protocol.so,sha256=def,8
"asyncpg/with,comma.py",sha256=ghi,20
asyncpg/missing.py,sha256=jkl,1
asyncpg-0.30.0.dist-info/METADATA,,
asyncpg-0.30.0.dist-info/RECORD,,
../../../bin/asyncpg-tool,sha256=mno,23
../../../../../../etc/passwd,,
../../../../../etc/passwd,,
`)},
		pyyamlDir + "/METADATA": {Data: []byte(`Metadata-Version: 2.1
Name: PyYAML
Version: 6.0.2
License: MIT

License-Expression: GPL-3.0-only
(the description: not a header)
`)},
		pyyamlDir + "/RECORD":                       {Data: []byte("yaml/__init__.py,,\nyaml/dir-in-record,,\nPyYAML-6.0.2.dist-info/METADATA,,\n")},
		distPkgs + "/legacy-1.0.dist-info/METADATA": {Data: []byte("Name: legacy\nVersion: 1.0\nLicense: BSD\n")},
	}
}

const apkInstalled = `C:Q1abc=
P:musl
V:1.2.5-r0
A:x86_64
S:383152
L:MIT
o:musl
F:lib
R:ld-musl-x86_64.so.1

C:Q1def=
P:libcrypto3
V:3.3.2-r0
A:x86_64
L:Apache-2.0
o:openssl

P:busybox
V:1.36.1-r29
A:x86_64
L:GPL2
o:busybox
`

func alpineFS() fstest.MapFS {
	return fstest.MapFS{
		"usr/lib/os-release":   {Data: []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n")},
		"lib/apk/db/installed": {Data: []byte(apkInstalled)},
	}
}

func TestCatalogDebian(t *testing.T) {
	inv, err := sbom.Catalog(debianFS())
	if err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string { return "/" + p }
	want := &sbom.Inventory{
		OS: sbom.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"},
		Packages: []sbom.Package{
			{Type: "deb", Name: "base-files", Version: "12.4+deb12u9", Arch: "amd64"},
			{Type: "deb", Name: "libc6", Version: "2.36-9+deb12u9", Arch: "amd64", SourceName: "glibc"},
			{Type: "deb", Name: "libgmp10", Version: "2:6.2.1+dfsg1-1.1+b1", Arch: "amd64", SourceName: "gmp", SourceVersion: "2:6.2.1+dfsg1-1.1"},
			{Type: "deb", Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all"},
			{Type: "pypi", Name: "PyYAML", Version: "6.0.2", License: "MIT", Files: []string{
				abs(pyyamlDir + "/METADATA"),
				abs(site + "/yaml/__init__.py"),
			}},
			{Type: "pypi", Name: "asyncpg", Version: "0.30.0", License: "Apache-2.0", Files: []string{
				"/etc/passwd",
				"/opt/venv/bin/asyncpg-tool",
				abs(asyncpgDir + "/METADATA"),
				abs(asyncpgDir + "/RECORD"),
				abs(site + "/asyncpg/__init__.py"),
				abs(site + "/asyncpg/protocol/protocol.so"),
				abs(site + "/asyncpg/with,comma.py"),
			}},
			{Type: "pypi", Name: "legacy", Version: "1.0"},
		},
	}
	if diff := cmp.Diff(want, inv); diff != "" {
		t.Errorf("Catalog (-want +got):\n%s", diff)
	}
}

func TestCatalogAlpine(t *testing.T) {
	inv, err := sbom.Catalog(alpineFS())
	if err != nil {
		t.Fatal(err)
	}
	want := &sbom.Inventory{
		OS: sbom.OS{ID: "alpine", VersionID: "3.20.3", Name: "Alpine Linux v3.20"},
		Packages: []sbom.Package{
			// GPL2 is no SPDX identifier: no license rather than an invented one.
			{Type: "apk", Name: "busybox", Version: "1.36.1-r29", Arch: "x86_64"},
			{Type: "apk", Name: "libcrypto3", Version: "3.3.2-r0", Arch: "x86_64", License: "Apache-2.0", SourceName: "openssl"},
			{Type: "apk", Name: "musl", Version: "1.2.5-r0", Arch: "x86_64", License: "MIT"},
		},
	}
	if diff := cmp.Diff(want, inv); diff != "" {
		t.Errorf("Catalog (-want +got):\n%s", diff)
	}
}

func TestCatalogEmpty(t *testing.T) {
	inv, err := sbom.Catalog(fstest.MapFS{"bin/app": {Data: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&sbom.Inventory{}, inv); diff != "" {
		t.Errorf("Catalog of a tree with no OS and no packages (-want +got):\n%s", diff)
	}
}

func TestCatalogErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{{
		name: "dpkg package without version",
		fsys: fstest.MapFS{"var/lib/dpkg/status": {Data: []byte("Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\n")}},
		want: "var/lib/dpkg/status: the package at line 5 has no Package or no Version field",
	}, {
		name: "apk package without version",
		fsys: fstest.MapFS{"lib/apk/db/installed": {Data: []byte("P:musl\nV:1\n\nP:busybox\nA:x86_64\n")}},
		want: "lib/apk/db/installed: the package at line 4 has no P: (name) or no V: (version) line",
	}, {
		name: "dist-info without METADATA",
		fsys: fstest.MapFS{site + "/x-1.dist-info/RECORD": {Data: []byte("")}},
		want: site + "/x-1.dist-info: no METADATA file",
	}, {
		name: "METADATA without version",
		fsys: fstest.MapFS{site + "/x-1.dist-info/METADATA": {Data: []byte("Name: x\n")}},
		want: site + "/x-1.dist-info/METADATA: no Name or no Version field",
	}, {
		name: "RECORD that is not CSV",
		fsys: fstest.MapFS{
			site + "/x-1.dist-info/METADATA": {Data: []byte("Name: x\nVersion: 1\n")},
			site + "/x-1.dist-info/RECORD":   {Data: []byte("x/\"a.py,,\n")},
		},
		want: site + "/x-1.dist-info/RECORD: not a RECORD file (CSV)",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sbom.Catalog(tt.fsys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Catalog: got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPURL(t *testing.T) {
	debian := sbom.OS{ID: "debian", VersionID: "12"}
	alpine := sbom.OS{ID: "alpine", VersionID: "3.20.3"}
	tests := []struct {
		name string
		pkg  sbom.Package
		os   sbom.OS
		want string
	}{
		{"deb", sbom.Package{Type: "deb", Name: "base-files", Version: "12.4+deb12u9", Arch: "amd64"}, debian,
			"pkg:deb/debian/base-files@12.4%2Bdeb12u9?arch=amd64&distro=debian-12"},
		{"deb with source", sbom.Package{Type: "deb", Name: "libc6", Version: "2.36-9+deb12u9", Arch: "amd64", SourceName: "glibc"}, debian,
			"pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64&distro=debian-12&upstream=glibc"},
		{"deb with epoch and source version", sbom.Package{Type: "deb", Name: "libgmp10", Version: "2:6.2.1+dfsg1-1.1+b1", Arch: "amd64", SourceName: "gmp", SourceVersion: "2:6.2.1+dfsg1-1.1"}, debian,
			"pkg:deb/debian/libgmp10@2:6.2.1%2Bdfsg1-1.1%2Bb1?arch=amd64&distro=debian-12&upstream=gmp%402:6.2.1%2Bdfsg1-1.1"},
		{"ubuntu", sbom.Package{Type: "deb", Name: "libc6", Version: "2.35-0ubuntu3.8", Arch: "arm64"}, sbom.OS{ID: "ubuntu", VersionID: "22.04"},
			"pkg:deb/ubuntu/libc6@2.35-0ubuntu3.8?arch=arm64&distro=ubuntu-22.04"},
		{"deb without os-release", sbom.Package{Type: "deb", Name: "libc6", Version: "2.36-9", Arch: "amd64"}, sbom.OS{},
			"pkg:deb/debian/libc6@2.36-9?arch=amd64"},
		{"apk", sbom.Package{Type: "apk", Name: "musl", Version: "1.2.5-r0", Arch: "x86_64", License: "MIT"}, alpine,
			"pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3"},
		{"apk with origin", sbom.Package{Type: "apk", Name: "libcrypto3", Version: "3.3.2-r0", Arch: "x86_64", SourceName: "openssl"}, alpine,
			"pkg:apk/alpine/libcrypto3@3.3.2-r0?arch=x86_64&distro=3.20.3&upstream=openssl"},
		{"pypi", sbom.Package{Type: "pypi", Name: "asyncpg", Version: "0.30.0"}, debian,
			"pkg:pypi/asyncpg@0.30.0"},
		{"pypi normalised", sbom.Package{Type: "pypi", Name: "Zope.Interface__x", Version: "7.1"}, debian,
			"pkg:pypi/zope-interface-x@7.1"},
		{"unknown type", sbom.Package{Type: "npm", Name: "left-pad", Version: "1.3.0"}, debian, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pkg.PURL(tt.os); got != tt.want {
				t.Errorf("PURL = %q, want %q", got, tt.want)
			}
		})
	}
}

var subject = sbom.Subject{
	Name:     "incident-tracker",
	Platform: "linux/amd64",
	Base:     "docker.io/library/debian:bookworm@sha256:" + strings.Repeat("ab", 32),
	Created:  time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600)),
}

// document catalogues fsys and writes and parses its SPDX document.
func document(t *testing.T, fsys fstest.MapFS) ([]byte, *sbom.Inventory, *spdx.Document) {
	t.Helper()
	inv, err := sbom.Catalog(fsys)
	if err != nil {
		t.Fatal(err)
	}
	data, err := sbom.SPDX(fsys, inv, subject)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("tools-golang cannot read the document: %v\n%s", err, data)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("tools-golang does not validate the document: %v", err)
	}
	if ids, err := spdxlib.GetDescribedPackageIDs(doc); err != nil || len(ids) != 1 || !strings.HasPrefix(string(ids[0]), "ContainerImage-") {
		t.Errorf("the document describes %v (%v), want the image alone", ids, err)
	}
	return data, inv, doc
}

func purlOf(p *spdx.Package) string {
	for _, r := range p.PackageExternalReferences {
		if r.Category == "PACKAGE-MANAGER" && r.RefType == "purl" {
			return r.Locator
		}
	}
	return ""
}

func TestSPDX(t *testing.T) {
	fsys := debianFS()
	data, _, doc := document(t, fsys)

	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.DocumentName != "incident-tracker" {
		t.Errorf("document header: version %q, data license %q, name %q", doc.SPDXVersion, doc.DataLicense, doc.DocumentName)
	}
	if got, want := doc.CreationInfo.Created, "2024-05-06T05:08:09Z"; got != want {
		t.Errorf("created = %q, want %q (s.Created in UTC)", got, want)
	}
	if len(doc.CreationInfo.Creators) != 1 || doc.CreationInfo.Creators[0].CreatorType != "Tool" || doc.CreationInfo.Creators[0].Creator != "imagebuild" {
		t.Errorf("creators = %+v, want Tool: imagebuild", doc.CreationInfo.Creators)
	}
	if !regexp.MustCompile(`^https://github\.com/imagebuild/imagebuild/spdx/incident-tracker/linux/amd64/[0-9a-f]{64}$`).MatchString(doc.DocumentNamespace) {
		t.Errorf("namespace = %q", doc.DocumentNamespace)
	}

	// Every package, by name: purpose, purl, license, source, files analyzed.
	type row struct {
		Purpose, PURL, License, Source string
		FilesAnalyzed                  bool
		Checksums                      []spdx.Checksum
	}
	got := map[string]row{}
	ids := map[string]spdx.ElementID{}
	byID := map[spdx.ElementID]string{}
	for _, p := range doc.Packages {
		if _, dup := got[p.PackageName]; dup {
			t.Errorf("package %s twice", p.PackageName)
		}
		got[p.PackageName] = row{p.PrimaryPackagePurpose, purlOf(p), p.PackageLicenseDeclared, p.PackageSourceInfo, p.FilesAnalyzed, p.PackageChecksums}
		ids[p.PackageName] = p.PackageSPDXIdentifier
		byID[p.PackageSPDXIdentifier] = p.PackageName
	}
	digest := strings.Repeat("ab", 32)
	want := map[string]row{
		"incident-tracker":         {Purpose: "CONTAINER", License: "NOASSERTION"},
		"debian":                   {Purpose: "OPERATING-SYSTEM", License: "NOASSERTION"},
		"docker.io/library/debian": {Purpose: "CONTAINER", License: "NOASSERTION", PURL: "pkg:oci/debian@sha256:" + digest + "?arch=amd64&repository_url=docker.io%2Flibrary%2Fdebian&tag=bookworm", Checksums: []spdx.Checksum{{Algorithm: "SHA256", Value: digest}}},
		"base-files":               {Purpose: "LIBRARY", License: "NOASSERTION", PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u9?arch=amd64&distro=debian-12"},
		"libc6":                    {Purpose: "LIBRARY", License: "NOASSERTION", PURL: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64&distro=debian-12&upstream=glibc", Source: "built package from: glibc 2.36-9+deb12u9"},
		"libgmp10":                 {Purpose: "LIBRARY", License: "NOASSERTION", PURL: "pkg:deb/debian/libgmp10@2:6.2.1%2Bdfsg1-1.1%2Bb1?arch=amd64&distro=debian-12&upstream=gmp%402:6.2.1%2Bdfsg1-1.1", Source: "built package from: gmp 2:6.2.1+dfsg1-1.1"},
		"tzdata":                   {Purpose: "LIBRARY", License: "NOASSERTION", PURL: "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12"},
		"asyncpg":                  {Purpose: "LIBRARY", License: "Apache-2.0", PURL: "pkg:pypi/asyncpg@0.30.0", FilesAnalyzed: true},
		"PyYAML":                   {Purpose: "LIBRARY", License: "MIT", PURL: "pkg:pypi/pyyaml@6.0.2", FilesAnalyzed: true},
		"legacy":                   {Purpose: "LIBRARY", License: "NOASSERTION", PURL: "pkg:pypi/legacy@1.0"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if id := string(ids["asyncpg"]); !regexp.MustCompile(`^Package-pypi-asyncpg-[0-9a-f]{16}$`).MatchString(id) {
		t.Errorf("asyncpg's SPDX ID = SPDXRef-%s, want SPDXRef-Package-pypi-asyncpg-<16 hex>", id)
	}
	if id := string(ids["debian"]); !strings.HasPrefix(id, "OperatingSystem-") {
		t.Errorf("the OS's SPDX ID = SPDXRef-%s: Trivy takes the OS from an ID that starts SPDXRef-OperatingSystem-", id)
	}

	// Files: each with the SHA1 and SHA256 of its content, once.
	files := map[string]*spdx.File{}
	fileName := map[spdx.ElementID]string{}
	for _, f := range doc.Files {
		files[f.FileName] = f
		fileName[f.FileSPDXIdentifier] = f.FileName
		data := fsys[strings.TrimPrefix(f.FileName, "/")].Data
		s1, s256 := sha1.Sum(data), sha256.Sum256(data)
		wantSums := []spdx.Checksum{
			{Algorithm: spdx.SHA1, Value: hex.EncodeToString(s1[:])},
			{Algorithm: spdx.SHA256, Value: hex.EncodeToString(s256[:])},
		}
		if diff := cmp.Diff(wantSums, f.Checksums); diff != "" {
			t.Errorf("checksums of %s (-want +got):\n%s", f.FileName, diff)
		}
	}
	if len(files) != 9 || len(doc.Files) != 9 {
		t.Errorf("got %d files (%d names), want the 9 the two RECORDs list: %v", len(doc.Files), len(files), slices.Sorted(maps.Keys(files)))
	}

	// Relationships, written with names.
	var rels []string
	name := func(id spdx.ElementID) string {
		if n, ok := byID[id]; ok {
			return n
		}
		if n, ok := fileName[id]; ok {
			return n
		}
		return string(id)
	}
	for _, r := range doc.Relationships {
		rels = append(rels, name(r.RefA.ElementRefID)+" "+r.Relationship+" "+name(r.RefB.ElementRefID))
	}
	slices.Sort(rels)
	var wantRels []string
	wantRels = append(wantRels, "DOCUMENT DESCRIBES incident-tracker", "incident-tracker DESCENDANT_OF docker.io/library/debian")
	for _, p := range []string{"debian", "base-files", "libc6", "libgmp10", "tzdata", "asyncpg", "PyYAML", "legacy"} {
		wantRels = append(wantRels, "incident-tracker CONTAINS "+p)
	}
	inv, err := sbom.Catalog(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range inv.Packages {
		for _, f := range p.Files {
			wantRels = append(wantRels, p.Name+" CONTAINS "+f)
		}
	}
	slices.Sort(wantRels)
	if diff := cmp.Diff(wantRels, rels); diff != "" {
		t.Errorf("relationships (-want +got):\n%s", diff)
	}

	// The verification code is over the package's own files.
	for _, p := range doc.Packages {
		if p.PackageName != "asyncpg" {
			continue
		}
		var own []*spdx.File
		for _, r := range doc.Relationships {
			if r.RefA.ElementRefID == p.PackageSPDXIdentifier && r.Relationship == "CONTAINS" {
				own = append(own, files[fileName[r.RefB.ElementRefID]])
			}
		}
		code, err := spdxutils.GetVerificationCode(own, "")
		if err != nil {
			t.Fatal(err)
		}
		if p.PackageVerificationCode == nil || p.PackageVerificationCode.Value != code.Value || len(own) != 7 {
			t.Errorf("asyncpg's verification code = %+v over %d files, want %s over 7", p.PackageVerificationCode, len(own), code.Value)
		}
	}

	if !bytes.Contains(data, []byte(`"filesAnalyzed": false`)) {
		t.Error("OS packages do not say filesAnalyzed false")
	}
}

func TestSPDXReproducible(t *testing.T) {
	first, _, doc1 := document(t, debianFS())
	second, _, _ := document(t, debianFS())
	if !bytes.Equal(first, second) {
		t.Fatal("the same image gave two different documents")
	}

	// The inventory's order does not matter.
	fsys := debianFS()
	inv, err := sbom.Catalog(fsys)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(inv.Packages)
	reversed, err := sbom.SPDX(fsys, inv, subject)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, reversed) {
		t.Error("the inventory's order changed the document")
	}

	// A changed file changes the document, and its namespace.
	changed := debianFS()
	changed[site+"/asyncpg/__init__.py"] = &fstest.MapFile{Data: []byte("from .connection import connect  # patched\n")}
	third, _, doc3 := document(t, changed)
	if bytes.Equal(first, third) {
		t.Fatal("a changed file did not change the document")
	}
	if doc1.DocumentNamespace == doc3.DocumentNamespace {
		t.Errorf("a changed file did not change the namespace %s", doc1.DocumentNamespace)
	}
}

func TestSPDXUniqueIDs(t *testing.T) {
	fsys := fstest.MapFS{}
	inv := &sbom.Inventory{Packages: []sbom.Package{
		{Type: "deb", Name: "libc6", Version: "2.36-9", Arch: "amd64"},
		{Type: "deb", Name: "libc6", Version: "2.36-9", Arch: "i386"},
		{Type: "pypi", Name: "pip", Version: "24.0"},
		{Type: "pypi", Name: "pip", Version: "24.0"},
		{Type: "pypi", Name: "lib++_x", Version: "1"},
	}}
	data, err := sbom.SPDX(fsys, inv, subject)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[spdx.ElementID]bool{}
	valid := regexp.MustCompile(`^[A-Za-z0-9.-]+$`)
	for _, p := range doc.Packages {
		if seen[p.PackageSPDXIdentifier] {
			t.Errorf("SPDX ID SPDXRef-%s twice", p.PackageSPDXIdentifier)
		}
		seen[p.PackageSPDXIdentifier] = true
		if !valid.MatchString(string(p.PackageSPDXIdentifier)) {
			t.Errorf("SPDX ID SPDXRef-%s has characters SPDX does not allow", p.PackageSPDXIdentifier)
		}
	}
	if len(doc.Packages) != 7 {
		t.Errorf("got %d packages, want the image, the base and 5", len(doc.Packages))
	}
}

func TestSPDXSubjectErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*sbom.Subject)
		want string
	}{
		{"no name", func(s *sbom.Subject) { s.Name = "" }, "subject has no name"},
		{"bad platform", func(s *sbom.Subject) { s.Platform = "amd64" }, `platform "amd64": want OS/ARCH[/VARIANT]`},
		{"no time", func(s *sbom.Subject) { s.Created = time.Time{} }, "no creation time"},
		{"base by tag", func(s *sbom.Subject) { s.Base = "debian:bookworm" }, `base image "debian:bookworm" is not pinned by a sha256 digest`},
		{"base malformed", func(s *sbom.Subject) { s.Base = "Debian@sha256:12" }, `base image "Debian@sha256:12"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := subject
			tt.edit(&s)
			_, err := sbom.SPDX(fstest.MapFS{}, &sbom.Inventory{}, s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SPDX: got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSPDXFromScratch(t *testing.T) {
	s := subject
	s.Base = ""
	data, err := sbom.SPDX(fstest.MapFS{}, nil, s)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Packages) != 1 || doc.Packages[0].PrimaryPackagePurpose != "CONTAINER" {
		t.Errorf("an image from scratch with nothing installed: got packages %+v, want the image alone", doc.Packages)
	}
}

func TestReadDiff(t *testing.T) {
	data, inv, _ := document(t, debianFS())
	listed, err := sbom.Read(data)
	if err != nil {
		t.Fatal(err)
	}
	wantListed := []sbom.Package{
		{Type: "deb", Name: "base-files", Version: "12.4+deb12u9", Arch: "amd64"},
		{Type: "deb", Name: "libc6", Version: "2.36-9+deb12u9", Arch: "amd64"},
		{Type: "deb", Name: "libgmp10", Version: "2:6.2.1+dfsg1-1.1+b1", Arch: "amd64"},
		{Type: "deb", Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all"},
		{Type: "pypi", Name: "pyyaml", Version: "6.0.2"},
		{Type: "pypi", Name: "asyncpg", Version: "0.30.0"},
		{Type: "pypi", Name: "legacy", Version: "1.0"},
	}
	if diff := cmp.Diff(wantListed, listed.Packages); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	// Every file of every distribution, with the SHA-256 of its content.
	wantFiles := map[string]string{}
	fsys := debianFS()
	for _, p := range inv.Packages {
		for _, f := range p.Files {
			sum := sha256.Sum256(fsys[strings.TrimPrefix(f, "/")].Data)
			wantFiles[f] = hex.EncodeToString(sum[:])
		}
	}
	if len(wantFiles) == 0 {
		t.Fatal("the fixture's distributions list no files")
	}
	if diff := cmp.Diff(wantFiles, listed.Files); diff != "" {
		t.Errorf("Read's files (-want +got):\n%s", diff)
	}

	if missing, extra := sbom.Diff(listed.Packages, inv.Packages); len(missing)+len(extra) > 0 {
		t.Errorf("Diff of a document with its own image: missing %q, extra %q", missing, extra)
	}

	// The image gained a package and lost one since the document was made.
	found := slices.Clone(inv.Packages)
	found = slices.DeleteFunc(found, func(p sbom.Package) bool { return p.Name == "libc6" })
	found = append(found, sbom.Package{Type: "pypi", Name: "uvloop", Version: "0.21.0"})
	// A version bump is both.
	for i := range found {
		if found[i].Name == "asyncpg" {
			found[i].Version = "0.30.1"
		}
	}
	missing, extra := sbom.Diff(listed.Packages, found)
	if diff := cmp.Diff([]string{"pypi asyncpg 0.30.1", "pypi uvloop 0.21.0"}, missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"deb libc6 2.36-9+deb12u9", "pypi asyncpg 0.30.0"}, extra); diff != "" {
		t.Errorf("extra (-want +got):\n%s", diff)
	}
}

func TestReadErrors(t *testing.T) {
	if _, err := sbom.Read([]byte(`{"spdxVersion": "SPDX-9.9"}`)); err == nil || !strings.Contains(err.Error(), "read SPDX document") {
		t.Errorf("Read of an unknown version: got %v", err)
	}
	doc := `{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "packages": [{"name": "x", "SPDXID": "SPDXRef-x",
	  "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "not a purl"}]}]}`
	if _, err := sbom.Read([]byte(doc)); err == nil || !strings.Contains(err.Error(), "package x (SPDXRef-x)") {
		t.Errorf("Read of a bad purl: got %v, want the package named", err)
	}
}

func TestReads(t *testing.T) {
	fsys := debianFS()
	for name := range alpineFS() {
		fsys[name] = alpineFS()[name]
	}
	// Catalog reads the same from a tree that keeps the content of the
	// files Reads accepts only (and every file's name), as a caller that
	// streams layers keeps them.
	kept := fstest.MapFS{}
	for name, f := range fsys {
		if sbom.Reads(name) {
			kept[name] = f
		} else {
			kept[name] = &fstest.MapFile{}
		}
	}
	want, err := sbom.Catalog(fsys)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sbom.Catalog(kept)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Catalog of the kept files (-all +kept):\n%s", diff)
	}

	tests := map[string]bool{
		"etc/os-release":                      true,
		"/etc/os-release":                     true,
		"./usr/lib/os-release":                true,
		"var/lib/dpkg/status":                 true,
		"var/lib/dpkg/status.d/libc6":         true,
		"var/lib/dpkg/status.d/libc6.md5sums": false,
		"var/lib/dpkg/status-old":             false,
		"lib/apk/db/installed":                true,
		asyncpgDir + "/METADATA":              true,
		asyncpgDir + "/RECORD":                true,
		asyncpgDir + "/INSTALLER":             false,
		"usr/local/lib/python3.12/site-packages/x-1.dist-info/METADATA":       true,
		"usr/lib/python3.11/site-packages/x-1.dist-info/RECORD":               true,
		"usr/lib/python3/dist-packages/x-1.dist-info/METADATA":                true,
		"home/app/.local/lib/python3.12/site-packages/x-1.dist-info/METADATA": false,
		site + "/x-1.dist-info/sub/METADATA":                                  false,
		site + "/asyncpg/__init__.py":                                         false,
		"etc/passwd":                                                          false,
	}
	for p, want := range tests {
		if got := sbom.Reads(p); got != want {
			t.Errorf("Reads(%q) = %v, want %v", p, got, want)
		}
	}
}
