package verify

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/imagebuild/imagebuild/sbom"
)

// node is one path of the image's flattened filesystem: metadata only,
// plus the content of the few small files the checks read.
type node struct {
	typ      byte
	mode     int64
	uid, gid int
	link     string
	size     int64
	data     []byte // small text files the checks read
	elf      *elfInfo
}

type elfInfo struct {
	needed  []string
	rpath   []string
	runpath []string
}

// fsys is an image's flattened filesystem, by absolute clean path.
type fsys map[string]*node

// maxSmall is the size up to which a file's content is kept when a check
// may read it.
const maxSmall = 64 << 10

// scan flattens img's layers, streaming them once. Only metadata is kept,
// the content of small files the checks read, and the dynamic section of
// ELF files under the roots (each read alone, so memory is bounded by the
// largest such file, not by the image).
func scan(img v1.Image, roots []string) (fsys, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	fs := fsys{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read image filesystem: %w", err)
		}
		p := path.Clean("/" + h.Name)
		n := &node{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, link: h.Linkname, size: h.Size}
		if h.Typeflag == tar.TypeLink {
			n.link = path.Clean("/" + h.Linkname)
		}
		fs[p] = n
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch {
		case h.Size <= maxSmall && wantsContent(p), sbom.Reads(strings.TrimPrefix(p, "/")):
			if n.data, err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		case under(p, roots) && h.Size > 4:
			if err := readELF(tr, n); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
	}
}

func under(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// wantsContent tells whether a check reads the file at p.
func wantsContent(p string) bool {
	base := path.Base(p)
	switch {
	case p == "/etc/passwd", p == "/etc/group", p == "/etc/ld.so.conf",
		strings.HasPrefix(p, "/etc/ld.so.conf.d/"), strings.HasPrefix(p, "/etc/ld-musl-"):
		return true
	case base == "pip.conf", base == "pip.ini", base == ".netrc", base == ".pypirc",
		strings.HasPrefix(base, "id_rsa"), strings.HasPrefix(base, "id_ed25519"), strings.HasPrefix(base, "id_ecdsa"),
		strings.HasSuffix(base, ".pem"), strings.HasSuffix(base, ".key"):
		return true
	}
	return false
}

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

// readELF reads a file's dynamic section when it is an ELF file.
func readELF(r io.Reader, n *node) error {
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil {
		return err
	}
	if !bytes.Equal(head, elfMagic) {
		return nil
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f, err := elf.NewFile(bytes.NewReader(append(head, rest...)))
	if err != nil {
		return nil // not a well-formed ELF file: nothing to resolve
	}
	defer f.Close()
	info := &elfInfo{}
	info.needed, _ = f.DynString(elf.DT_NEEDED)
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		vals, _ := f.DynString(tag)
		var dirs []string
		for _, v := range vals {
			dirs = append(dirs, strings.Split(v, ":")...)
		}
		if tag == elf.DT_RPATH {
			info.rpath = dirs
		} else {
			info.runpath = dirs
		}
	}
	if len(info.needed) > 0 {
		n.elf = info
	}
	return nil
}

// resolve follows symlinks in the image to the node p names; ok is false
// when p or a link on the way does not exist.
func (fs fsys) resolve(p string) (string, *node, bool) {
	for range 40 {
		dir, file := path.Split(path.Clean(p))
		dir = path.Clean(dir)
		if dir != "/" {
			// A folder a layer's tar does not list is a plain folder.
			if rd, dn, ok := fs.resolve(dir); ok {
				if dn.typ != tar.TypeDir {
					return "", nil, false
				}
				dir = rd
			}
		}
		p = path.Join(dir, file)
		n, ok := fs[p]
		if !ok {
			if p == "/" {
				return "/", &node{typ: tar.TypeDir}, true
			}
			return "", nil, false
		}
		switch n.typ {
		case tar.TypeSymlink:
			if path.IsAbs(n.link) {
				p = n.link
			} else {
				p = path.Join(dir, n.link)
			}
		case tar.TypeLink:
			p = n.link
		default:
			return p, n, true
		}
	}
	return "", nil, false
}
