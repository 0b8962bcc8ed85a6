package publish

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LinkBlobs hard-links every blob of the OCI layout directory src into the
// layout directory dst, or copies it where a link cannot be made (another
// filesystem): the one way blobs go from one layout to another, as a build
// starts a layout from the one it replaces and as [Assemble] gathers
// several. A blob dst already has is kept; a src without blobs, or without
// a folder at all, adds none.
func LinkBlobs(src, dst string) error {
	from := filepath.Join(src, "blobs", "sha256")
	entries, err := os.ReadDir(from)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	to := filepath.Join(dst, "blobs", "sha256")
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		a, b := filepath.Join(from, e.Name()), filepath.Join(to, e.Name())
		if _, err := os.Lstat(b); err == nil {
			continue
		}
		if os.Link(a, b) == nil {
			continue
		}
		if err := copyFile(a, b); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies the file from to the new file to.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
