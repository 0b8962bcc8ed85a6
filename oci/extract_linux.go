package oci

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// lchtimes sets the times of the symlink name in root, not of what it
// points to: through its folder, opened in root, and the link's own name.
func lchtimes(root *os.Root, name string, atime, mtime time.Time) error {
	d, err := root.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(int(d.Fd()), filepath.Base(name), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lchtimes", Path: name, Err: err}
	}
	return nil
}

// xattrPrefix is the prefix of the PAX records that carry extended
// attributes, as go-archive and GNU tar write them.
const xattrPrefix = "SCHILY.xattr."

// setXattrs sets on f the extended attributes h carries (file
// capabilities, say). A filesystem that does not take one, or a caller not
// allowed to set it, leaves it out, as go-archive does.
func setXattrs(f *os.File, h *tar.Header) error {
	for key, value := range h.PAXRecords {
		attr, ok := strings.CutPrefix(key, xattrPrefix)
		if !ok {
			continue
		}
		err := unix.Fsetxattr(int(f.Fd()), attr, []byte(value), 0)
		if err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return &os.PathError{Op: "setxattr " + attr, Path: h.Name, Err: err}
		}
	}
	return nil
}
