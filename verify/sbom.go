package verify

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"strings"
	"testing/fstest"

	"github.com/imagebuild/imagebuild/sbom"
)

// checkSBOM checks doc, the SPDX document attached to the image, against
// the image's filesystem: every OS package and Python distribution the
// image holds is listed, and nothing is listed that is not there.
func checkSBOM(fsys fsys, doc []byte) Result {
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
	listed, err := sbom.Read(doc)
	if err != nil {
		return fail("the attached SBOM cannot be read: %v", err)
	}
	inv, err := sbom.Catalog(fsys.catalog())
	if err != nil {
		return fail("catalog the image: %v", err)
	}
	missing, extra := sbom.Diff(listed, inv.Packages)
	for _, m := range missing {
		res.Evidence = append(res.Evidence, "in the image, not in the SBOM: "+m)
	}
	for _, e := range extra {
		res.Evidence = append(res.Evidence, "in the SBOM, not in the image: "+e)
	}
	if len(missing)+len(extra) > 0 {
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
	res.Evidence = []string{fmt.Sprintf("the SBOM lists the %d packages the image holds (%s), and no other", len(inv.Packages), strings.Join(kinds, ", "))}
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
