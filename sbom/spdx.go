package sbom

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	"github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
	spdxutils "github.com/spdx/tools-golang/utils"
)

// PURL is the package URL of p, in the form scanners match to their
// advisories (Trivy, Grype) and Syft writes, for an image whose OS is os:
//
//	pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64&distro=debian-12&upstream=glibc
//	pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3
//	pkg:pypi/asyncpg@0.30.0
//
// The namespace of a deb or apk URL is os.ID (debian, ubuntu, alpine;
// debian or alpine when it is empty); the distro qualifier is ID-VERSION_ID
// for deb, as Trivy and Syft write it, and VERSION_ID alone for apk, as
// Trivy writes it; upstream names the source package (NAME or NAME@VERSION)
// when it differs, as Syft writes it. A Python distribution's name is
// normalised as PEP 503 says (lower case, runs of -_. as one -). The
// version is the package's own, a Debian epoch included. PURL is empty for
// a Type it does not know.
func (p Package) PURL(os OS) string {
	var namespace string
	name := p.Name
	var q packageurl.Qualifiers
	add := func(key, value string) {
		if value != "" {
			q = append(q, packageurl.Qualifier{Key: key, Value: value})
		}
	}
	switch p.Type {
	case Deb, Apk:
		namespace = strings.ToLower(os.ID)
		if namespace == "" {
			namespace = map[string]string{Deb: "debian", Apk: "alpine"}[p.Type]
		}
		add("arch", p.Arch)
		upstream := p.SourceName
		if p.Type == Deb && upstream != "" && p.SourceVersion != "" {
			upstream += "@" + p.SourceVersion
		}
		add("upstream", upstream)
		if os.VersionID != "" {
			if p.Type == Deb {
				add("distro", namespace+"-"+os.VersionID)
			} else {
				add("distro", os.VersionID)
				name = strings.ToLower(name)
			}
		}
	case PyPI:
		name = pep503(name)
	default:
		return ""
	}
	return packageurl.NewPackageURL(p.Type, namespace, name, p.Version, q, "").ToString()
}

var pep503Runs = regexp.MustCompile(`[-_.]+`)

// pep503 normalises a Python distribution's name as PEP 503 says.
func pep503(name string) string {
	return strings.ToLower(pep503Runs.ReplaceAllString(name, "-"))
}

// Subject is the image an SPDX document describes.
type Subject struct {
	// Name is what the document calls the image, such as
	// "incident-tracker". Required.
	Name string
	// Platform is the image's platform, OS/ARCH[/VARIANT], such as
	// linux/amd64. Required.
	Platform string
	// Base is the base image pinned by digest, NAME[:TAG]@sha256:<64 hex>;
	// empty for an image built from scratch.
	Base string
	// Created is the build's epoch, the document's creation time (written
	// in UTC, to the second). Required.
	Created time.Time
}

// namespacePrefix starts every document's namespace.
const namespacePrefix = "https://github.com/imagebuild/imagebuild/spdx/"

// The primary purposes SPDX 2.3 gives packages.
const (
	purposeContainer = "CONTAINER"
	purposeOS        = "OPERATING-SYSTEM"
	purposeLibrary   = "LIBRARY"
)

const noAssertion = "NOASSERTION"

// SPDX writes the SPDX 2.3 JSON document of inv, what fsys (the image's
// root filesystem) holds, for the image s. It has a package for the image
// (primary purpose CONTAINER), which the document DESCRIBES; one for its OS
// (OPERATING-SYSTEM: scanners read the distribution from it); one for the
// base image, which the image is a DESCENDANT_OF, with its digest as a
// SHA256 checksum and an OCI package URL; and one for every package of inv,
// which the image CONTAINS, with its package URL ([Package.PURL]) and
// declared license (NOASSERTION when none is known). A Python
// distribution's files are SPDX files with their SHA1 and SHA256 read from
// fsys, which the distribution CONTAINS, and its verification code.
//
// The same inputs give the same bytes: every list is sorted, element
// identifiers are derived from what they identify, the creation time is
// s.Created, and the namespace ends with the SHA-256 of the document
// written without it.
func SPDX(fsys fs.FS, inv *Inventory, s Subject) ([]byte, error) {
	arch, err := s.check()
	if err != nil {
		return nil, err
	}
	w := &writer{fsys: fsys, ids: map[string]bool{}, files: map[string]*spdx.File{}}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      s.Name,
		DocumentNamespace: namespacePrefix + "placeholder",
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "imagebuild"}},
			Created:  s.Created.UTC().Format(time.RFC3339),
		},
	}

	image := &spdx.Package{
		PackageName:             s.Name,
		PackageSPDXIdentifier:   w.id("ContainerImage", s.Name),
		PackageDownloadLocation: noAssertion,
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  noAssertion,
		PackageComment:          "platform " + s.Platform,
		PrimaryPackagePurpose:   purposeContainer,
	}
	doc.Packages = append(doc.Packages, image)
	w.relate("DOCUMENT", common.TypeRelationshipDescribe, image.PackageSPDXIdentifier)

	var os OS
	if inv != nil {
		os = inv.OS
	}
	if os.ID != "" {
		p := &spdx.Package{
			PackageName:             os.ID,
			PackageSPDXIdentifier:   w.id("OperatingSystem", os.ID+"-"+os.VersionID),
			PackageVersion:          os.VersionID,
			PackageDescription:      os.Name,
			PackageDownloadLocation: noAssertion,
			PackageLicenseConcluded: noAssertion,
			PackageLicenseDeclared:  noAssertion,
			PrimaryPackagePurpose:   purposeOS,
		}
		doc.Packages = append(doc.Packages, p)
		w.relate(image.PackageSPDXIdentifier, common.TypeRelationshipContains, p.PackageSPDXIdentifier)
	}

	if s.Base != "" {
		p, err := basePackage(w, s.Base, arch)
		if err != nil {
			return nil, err
		}
		doc.Packages = append(doc.Packages, p)
		w.relate(image.PackageSPDXIdentifier, common.TypeRelationshipDescendantOf, p.PackageSPDXIdentifier)
	}

	var pkgs []Package
	if inv != nil {
		pkgs = slices.Clone(inv.Packages)
		for i := range pkgs {
			pkgs[i].Files = slices.Compact(slices.Sorted(slices.Values(pkgs[i].Files)))
		}
		sortPackages(pkgs)
	}
	var names []string
	for _, pkg := range pkgs {
		names = append(names, pkg.Files...)
	}
	slices.Sort(names)
	if w.sums, err = hashFiles(fsys, slices.Compact(names)); err != nil {
		return nil, err
	}
	for _, pkg := range pkgs {
		p, err := w.pkg(pkg, os)
		if err != nil {
			return nil, err
		}
		doc.Packages = append(doc.Packages, p)
		w.relate(image.PackageSPDXIdentifier, common.TypeRelationshipContains, p.PackageSPDXIdentifier)
	}

	for _, f := range w.files {
		doc.Files = append(doc.Files, f)
	}
	slices.SortFunc(doc.Files, func(a, b *spdx.File) int { return cmp.Compare(a.FileName, b.FileName) })
	slices.SortFunc(w.rels, func(a, b *spdx.Relationship) int {
		return cmp.Or(
			cmp.Compare(a.RefA.ElementRefID, b.RefA.ElementRefID),
			cmp.Compare(a.Relationship, b.Relationship),
			cmp.Compare(a.RefB.ElementRefID, b.RefB.ElementRefID),
		)
	})
	doc.Relationships = w.rels

	draft, err := encode(doc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(draft)
	doc.DocumentNamespace = namespacePrefix + url.PathEscape(s.Name) + "/" + s.Platform + "/" + hex.EncodeToString(sum[:])
	return encode(doc)
}

// check reports what is wrong with s, and returns its architecture.
func (s Subject) check() (arch string, err error) {
	if s.Name == "" {
		return "", errors.New("the SBOM's subject has no name")
	}
	parts := strings.Split(s.Platform, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return "", fmt.Errorf("platform %q: want OS/ARCH[/VARIANT], such as linux/amd64", s.Platform)
	}
	if s.Created.IsZero() {
		return "", errors.New("the SBOM's subject has no creation time (the build's epoch)")
	}
	return parts[1], nil
}

func encode(doc *spdx.Document) ([]byte, error) {
	var b bytes.Buffer
	if err := spdxjson.Write(doc, &b, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("write SPDX document: %w", err)
	}
	return b.Bytes(), nil
}

// basePackage is the SPDX package of the base image ref, pinned by
// digest, for architecture arch: its name as Docker normalises it, its
// digest as version and checksum, and an OCI package URL.
func basePackage(w *writer, ref, arch string) (*spdx.Package, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("base image %q: %w; want NAME[:TAG]@sha256:<64 hex>", ref, err)
	}
	c, ok := named.(reference.Canonical)
	if !ok || c.Digest().Algorithm() != digest.SHA256 {
		return nil, fmt.Errorf("base image %q is not pinned by a sha256 digest; want NAME[:TAG]@sha256:<64 hex>", ref)
	}
	name := named.Name()
	q := packageurl.Qualifiers{{Key: "arch", Value: arch}, {Key: "repository_url", Value: name}}
	if t, ok := named.(reference.Tagged); ok {
		q = append(q, packageurl.Qualifier{Key: "tag", Value: t.Tag()})
	}
	last := name[strings.LastIndex(name, "/")+1:]
	purl := packageurl.NewPackageURL(packageurl.TypeOCI, "", last, c.Digest().String(), q, "").ToString()
	return &spdx.Package{
		PackageName:             name,
		PackageSPDXIdentifier:   w.id("BaseImage", last),
		PackageVersion:          c.Digest().String(),
		PackageDownloadLocation: noAssertion,
		PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: c.Digest().Encoded()}},
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  noAssertion,
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: purl,
		}},
		PrimaryPackagePurpose: purposeContainer,
	}, nil
}

// writer holds what SPDX builds up: the identifiers given, the files by
// path, and the relationships.
type writer struct {
	fsys  fs.FS
	ids   map[string]bool
	files map[string]*spdx.File
	rels  []*spdx.Relationship
	// sums are the SHA-1 and SHA-256 of the files the packages list, by
	// name, read ahead (see hashFiles).
	sums map[string][2]string
}

// hashJobs is how many files hashFiles reads at once: a filesystem served
// by a daemon answers each read in a round trip, which reads side by side
// overlap.
const hashJobs = 8

// hashFiles reads the files names (absolute paths in fsys) hashJobs at a
// time and returns their hex SHA-1 and SHA-256 by name; fsys must allow
// reads side by side, as io/fs's filesystems do.
func hashFiles(fsys fs.FS, names []string) (map[string][2]string, error) {
	sums := make([][2]string, len(names))
	errs := make([]error, len(names))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(hashJobs, len(names)) {
		wg.Go(func() {
			for i := range next {
				dt, err := fs.ReadFile(fsys, strings.TrimPrefix(names[i], "/"))
				if err != nil {
					errs[i] = fmt.Errorf("read %s: %w", names[i], err)
					continue
				}
				s1, s256 := sha1.Sum(dt), sha256.Sum256(dt)
				sums[i] = [2]string{hex.EncodeToString(s1[:]), hex.EncodeToString(s256[:])}
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make(map[string][2]string, len(names))
	for i, n := range names {
		out[n] = sums[i]
	}
	return out, nil
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// id returns a new element identifier, "SPDXRef-KIND-NAME" (written with
// the characters SPDX allows), made unique by a counter when needed.
func (w *writer) id(kind, name string) common.ElementID {
	base := kind
	if name = strings.Trim(idUnsafe.ReplaceAllString(name, "-"), "-"); name != "" {
		base += "-" + name
	}
	id := base
	for n := 2; w.ids[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	w.ids[id] = true
	return common.ElementID(id)
}

func (w *writer) relate(a common.ElementID, rel string, b common.ElementID) {
	w.rels = append(w.rels, &spdx.Relationship{
		RefA:         common.MakeDocElementID("", string(a)),
		RefB:         common.MakeDocElementID("", string(b)),
		Relationship: rel,
	})
}

// sourceInfoPrefix starts a package's sourceInfo when it was built from
// another source package, as Trivy writes and reads it.
const sourceInfoPrefix = "built package from: "

// pkg returns the SPDX package of p, adding its files.
func (w *writer) pkg(p Package, os OS) (*spdx.Package, error) {
	sum := sha256.New()
	for _, s := range append([]string{p.Type, p.Name, p.Version, p.Arch, p.SourceName, p.SourceVersion, p.License}, p.Files...) {
		sum.Write([]byte(s))
		sum.Write([]byte{0})
	}
	sp := &spdx.Package{
		PackageName:             p.Name,
		PackageSPDXIdentifier:   w.id("Package", p.Type+"-"+p.Name+"-"+hex.EncodeToString(sum.Sum(nil))[:16]),
		PackageVersion:          p.Version,
		PackageDownloadLocation: noAssertion,
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  cmp.Or(p.License, noAssertion),
		PrimaryPackagePurpose:   purposeLibrary,
	}
	if p.SourceName != "" {
		sp.PackageSourceInfo = sourceInfoPrefix + p.SourceName + " " + cmp.Or(p.SourceVersion, p.Version)
	}
	if purl := p.PURL(os); purl != "" {
		sp.PackageExternalReferences = []*spdx.PackageExternalReference{{
			Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: purl,
		}}
	}
	if len(p.Files) == 0 {
		return sp, nil
	}
	var files []*spdx.File
	for _, name := range p.Files {
		f, err := w.file(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		files = append(files, f)
		w.relate(sp.PackageSPDXIdentifier, common.TypeRelationshipContains, f.FileSPDXIdentifier)
	}
	code, err := spdxutils.GetVerificationCode(files, "")
	if err != nil {
		return nil, fmt.Errorf("%s: verification code: %w", p, err)
	}
	sp.FilesAnalyzed = true
	sp.PackageVerificationCode = &code
	return sp, nil
}

// file returns the SPDX file at the absolute path name, reading its
// checksums from fsys the first time.
func (w *writer) file(name string) (*spdx.File, error) {
	if f, ok := w.files[name]; ok {
		return f, nil
	}
	sums, ok := w.sums[name]
	if !ok {
		return nil, fmt.Errorf("read %s: not read ahead", name)
	}
	id := sha256.Sum256([]byte(name))
	f := &spdx.File{
		FileName:           name,
		FileSPDXIdentifier: w.id("File", hex.EncodeToString(id[:])[:16]),
		Checksums: []common.Checksum{
			{Algorithm: common.SHA1, Value: sums[0]},
			{Algorithm: common.SHA256, Value: sums[1]},
		},
		LicenseConcluded:  noAssertion,
		FileCopyrightText: noAssertion,
	}
	w.files[name] = f
	return f, nil
}

// Listing is what an SPDX document lists, as [Read] reads it.
type Listing struct {
	// Packages are the packages with a deb, apk or pypi package URL, in
	// the document's order: their Type, Name, Version and Arch.
	Packages []Package
	// Files are the SHA-256 (lower-case hex) of the files the document
	// lists, by absolute path.
	Files map[string]string
}

// spdxDocument is the part of an SPDX 2.x JSON document that Read reads.
// Read decodes it itself, with encoding/json: what it reads is few fields,
// and a document is input from outside (tools-golang's reader panics on a
// null in its packages).
type spdxDocument struct {
	SPDXVersion string `json:"spdxVersion"`
	Packages    []struct {
		Name         string `json:"name"`
		SPDXID       string `json:"SPDXID"`
		ExternalRefs []struct {
			Category string `json:"referenceCategory"`
			Type     string `json:"referenceType"`
			Locator  string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Files []struct {
		Name      string `json:"fileName"`
		SPDXID    string `json:"SPDXID"`
		Checksums []struct {
			Algorithm string `json:"algorithm"`
			Value     string `json:"checksumValue"`
		} `json:"checksums"`
	} `json:"files"`
}

// Read reads what the SPDX 2.x JSON document doc lists: the Type, Name,
// Version and Arch of every package with a deb, apk or pypi package URL,
// in the document's order (packages without one, the image, its OS, its
// base, are left out), and the SHA-256 of every file. A file's name is
// taken as a path from the image's root (./a and /a are both /a); a file
// without a SHA-256, or listed twice with two, is an error.
func Read(doc []byte) (*Listing, error) {
	var d spdxDocument
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("read SPDX document: %w", err)
	}
	if !strings.HasPrefix(d.SPDXVersion, "SPDX-2.") {
		return nil, fmt.Errorf("read SPDX document: version %q, want %s", d.SPDXVersion, spdx.Version)
	}
	l := &Listing{Files: map[string]string{}}
	for _, sp := range d.Packages {
		for _, ref := range sp.ExternalRefs {
			// SPDX 2.2 writes the category PACKAGE_MANAGER, 2.3 PACKAGE-MANAGER.
			if strings.ReplaceAll(ref.Category, "_", "-") != common.CategoryPackageManager || ref.Type != common.TypePackageManagerPURL {
				continue
			}
			u, err := packageurl.FromString(ref.Locator)
			if err != nil {
				return nil, fmt.Errorf("package %s (%s): %w", sp.Name, sp.SPDXID, err)
			}
			if u.Type != Deb && u.Type != Apk && u.Type != PyPI {
				continue
			}
			l.Packages = append(l.Packages, Package{Type: u.Type, Name: u.Name, Version: u.Version, Arch: u.Qualifiers.Map()["arch"]})
			break
		}
	}
	for _, f := range d.Files {
		name := path.Clean("/" + f.Name)
		var sum string
		for _, c := range f.Checksums {
			if c.Algorithm == string(common.SHA256) {
				sum = strings.ToLower(c.Value)
			}
		}
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("file %s (%s) has no SHA-256 checksum (64 hex digits)", f.Name, f.SPDXID)
		}
		if old, ok := l.Files[name]; ok && old != sum {
			return nil, fmt.Errorf("file %s is listed twice, with SHA-256 %s and %s", name, old, sum)
		}
		l.Files[name] = sum
	}
	return l, nil
}

// Diff compares the packages a document lists with those found in the
// image, by Type, Name (as package URLs write it: a Python distribution's
// normalised, an Alpine package's in lower case) and Version:
// missing are found but not listed, extra are listed but not found. Each is
// written as "pypi asyncpg 0.30.0", sorted, once.
func Diff(listed, found []Package) (missing, extra []string) {
	key := func(p Package) string {
		name := p.Name
		switch p.Type {
		case PyPI:
			name = pep503(name)
		case Apk:
			name = strings.ToLower(name)
		}
		return p.Type + "\x00" + name + "\x00" + p.Version
	}
	in := func(pkgs []Package) map[string]bool {
		m := map[string]bool{}
		for _, p := range pkgs {
			m[key(p)] = true
		}
		return m
	}
	isListed, isFound := in(listed), in(found)
	for _, p := range found {
		if !isListed[key(p)] {
			missing = append(missing, p.String())
		}
	}
	for _, p := range listed {
		if !isFound[key(p)] {
			extra = append(extra, p.String())
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return slices.Compact(missing), slices.Compact(extra)
}
