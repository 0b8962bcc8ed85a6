package verify

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing/fstest"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/sbom"
)

// maxFileEvidence is how many files the SBOM check names at most for each
// kind of difference; the rest are counted.
const maxFileEvidence = 20

// checkSBOM checks doc, the SPDX document attached to the image (listed,
// as sbom.Read read it, or readErr), against the image's filesystem: every
// OS package and Python distribution the image holds is listed, and
// nothing is listed that is not there; every file of a distribution is
// listed, and the SHA-256 the document gives each file listed is the
// image's (the file hashed as the layers streamed by, through links).
func checkSBOM(img v1.Image, fsys fsys, doc []byte, listed *sbom.Listing, readErr error) Result {
	res := Result{Check: "SBOM lists what the image holds"}
	if doc == nil {
		res.Status = Skip
		res.Evidence = []string{"no SBOM is attached to the image (imagebuild build --sbom attaches one)"}
		return res
	}
	fail := func(format string, args ...any) Result {
		res.Status = Fail
		res.Evidence = append(res.Evidence, fmt.Sprintf(format, args...))
		return res
	}
	if readErr != nil {
		return fail("the attached SBOM cannot be read: %v", readErr)
	}
	inv, err := sbom.Catalog(fsys.catalog())
	if err != nil {
		return fail("catalog the image: %v", err)
	}
	missing, extra := sbom.Diff(listed.Packages, inv.Packages)
	for _, m := range missing {
		res.Evidence = append(res.Evidence, "in the image, not in the SBOM: "+m)
	}
	for _, e := range extra {
		res.Evidence = append(res.Evidence, "in the SBOM, not in the image: "+e)
	}

	// The files: those the image's distributions hold, and those listed.
	owner := map[string]string{}
	for _, p := range inv.Packages {
		for _, f := range p.Files {
			owner[f] = p.String()
		}
	}
	var unlisted, absent, wrong []string
	for _, f := range slices.Sorted(maps.Keys(owner)) {
		if _, ok := listed.Files[f]; !ok {
			unlisted = append(unlisted, fmt.Sprintf("in the image, not in the SBOM: file %s (%s)", f, owner[f]))
		}
	}
	names := slices.Sorted(maps.Keys(listed.Files))
	target := map[string]string{}
	rehash := map[string]bool{}
	for _, f := range names {
		p, n, err := fsys.resolve(f)
		switch {
		case err != nil:
			absent = append(absent, fmt.Sprintf("in the SBOM, not readable in the image: file %v", err))
		case n == nil || n.typ != tar.TypeReg:
			absent = append(absent, "in the SBOM, not in the image: file "+f)
		default:
			target[f] = p
			if n.sha256 == "" {
				rehash[p] = true // a link's target the first pass did not hash
			}
		}
	}
	if len(rehash) > 0 {
		if err := hashFiles(img, fsys, rehash); err != nil {
			return fail("hash the files the SBOM lists: %v", err)
		}
	}
	for _, f := range names {
		p, ok := target[f]
		if !ok {
			continue
		}
		if want, got := listed.Files[f], fsys[p].sha256; want != got {
			wrong = append(wrong, fmt.Sprintf("file %s: the SBOM gives SHA-256 %s, the image's is %s", f, want, got))
		}
	}
	for _, list := range [][]string{unlisted, absent, wrong} {
		res.Evidence = append(res.Evidence, list[:min(len(list), maxFileEvidence)]...)
		if len(list) > maxFileEvidence {
			res.Evidence = append(res.Evidence, fmt.Sprintf("and %d more such files", len(list)-maxFileEvidence))
		}
	}
	if len(res.Evidence) > 0 {
		res.Status = Fail
		return res
	}
	count := map[string]int{}
	for _, p := range inv.Packages {
		count[p.Type]++
	}
	var kinds []string
	for _, t := range []string{"apk", "deb", "pypi"} {
		if count[t] > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", count[t], t))
		}
	}
	res.Status = Pass
	res.Evidence = []string{fmt.Sprintf("the SBOM lists the %d packages the image holds (%s), and no other, and the SHA-256 of their %d files, all the image's", len(inv.Packages), strings.Join(kinds, ", "), len(names))}
	return res
}

// catalog is the image's filesystem as package sbom reads it: every path,
// with the content of the files it reads (see sbom.Reads).
func (fsys fsys) catalog() fs.FS {
	out := fstest.MapFS{}
	for p, n := range fsys {
		name := strings.TrimPrefix(p, "/")
		if name == "" {
			continue
		}
		f := &fstest.MapFile{Mode: fs.FileMode(n.mode) & fs.ModePerm, Data: n.data}
		switch n.typ {
		case tar.TypeDir:
			f.Mode |= fs.ModeDir
		case tar.TypeSymlink:
			f.Mode |= fs.ModeSymlink
			f.Data = []byte(n.link)
		case tar.TypeLink:
			if t, ok := fsys[n.link]; ok {
				f.Data = t.data
			}
		}
		out[name] = f
	}
	return out
}
