package verify

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"go/build"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/imagebuild/imagebuild/internal/testenv"
)

// genLayer is a layer whose uncompressed tar is written as it is read, so
// that a test can give verify a file of any size without holding it.
type genLayer struct {
	name    string
	entries []genEntry
}

// genEntry is one entry of a genLayer: its header and, for a file, a
// function giving its content (Size bytes).
type genEntry struct {
	hdr  tar.Header
	body func() io.Reader
}

func (l *genLayer) Uncompressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for _, e := range l.entries {
			h := e.hdr
			if err := tw.WriteHeader(&h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if e.body != nil {
				if _, err := io.Copy(tw, e.body()); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr, nil
}

func (l *genLayer) hash() v1.Hash {
	sum := sha256.Sum256([]byte(l.name))
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
}

func (l *genLayer) Digest() (v1.Hash, error) { return l.hash(), nil }
func (l *genLayer) DiffID() (v1.Hash, error) { return l.hash(), nil }
func (l *genLayer) Compressed() (io.ReadCloser, error) {
	return nil, errors.New("a generated layer has no compressed form")
}
func (l *genLayer) Size() (int64, error)                { return 0, nil }
func (l *genLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }

// errGenerated is what a generated file returns when read past what a test
// allows: the reader went on where verify should have stopped.
var errGenerated = errors.New("the generated file was read past what the test allows")

// zeros is n zero bytes; reading more than max of them fails with
// errGenerated (max < 0: no bound).
type zeros struct {
	n, max, read int64
}

func (z *zeros) Read(p []byte) (int, error) {
	if z.read >= z.n {
		return 0, io.EOF
	}
	if z.max >= 0 && z.read >= z.max {
		return 0, errGenerated
	}
	k := min(int64(len(p)), z.n-z.read)
	if z.max >= 0 {
		k = min(k, z.max-z.read)
	}
	clear(p[:k])
	z.read += k
	return int(k), nil
}

// bigFile is a generated layer holding the regular file p of size zero
// bytes, max of which may be read (max < 0: all), with its folders.
func bigFile(p string, size, max int64) v1.Layer {
	var entries []genEntry
	dir := ""
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for _, d := range parts[:len(parts)-1] {
		dir += d + "/"
		entries = append(entries, genEntry{hdr: tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, Uid: 1000, Gid: 1000}})
	}
	entries = append(entries, genEntry{
		hdr:  tar.Header{Name: strings.TrimPrefix(p, "/"), Typeflag: tar.TypeReg, Mode: 0o755, Size: size, Uid: 1000, Gid: 1000},
		body: func() io.Reader { return &zeros{n: size, max: max} },
	})
	return &genLayer{name: p, entries: entries}
}

// piece is bytes at an offset of a generated file.
type piece struct {
	off  int64
	data []byte
}

// sparse is a file of size bytes holding pieces, zeros elsewhere.
func sparse(size int64, pieces ...piece) func() io.Reader {
	return func() io.Reader {
		ps := slices.Clone(pieces)
		sort.Slice(ps, func(i, j int) bool { return ps[i].off < ps[j].off })
		var rs []io.Reader
		at := int64(0)
		for _, p := range ps {
			rs = append(rs, &zeros{n: p.off - at, max: -1}, bytes.NewReader(p.data))
			at = p.off + int64(len(p.data))
		}
		rs = append(rs, &zeros{n: size - at, max: -1})
		return io.MultiReader(rs...)
	}
}

// elfFile is a little-endian ELF64 shared library of size bytes that needs
// the libraries needed: its program headers map the whole file at address
// 0, its dynamic section is at dynOff and its string table at strOff, and
// its section headers (.dynstr, .dynamic, .shstrtab) are at its end, where
// linkers put them, so that debug/elf reads it too.
func elfFile(needed []string, strOff, dynOff, size int64) func() io.Reader {
	le := binary.LittleEndian
	enc := func(v any) []byte {
		var b bytes.Buffer
		if err := binary.Write(&b, le, v); err != nil {
			panic(err)
		}
		return b.Bytes()
	}
	strtab := []byte{0}
	var dyn []elf.Dyn64
	for _, lib := range needed {
		dyn = append(dyn, elf.Dyn64{Tag: int64(elf.DT_NEEDED), Val: uint64(len(strtab))})
		strtab = append(append(strtab, lib...), 0)
	}
	dyn = append(dyn,
		elf.Dyn64{Tag: int64(elf.DT_STRTAB), Val: uint64(strOff)},
		elf.Dyn64{Tag: int64(elf.DT_STRSZ), Val: uint64(len(strtab))},
		elf.Dyn64{Tag: int64(elf.DT_NULL)})
	dynBytes := enc(dyn)
	shstr := []byte("\x00.dynstr\x00.dynamic\x00.shstrtab\x00")
	shoff := size - 4*64
	shstrOff := shoff - int64(len(shstr))
	hdr := elf.Header64{
		Type: uint16(elf.ET_DYN), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Phoff: 64, Shoff: uint64(shoff), Ehsize: 64, Phentsize: 56, Phnum: 2, Shentsize: 64, Shnum: 4, Shstrndx: 3,
	}
	copy(hdr.Ident[:], "\x7fELF")
	hdr.Ident[elf.EI_CLASS], hdr.Ident[elf.EI_DATA], hdr.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	progs := []elf.Prog64{
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W), Off: 0, Vaddr: 0, Filesz: uint64(size), Memsz: uint64(size), Align: 0x1000},
		{Type: uint32(elf.PT_DYNAMIC), Flags: uint32(elf.PF_R | elf.PF_W), Off: uint64(dynOff), Vaddr: uint64(dynOff), Filesz: uint64(len(dynBytes)), Memsz: uint64(len(dynBytes)), Align: 8},
	}
	sections := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_STRTAB), Flags: uint64(elf.SHF_ALLOC), Addr: uint64(strOff), Off: uint64(strOff), Size: uint64(len(strtab)), Addralign: 1},
		{Name: 9, Type: uint32(elf.SHT_DYNAMIC), Flags: uint64(elf.SHF_ALLOC | elf.SHF_WRITE), Addr: uint64(dynOff), Off: uint64(dynOff), Size: uint64(len(dynBytes)), Link: 1, Addralign: 8, Entsize: 16},
		{Name: 18, Type: uint32(elf.SHT_STRTAB), Off: uint64(shstrOff), Size: uint64(len(shstr)), Addralign: 1},
	}
	return sparse(size,
		piece{0, append(enc(hdr), enc(progs)...)},
		piece{strOff, strtab},
		piece{dynOff, dynBytes},
		piece{shstrOff, shstr},
		piece{shoff, enc(sections)},
	)
}

// elfLayer is a generated layer holding the ELF file p, owned by the
// runtime user.
func elfLayer(p string, size int64, body func() io.Reader) v1.Layer {
	return &genLayer{name: p, entries: []genEntry{
		{hdr: tar.Header{Name: strings.TrimPrefix(p, "/"), Typeflag: tar.TypeReg, Mode: 0o755, Size: size, Uid: 1000, Gid: 1000}, body: body},
	}}
}

// TestBoundedReads gives verify files larger than it reads of one file,
// or than it keeps in all, generated as they are read: it stops with an
// error naming the file and the limit rather than read on.
func TestBoundedReads(t *testing.T) {
	const gib = 1 << 30
	limit := fmt.Sprintf("%d MiB", maxRead>>20)
	site := "/opt/venv/lib/python3.12/site-packages/"
	var many []v1.Layer
	for i := range maxKept/(maxRead-1) + 1 {
		many = append(many, bigFile(fmt.Sprintf("%sd%d-1.0.dist-info/RECORD", site, i), maxRead-1, -1))
	}
	for _, tc := range []struct {
		name   string
		layers []v1.Layer
		want   []string
	}{
		{"a package database of 1 GiB", []v1.Layer{bigFile("/var/lib/dpkg/status", gib, maxRead+1<<20)},
			[]string{"/var/lib/dpkg/status", limit}},
		{"a pip config of 1 GiB", []v1.Layer{bigFile("/etc/pip.conf", gib, maxRead+1<<20)},
			[]string{"/etc/pip.conf", limit}},
		{"a RECORD of 1 GiB", []v1.Layer{bigFile(site+"x-1.0.dist-info/RECORD", gib, maxRead+1<<20)},
			[]string{site + "x-1.0.dist-info/RECORD", limit}},
		{"an ELF file whose string table is past what verify keeps", []v1.Layer{elfLayer("/opt/venv/lib/_big.so", 3*maxRead,
			elfFile([]string{"libimagebuild_gone.so.1"}, maxRead+4096, 2*maxRead, 3*maxRead))},
			[]string{"/opt/venv/lib/_big.so", limit}},
		{"files to keep of more than verify keeps in all", many,
			[]string{fmt.Sprintf("%d MiB", maxKept>>20)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testenv.Image(t, "appuser", append([]v1.Layer{baseLayer(t), appLayer(t)}, tc.layers...)...)
			_, err := Image(context.Background(), img, Options{})
			if err == nil {
				t.Fatalf("verify passed, want an error naming %q", tc.want)
			}
			if errors.Is(err, errGenerated) {
				t.Fatalf("verify read on past its limit: %v", err)
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestLargeELF: verify reads the libraries a large ELF file needs (its
// dynamic section near its end, as in a large C++ library) keeping no more
// than the start of the file, not the whole file.
func TestLargeELF(t *testing.T) {
	const size = 320 << 20
	img := testenv.Image(t, "appuser", baseLayer(t), appLayer(t),
		elfLayer("/opt/venv/lib/_large.so", size, elfFile([]string{"libimagebuild_gone.so.1"}, 4096, size-1<<20, size)))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := Image(context.Background(), img, Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	res := result(r, "shared libraries")
	if res.Status != Fail || !strings.Contains(strings.Join(res.Evidence, "\n"), "/opt/venv/lib/_large.so needs libimagebuild_gone.so.1") {
		t.Errorf("shared-library check: %s %q, want fail naming the library _large.so needs", res.Status, res.Evidence)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxRead+32<<20 {
		t.Errorf("verify allocated %d MiB to read a %d MiB ELF file, want at most %d MiB", alloc>>20, size>>20, (maxRead+32<<20)>>20)
	}
}

// TestReadELF: the dynamic section as verify reads it (through the
// program headers, as the loader does) is what debug/elf reads (through
// the section headers), for the fixtures and a crafted file.
func TestReadELF(t *testing.T) {
	files := map[string][]byte{}
	for _, name := range []string{"dep.so", "needs-gone.so", "needs-dep.so"} {
		files[name] = testenv.ELF(t, name)
	}
	dt, err := io.ReadAll(elfFile([]string{"liba.so.1", "libb.so.2"}, 200, 8192, 16384)())
	if err != nil {
		t.Fatal(err)
	}
	files["crafted"] = dt
	// Go's own test files: a 32-bit one among them.
	for _, name := range []string{"gcc-386-freebsd-exec", "gcc-amd64-linux-exec", "gcc-riscv64-linux-exec", "libtiffxx.so_"} {
		if dt, err := os.ReadFile(filepath.Join(build.Default.GOROOT, "src", "debug", "elf", "testdata", name)); err == nil {
			files[name] = dt
		}
	}
	for name, dt := range files {
		t.Run(name, func(t *testing.T) {
			f, err := elf.NewFile(bytes.NewReader(dt))
			if err != nil {
				t.Fatal(err)
			}
			want := &elfInfo{}
			want.needed, _ = f.DynString(elf.DT_NEEDED)
			want.rpath, _ = f.DynString(elf.DT_RPATH)
			want.runpath, _ = f.DynString(elf.DT_RUNPATH)
			got, err := (&scanner{}).readELF(bytes.NewReader(dt), int64(len(dt)), "/"+name)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				got = &elfInfo{}
			}
			split := func(ds []string) []string {
				var out []string
				for _, d := range ds {
					out = append(out, strings.Split(d, ":")...)
				}
				return out
			}
			want.rpath, want.runpath = split(want.rpath), split(want.runpath)
			if name == "gcc-386-freebsd-exec" && len(got.needed) == 0 {
				t.Errorf("readELF of a 32-bit file needs nothing, want its libc")
			}
			if fmt.Sprint(got.needed, got.rpath, got.runpath) != fmt.Sprint(want.needed, want.rpath, want.runpath) {
				t.Errorf("readELF: needed %q rpath %q runpath %q; debug/elf: needed %q rpath %q runpath %q",
					got.needed, got.rpath, got.runpath, want.needed, want.rpath, want.runpath)
			}
		})
	}
}

// TestSymlinkHops: verify follows at most 40 symbolic links to resolve a
// path, as Linux does, and says so when a path needs more: a loop, or a
// chain of 10,000 links.
func TestSymlinkHops(t *testing.T) {
	// A loop that makes each hop longer used to recurse without end.
	defer debug.SetMaxStack(debug.SetMaxStack(64 << 20))
	withHome := func(home string, files ...file) []v1.Layer {
		pw := strings.Replace(passwd, "/nonexistent", home, 1)
		return []v1.Layer{baseLayer(t), appLayer(t), testenv.Layer(t, append(files, file{Path: "/etc/passwd", Body: []byte(pw)})...)}
	}
	chain := func(prefix string, n int) []file {
		files := []file{{Path: "/realhome", Dir: true}}
		for i := range n {
			target := fmt.Sprintf("/%s%d", prefix, i+1)
			if i == n-1 {
				target = "/realhome"
			}
			files = append(files, file{Path: fmt.Sprintf("/%s%d", prefix, i), Link: target})
		}
		return files
	}
	for _, tc := range []struct {
		name     string
		layers   []v1.Layer
		evidence []string
	}{
		{"a loop that grows", withHome("/d/x/home", file{Path: "/d", Dir: true}, file{Path: "/d/x", Link: "x/x/x"}),
			[]string{"/d/x/home", "more than 40 symbolic links"}},
		{"a chain of 10,000 links", withHome("/l0", chain("l", 10000)...),
			[]string{"/l0", "more than 40 symbolic links"}},
		{"a chain of 40 links", withHome("/m0", chain("m", 40)...),
			[]string{"home /m0 exists"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, testenv.Image(t, "appuser", tc.layers...))
			res := result(r, "user has no home")
			ev := strings.Join(res.Evidence, "\n")
			if res.Status != Fail {
				t.Errorf("user shape check: %s %q, want fail", res.Status, res.Evidence)
			}
			for _, w := range tc.evidence {
				if !strings.Contains(ev, w) {
					t.Errorf("evidence %q does not say %q", res.Evidence, w)
				}
			}
		})
	}
}

// TestLoaderConfigIncludes: loader configurations that include each other
// are each read once, not once per way to reach them.
func TestLoaderConfigIncludes(t *testing.T) {
	fs := fsys{"/etc/ld.so.conf": {typ: tar.TypeReg, data: []byte("include /etc/ld.so.conf.d/*.conf\n")}}
	for i := range 12 {
		fs[fmt.Sprintf("/etc/ld.so.conf.d/%02d.conf", i)] = &node{typ: tar.TypeReg, data: fmt.Appendf(nil, "include /etc/ld.so.conf.d/*.conf\n/opt/lib%02d\n", i)}
	}
	dirs := loaderPaths(fs)
	for i := range 12 {
		d := fmt.Sprintf("/opt/lib%02d", i)
		if n := strings.Count(strings.Join(dirs, "\n")+"\n", d+"\n"); n != 1 {
			t.Errorf("%s is in the loader's folders %d times, want once", d, n)
		}
	}
}
