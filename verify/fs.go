package verify

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/imagebuild/imagebuild/sbom"
)

// Limits on what verify reads of an image, so that a crafted image cannot
// run it out of memory or time.
const (
	// maxRead is the most verify keeps of one file. A file whose content
	// a check reads (/etc/passwd, the loader's and pip's configs,
	// credential files, requirements files, package databases, a
	// distribution's METADATA and RECORD) must be no larger; of an ELF
	// file, verify keeps at most this much of its start, where its
	// dynamic string table must lie unless it comes after its dynamic
	// section.
	maxRead = 64 << 20
	// maxKept is the most file content verify keeps in all.
	maxKept = 256 << 20
	// maxLinks is the most symbolic links verify follows to resolve one
	// path, as Linux does before it gives up with ELOOP.
	maxLinks = 40
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
	sha256   string // hex, for the files a check hashes
}

type elfInfo struct {
	needed  []string
	rpath   []string
	runpath []string
}

// fsys is an image's flattened filesystem, by absolute clean path.
type fsys map[string]*node

// scanner reads an image's flattened filesystem into an fsys.
type scanner struct {
	// roots are the folders whose ELF files' dynamic sections are read.
	roots []string
	// content are files, besides those wantsContent names, whose content
	// a check reads.
	content map[string]bool
	// hash are the files whose SHA-256 is computed.
	hash map[string]bool
	// kept is how much file content has been kept (see maxKept).
	kept int64
	// buf is the start of the ELF file being read, reused from one file
	// to the next.
	buf []byte
}

// scan flattens img's layers, streaming them once. Only metadata is kept,
// the content of small files the checks read, the dynamic section of ELF
// files under the roots (each read alone, keeping at most maxRead of it),
// and the SHA-256 of the files s.hash names.
func (s *scanner) scan(img v1.Image) (fsys, error) {
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
		var r io.Reader = tr
		var sum hash.Hash
		if s.hash[p] {
			sum = sha256.New()
			r = io.TeeReader(tr, sum)
		}
		switch {
		case wantsContent(p) || s.content[p] || sbom.Reads(strings.TrimPrefix(p, "/")):
			if h.Size > maxRead {
				return nil, fmt.Errorf("%s is %s, more than the %d MiB verify reads of one file", p, mib(h.Size), maxRead>>20)
			}
			if err := s.keep(p, h.Size); err != nil {
				return nil, err
			}
			n.data = make([]byte, h.Size)
			if _, err := io.ReadFull(r, n.data); err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
		case under(p, s.roots) && h.Size > 4:
			if n.elf, err = s.readELF(r, h.Size, p); err != nil {
				return nil, err
			}
		}
		if sum != nil {
			if _, err := io.Copy(sum, tr); err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			n.sha256 = hex.EncodeToString(sum.Sum(nil))
		}
	}
}

// keep counts n more bytes kept of the file p, failing past maxKept.
func (s *scanner) keep(p string, n int64) error {
	if s.kept+n > maxKept {
		return fmt.Errorf("%s: the files verify reads hold more than the %d MiB it keeps in all", p, maxKept>>20)
	}
	s.kept += n
	return nil
}

// hashFiles computes the SHA-256 of the regular files of img at paths,
// streaming its layers again: the files a check hashes that it only knew
// of after a first scan (the targets of links).
func hashFiles(img v1.Image, fs fsys, paths map[string]bool) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read image filesystem: %w", err)
		}
		p := path.Clean("/" + h.Name)
		if h.Typeflag != tar.TypeReg || !paths[p] || fs[p] == nil {
			continue
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		fs[p].sha256 = hex.EncodeToString(sum.Sum(nil))
	}
}

// mib writes n bytes in MiB, rounded up, as the limits are written.
func mib(n int64) string {
	return fmt.Sprintf("%d MiB", (n+1<<20-1)>>20)
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
	case base == "pyvenv.cfg", base == "WHEEL" && path.Ext(path.Dir(p)) == ".dist-info":
		return true
	case base == "pip.conf", base == "pip.ini", base == ".netrc", base == ".pypirc",
		requirementsFile(base),
		strings.HasPrefix(base, "id_rsa"), strings.HasPrefix(base, "id_ed25519"), strings.HasPrefix(base, "id_ecdsa"),
		strings.HasSuffix(base, ".pem"), strings.HasSuffix(base, ".key"):
		return true
	}
	return false
}

// requirementsFile tells whether base names a pip requirements or
// constraints file: requirements.txt, requirements-dev.txt, constraints.txt.
func requirementsFile(base string) bool {
	return (strings.HasPrefix(base, "requirements") || strings.HasPrefix(base, "constraints")) && strings.HasSuffix(base, ".txt")
}

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

// errBadELF says that a file is not an ELF file verify can read; it
// resolves nothing.
var errBadELF = errors.New("not a well-formed ELF file")

// elfReader reads an ELF file from a stream, forward only, keeping its
// first bytes (up to maxRead).
type elfReader struct {
	r    io.Reader
	p    string
	size int64
	head []byte // the file's first bytes, as read so far
	pos  int64  // how much of the file has been read
}

// bytes returns the n bytes at off, what: from the start that is kept, or
// read on to them. What lies before where the stream is, past what is
// kept, is an error naming the limit.
func (e *elfReader) bytes(off, n int64, what string) ([]byte, error) {
	if off < 0 || n < 0 || n > e.size || off > e.size-n {
		return nil, errBadELF
	}
	end := off + n
	if end <= maxRead {
		if err := e.fill(end); err != nil {
			return nil, err
		}
		return e.head[off:end], nil
	}
	if n > maxRead {
		return nil, fmt.Errorf("%s: its %s is %s, more than the %d MiB verify reads of one file", e.p, what, mib(n), maxRead>>20)
	}
	if err := e.fill(maxRead); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	k := 0
	if off < maxRead {
		k = copy(b, e.head[off:])
		off = maxRead
	}
	if off < e.pos {
		return nil, fmt.Errorf("%s: its %s is at byte %d, before what verify read to find it and past the first %d MiB it keeps of an ELF file", e.p, what, off, maxRead>>20)
	}
	if _, err := io.CopyN(io.Discard, e.r, off-e.pos); err != nil {
		return nil, fmt.Errorf("read %s: %w", e.p, err)
	}
	if _, err := io.ReadFull(e.r, b[k:]); err != nil {
		return nil, fmt.Errorf("read %s: %w", e.p, err)
	}
	e.pos = end
	return b, nil
}

// fill reads the file on to end (at most maxRead), keeping what it reads.
func (e *elfReader) fill(end int64) error {
	if end <= e.pos {
		return nil
	}
	k := int(end - e.pos)
	e.head = slices.Grow(e.head, k)
	if _, err := io.ReadFull(e.r, e.head[len(e.head):len(e.head)+k]); err != nil {
		return fmt.Errorf("read %s: %w", e.p, err)
	}
	e.head = e.head[:len(e.head)+k]
	e.pos = end
	return nil
}

// readELF reads what the dynamic loader reads of the ELF file r (size
// bytes) at p: its program headers, its dynamic section (PT_DYNAMIC) and
// the string table that names (DT_STRTAB), for the libraries the file
// needs and its RPATH and RUNPATH. It reads r once, forward, keeping at
// most the first maxRead bytes; nil, nil when r is not an ELF file, is
// not well formed, or needs nothing.
func (s *scanner) readELF(r io.Reader, size int64, p string) (*elfInfo, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if !bytes.Equal(magic[:], elfMagic) {
		return nil, nil
	}
	if want := int(min(size, maxRead)); cap(s.buf) < want {
		s.buf = make([]byte, 0, want)
	}
	e := &elfReader{r: r, p: p, size: size, head: append(s.buf[:0], magic[:]...), pos: 4}
	defer func() { s.buf = e.head[:0] }()
	info, err := s.dynamic(e)
	if errors.Is(err, errBadELF) {
		return nil, nil
	}
	return info, err
}

func (s *scanner) dynamic(e *elfReader) (*elfInfo, error) {
	ident, err := e.bytes(0, elf.EI_NIDENT, "header")
	if err != nil {
		return nil, err
	}
	var bo binary.ByteOrder
	switch elf.Data(ident[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return nil, errBadELF
	}
	is64 := elf.Class(ident[elf.EI_CLASS]) == elf.ELFCLASS64
	if !is64 && elf.Class(ident[elf.EI_CLASS]) != elf.ELFCLASS32 {
		return nil, errBadELF
	}
	// The ELF header's program header table: offset, entry size, count.
	var phoff uint64
	var phentsize, phnum uint16
	minEnt, dynEnt := uint16(32), int64(8)
	if is64 {
		h, err := e.bytes(0, 64, "header")
		if err != nil {
			return nil, err
		}
		phoff, phentsize, phnum = bo.Uint64(h[32:]), bo.Uint16(h[54:]), bo.Uint16(h[56:])
		minEnt, dynEnt = 56, 16
	} else {
		h, err := e.bytes(0, 52, "header")
		if err != nil {
			return nil, err
		}
		phoff, phentsize, phnum = uint64(bo.Uint32(h[28:])), bo.Uint16(h[42:]), bo.Uint16(h[44:])
	}
	if phentsize < minEnt || phnum == 0 || phoff > uint64(e.size) {
		return nil, errBadELF
	}
	table, err := e.bytes(int64(phoff), int64(phnum)*int64(phentsize), "program header table")
	if err != nil {
		return nil, err
	}
	type segment struct{ off, vaddr, filesz uint64 }
	var loads []segment
	var dyn *segment
	for i := range int(phnum) {
		ph := table[i*int(phentsize):]
		var typ uint32
		var sg segment
		if is64 {
			typ, sg = bo.Uint32(ph), segment{bo.Uint64(ph[8:]), bo.Uint64(ph[16:]), bo.Uint64(ph[32:])}
		} else {
			typ, sg = bo.Uint32(ph), segment{uint64(bo.Uint32(ph[4:])), uint64(bo.Uint32(ph[8:])), uint64(bo.Uint32(ph[16:]))}
		}
		switch elf.ProgType(typ) {
		case elf.PT_LOAD:
			loads = append(loads, sg)
		case elf.PT_DYNAMIC:
			if dyn == nil {
				dyn = &sg
			}
		}
	}
	if dyn == nil || dyn.off > uint64(e.size) || dyn.filesz > uint64(e.size) {
		return nil, errBadELF // no dynamic section: a static file needs nothing
	}
	section, err := e.bytes(int64(dyn.off), int64(dyn.filesz), "dynamic section")
	if err != nil {
		return nil, err
	}
	var needed, rpath, runpath []uint64
	var strAddr, strSize uint64
	for i := int64(0); i+dynEnt <= int64(len(section)); i += dynEnt {
		var tag, val uint64
		if is64 {
			tag, val = bo.Uint64(section[i:]), bo.Uint64(section[i+8:])
		} else {
			tag, val = uint64(bo.Uint32(section[i:])), uint64(bo.Uint32(section[i+4:]))
		}
		switch elf.DynTag(tag) {
		case elf.DT_NULL:
			i = int64(len(section))
		case elf.DT_NEEDED:
			needed = append(needed, val)
		case elf.DT_RPATH:
			rpath = append(rpath, val)
		case elf.DT_RUNPATH:
			runpath = append(runpath, val)
		case elf.DT_STRTAB:
			strAddr = val
		case elf.DT_STRSZ:
			strSize = val
		}
	}
	if len(needed) == 0 {
		return nil, nil
	}
	// DT_STRTAB is an address: the loaded segment that holds it gives
	// its place in the file.
	strOff, found := uint64(0), false
	for _, l := range loads {
		if strAddr >= l.vaddr && strAddr-l.vaddr < l.filesz {
			strOff, found = l.off+(strAddr-l.vaddr), true
			break
		}
	}
	if !found || strOff > uint64(e.size) || strSize > uint64(e.size) {
		return nil, errBadELF
	}
	tab, err := e.bytes(int64(strOff), int64(strSize), "dynamic string table")
	if err != nil {
		return nil, err
	}
	// Each string is charged to what verify keeps, and the search for
	// its end to what it reads of the file, so that many entries naming
	// one long string stay bounded.
	var scanned int64
	str := func(v uint64) (string, error) {
		if v >= uint64(len(tab)) {
			return "", errBadELF
		}
		i := bytes.IndexByte(tab[v:], 0)
		if i < 0 {
			return "", errBadELF
		}
		scanned += int64(i) + 1
		if scanned > maxRead {
			return "", fmt.Errorf("%s: its dynamic section names more than %d MiB of strings, the most verify reads of one file", e.p, maxRead>>20)
		}
		if err := s.keep(e.p, int64(i)); err != nil {
			return "", err
		}
		return string(tab[v : v+uint64(i)]), nil
	}
	info := &elfInfo{}
	for _, v := range needed {
		lib, err := str(v)
		if err != nil {
			return nil, err
		}
		info.needed = append(info.needed, lib)
	}
	for _, l := range []struct {
		vals []uint64
		dirs *[]string
	}{{rpath, &info.rpath}, {runpath, &info.runpath}} {
		for _, v := range l.vals {
			dirs, err := str(v)
			if err != nil {
				return nil, err
			}
			*l.dirs = append(*l.dirs, strings.Split(dirs, ":")...)
		}
	}
	return info, nil
}

// errLoop is what resolve returns for a path that needs more than
// maxLinks symbolic links.
type errLoop struct{ path string }

func (e *errLoop) Error() string {
	return fmt.Sprintf("%s: more than %d symbolic links on the way (verify follows at most %d, as Linux does)", e.path, maxLinks, maxLinks)
}

// resolve follows links in the image to the node p names, one component
// at a time, as the kernel does: a symbolic link's target is resolved from
// the folder that holds it (from / when absolute), ".." from the folder
// reached, and at most maxLinks links are followed in all, else an
// *errLoop. A folder the layers' tars do not list is a plain folder. The
// node is nil when p, or a folder on the way, does not exist.
func (fs fsys) resolve(p string) (string, *node, error) {
	todo := strings.Split(p, "/")
	cur := "/"
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		n, ok := fs[next]
		switch {
		case !ok:
			if len(todo) == 0 || allDots(todo) {
				return "", nil, nil
			}
			cur = next
		case n.typ == tar.TypeSymlink || n.typ == tar.TypeLink:
			if links++; links > maxLinks {
				return "", nil, &errLoop{path: p}
			}
			target := n.link
			if path.IsAbs(target) {
				cur = "/"
			}
			todo = append(strings.Split(target, "/"), todo...)
		case n.typ == tar.TypeDir:
			cur = next
		default:
			if len(todo) > 0 && !allDots(todo) {
				return "", nil, nil // a file is no folder
			}
			cur = next
		}
	}
	if cur == "/" {
		if n, ok := fs["/"]; ok {
			return "/", n, nil
		}
		return "/", &node{typ: tar.TypeDir}, nil
	}
	n, ok := fs[cur]
	if !ok {
		// A folder on the way that the tars do not list.
		return cur, &node{typ: tar.TypeDir}, nil
	}
	return cur, n, nil
}

// allDots tells whether the path components cs are all empty or ".".
func allDots(cs []string) bool {
	for _, c := range cs {
		if c != "" && c != "." {
			return false
		}
	}
	return true
}
