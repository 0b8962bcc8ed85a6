package reffs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	gateway "github.com/moby/buildkit/frontend/gateway/client"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// New returns the filesystem of ref, a build's result, as the daemon serves
// it to a client-side build: read-only, file by file, each call a round
// trip to the daemon.
func New(ctx context.Context, ref gateway.Reference) fs.FS {
	return refFS{ctx: ctx, ref: ref}
}

// refFS is the filesystem of a build's result: see [New].
type refFS struct {
	ctx context.Context
	ref gateway.Reference
}

var (
	_ fs.ReadFileFS = refFS{}
	_ fs.ReadDirFS  = refFS{}
	_ fs.StatFS     = refFS{}
)

func (f refFS) abs(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return path.Join("/", name), nil
}

// notExist turns the daemon's answer for a missing path into fs.ErrNotExist.
func notExist(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: errors.Join(fs.ErrNotExist, err)}
}

func (f refFS) Stat(name string) (fs.FileInfo, error) {
	p, err := f.abs("stat", name)
	if err != nil {
		return nil, err
	}
	st, err := f.ref.StatFile(f.ctx, gateway.StatRequest{Path: p})
	if err != nil {
		return nil, notExist("stat", name, err)
	}
	return statInfo{st: st, name: path.Base(p)}, nil
}

func (f refFS) ReadFile(name string) ([]byte, error) {
	p, err := f.abs("read", name)
	if err != nil {
		return nil, err
	}
	dt, err := ReadFile(f.ctx, f.ref, p)
	if err != nil {
		return nil, notExist("read", name, err)
	}
	return dt, nil
}

func (f refFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.abs("readdir", name)
	if err != nil {
		return nil, err
	}
	sts, err := f.ref.ReadDir(f.ctx, gateway.ReadDirRequest{Path: p})
	if err != nil {
		return nil, notExist("readdir", name, err)
	}
	out := make([]fs.DirEntry, 0, len(sts))
	for _, st := range sts {
		out = append(out, fs.FileInfoToDirEntry(statInfo{st: st, name: path.Base(st.Path)}))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func (f refFS) Open(name string) (fs.File, error) {
	info, err := f.Stat(name)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		entries, err := f.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return &refDir{info: info, entries: entries}, nil
	}
	dt, err := f.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return &refFile{info: info, Reader: bytes.NewReader(dt)}, nil
}

// statInfo is a daemon's stat of a path as an fs.FileInfo.
type statInfo struct {
	st   *fstypes.Stat
	name string
}

func (s statInfo) Name() string       { return s.name }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) Mode() fs.FileMode  { return fs.FileMode(s.st.Mode) }
func (s statInfo) ModTime() time.Time { return time.Unix(0, s.st.ModTime) }
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return s.st }

type refFile struct {
	info fs.FileInfo
	*bytes.Reader
}

func (f *refFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *refFile) Close() error               { return nil }

type refDir struct {
	info    fs.FileInfo
	entries []fs.DirEntry
}

func (d *refDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *refDir) Close() error               { return nil }
func (d *refDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

func (d *refDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}

// ReadFile reads the whole file path from ref, past the daemon's cap on one
// read: a chunk at a time until one comes back short, so a small file is
// one round trip.
func ReadFile(ctx context.Context, ref gateway.Reference, path string) ([]byte, error) {
	const chunk = 8 << 20
	var out []byte
	for off := 0; ; off += chunk {
		dt, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: path, Range: &gateway.FileRange{Offset: off, Length: chunk}})
		if err != nil {
			return nil, err
		}
		out = append(out, dt...)
		if len(dt) < chunk {
			return out, nil
		}
	}
}
