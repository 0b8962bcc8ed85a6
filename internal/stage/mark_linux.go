package stage

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// mark sets markAttr on the folder dir. A file system without user
// extended attributes leaves it unmarked: it is then replaced only when
// empty.
func mark(dir string) error {
	err := unix.Lsetxattr(dir, markAttr, []byte("1"), 0)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	return err
}

// marked tells whether dir carries markAttr.
func marked(dir string) bool {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(dir, markAttr, buf)
	return err == nil && n == 1 && buf[0] == '1'
}

// swap exchanges the folders at a and b in one step (renameat2's
// RENAME_EXCHANGE), so b is never absent.
func swap(a, b string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("swap %s into place: %w", b, err)
	}
	return nil
}
