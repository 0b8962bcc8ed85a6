package oci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ExtractOptions say how [Extract] unpacks a tar stream.
type ExtractOptions struct {
	// Chown gives each entry the owner (uid and gid) its header names,
	// which needs root; without it, what is extracted belongs to the
	// caller.
	Chown bool
	// RootFS reads the stream as an image's root filesystem: its
	// symlinks are created as they are written, absolute ones and ones
	// through ".." included, since they point into the image's root, not
	// the host's, and the extended attributes entries carry (file
	// capabilities, say) are set. Without it a symlink must point down,
	// to a relative path without "..", so that nothing read from the
	// destination later leads out of it either. Either way no symlink is
	// followed out of the destination while extracting.
	RootFS bool
	// Keep, when not nil, is asked about each entry, its name cleaned
	// and relative to the destination; an entry it does not keep is
	// skipped.
	Keep func(h *tar.Header) bool
}

// ErrUnsafeEntry is returned (wrapped) by [Extract] for an entry it
// refuses: a name or a link that leads out of the destination, or an entry
// that is not a file, a folder or a link.
var ErrUnsafeEntry = errors.New("unsafe tar entry")

// Extract unpacks the uncompressed tar stream r into the directory dir,
// made if missing, keeping each entry's mode and times, and where opt says
// so, its owner. It writes only inside dir: every entry is created through
// an [os.Root] opened on dir, so no symlink, in the stream or already in
// dir, leads a write out of it. It refuses, with an error wrapping
// [ErrUnsafeEntry], an entry whose name or hard link leaves dir, a symlink
// that points out of dir (unless opt.RootFS) and any entry that is not a
// regular file, a folder, a symlink or a hard link, such as a device or a
// fifo. What it extracted before an error stays in dir.
func Extract(r io.Reader, dir string, opt ExtractOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer root.Close()
	x := extractor{root: root, opt: opt}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar stream: %w", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		if name == "." {
			// The destination itself: it is there already.
			continue
		}
		h.Name = name
		if opt.Keep != nil && !opt.Keep(h) {
			continue
		}
		if err := x.entry(h, tr); err != nil {
			return fmt.Errorf("extract %q: %w", name, err)
		}
	}
	return x.finishDirs()
}

// extractor writes a tar stream's entries into a root.
type extractor struct {
	root *os.Root
	opt  ExtractOptions
	// dirs are the folders' headers, whose modes and times are set last:
	// a file written into a folder changes the folder's time, and a
	// read-only folder must still take its files.
	dirs []*tar.Header
}

// entryName cleans name, a tar entry's name, into a path relative to the
// destination: a leading "/" is dropped, as tar does; a name that leaves
// the destination through ".." is refused.
func entryName(name string) (string, error) {
	clean := strings.TrimLeft(filepath.Clean(filepath.FromSlash(name)), string(filepath.Separator))
	if clean == "" {
		return ".", nil
	}
	if !filepath.IsLocal(clean) {
		return "", fmt.Errorf("extract %q: %w: the name leads out of the destination", name, ErrUnsafeEntry)
	}
	return clean, nil
}

// entry writes the entry h, whose name is cleaned, reading a file's body
// from r.
func (x *extractor) entry(h *tar.Header, r io.Reader) error {
	name := h.Name
	if err := x.root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	// What the stream wrote before at this name is replaced, except a
	// folder that is a folder again: its entries stay.
	if fi, err := x.root.Lstat(name); err == nil && (!fi.IsDir() || h.Typeflag != tar.TypeDir) {
		if err := x.root.RemoveAll(name); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := x.root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if x.opt.Chown {
			if err := x.root.Lchown(name, h.Uid, h.Gid); err != nil {
				return err
			}
		}
		x.dirs = append(x.dirs, h)
		return nil
	case tar.TypeReg:
		if isSparse(h) {
			// A few bytes of a sparse entry unpack to as many zeros as
			// its header says; neither a layout nor an export holds one.
			return fmt.Errorf("%w: a sparse file; only files, folders, symlinks and hard links are extracted", ErrUnsafeEntry)
		}
		return x.file(h, r)
	case tar.TypeSymlink:
		if !x.opt.RootFS && !pointsDown(h.Linkname) {
			return fmt.Errorf("%w: a symlink to %q, which points out of the destination (a link in an OCI layout must point down, not to an absolute path or through \"..\")", ErrUnsafeEntry, h.Linkname)
		}
		if err := x.root.Symlink(h.Linkname, name); err != nil {
			return err
		}
		if x.opt.Chown {
			if err := x.root.Lchown(name, h.Uid, h.Gid); err != nil {
				return err
			}
		}
		return lchtimes(x.root, name, atime(h), boundTime(h.ModTime))
	case tar.TypeLink:
		// A hard link shares its target's inode, and so its owner, mode
		// and times, already set from the target's entry.
		target, err := entryName(h.Linkname)
		if err != nil || target == "." {
			return fmt.Errorf("%w: a hard link to %q, which is not a file in the destination", ErrUnsafeEntry, h.Linkname)
		}
		return x.root.Link(target, name)
	default:
		return fmt.Errorf("%w: %s; only files, folders, symlinks and hard links are extracted", ErrUnsafeEntry, typeName(h.Typeflag))
	}
}

// file writes the regular file h with its body from r.
func (x *extractor) file(h *tar.Header, r io.Reader) error {
	f, err := x.root.OpenFile(h.Name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil && x.opt.Chown {
		err = f.Chown(h.Uid, h.Gid)
	}
	if err == nil && x.opt.RootFS {
		err = setXattrs(f, h)
	}
	if err == nil {
		// After chown, which clears the setuid and setgid bits.
		err = f.Chmod(mode(h))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return x.root.Chtimes(h.Name, atime(h), boundTime(h.ModTime))
}

// finishDirs sets the folders' extended attributes, modes and times,
// deepest first.
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		h := x.dirs[i]
		if fi, err := x.root.Lstat(h.Name); err != nil || !fi.IsDir() {
			continue // replaced by a later entry
		}
		d, err := x.root.Open(h.Name)
		if err != nil {
			return fmt.Errorf("extract %q: %w", h.Name, err)
		}
		if x.opt.RootFS {
			err = setXattrs(d, h)
		}
		if err == nil {
			err = d.Chmod(mode(h))
		}
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = x.root.Chtimes(h.Name, atime(h), boundTime(h.ModTime))
		}
		if err != nil {
			return fmt.Errorf("extract %q: %w", h.Name, err)
		}
	}
	return nil
}

// pointsDown reports whether the symlink target stays under the link's
// folder: relative, not empty, and without a ".." component. Checking the
// cleaned path would not do: "a/.." is the link's folder's parent where a
// is a symlink to ".".
func pointsDown(target string) bool {
	if target == "" || filepath.IsAbs(target) {
		return false
	}
	for _, c := range strings.Split(filepath.ToSlash(target), "/") {
		if c == ".." {
			return false
		}
	}
	return true
}

// isSparse reports whether h is a regular file in one of the PAX formats
// of sparse files, which the tar reader expands.
func isSparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// mode returns the permission, setuid, setgid and sticky bits of h.
func mode(h *tar.Header) os.FileMode {
	return h.FileInfo().Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
}

// atime returns h's access time, its modification time where it has none
// or an earlier one, as go-archive sets it.
func atime(h *tar.Header) time.Time {
	if h.AccessTime.After(h.ModTime) {
		return boundTime(h.AccessTime)
	}
	return boundTime(h.ModTime)
}

var (
	unixEpoch = time.Unix(0, 0)
	unixMax   = time.Unix(0, 1<<63-1)
)

// boundTime returns t where a file's time can hold it, else the Unix
// epoch.
func boundTime(t time.Time) time.Time {
	if t.Before(unixEpoch) || t.After(unixMax) {
		return unixEpoch
	}
	return t
}

// typeName names an entry type that is not extracted.
func typeName(flag byte) string {
	switch flag {
	case tar.TypeChar:
		return "a character device"
	case tar.TypeBlock:
		return "a block device"
	case tar.TypeFifo:
		return "a fifo"
	case tar.TypeGNUSparse:
		return "a sparse file"
	default:
		return fmt.Sprintf("an entry of type %q", flag)
	}
}
