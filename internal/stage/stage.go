// Package stage writes files and folders whole: each is made beside where
// it goes, under a hidden name, and moved into place only when every one of
// a set is made, so a reader sees the old or the new, never part of one, and
// a failure before the move leaves nothing behind. It is imagebuild's one
// writer of outputs: image tarballs and layouts, metadata files, rewritten
// Go sources.
package stage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Set is a set of files and folders staged together. The zero Set is
// ready to use.
type Set struct {
	moves   []move
	cleanup []string
	done    []string
}

type move struct {
	from, to string
	// name is the path as it was given.
	name string
	mode fs.FileMode
	dir  bool
}

// File creates a file, open for writing, that becomes path on [Set.Commit]
// with mode. The caller writes and closes it.
func (s *Set) File(path string, mode fs.FileMode) (*os.File, error) {
	dest, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-*")
	if err != nil {
		return nil, err
	}
	s.cleanup = append(s.cleanup, f.Name())
	s.moves = append(s.moves, move{from: f.Name(), to: dest, name: path, mode: mode})
	return f, nil
}

// Bytes stages dt as the file path, with mode, written now.
func (s *Set) Bytes(path string, dt []byte, mode fs.FileMode) error {
	f, err := s.File(path, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(dt); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Dir creates an empty folder that becomes path on [Set.Commit], mode
// 0755, and returns its name. A folder already at path is replaced only
// when [Replaceable] allows it: absent, empty, or made by an earlier Dir;
// the two are swapped in one step where the system can (see swap), so path
// always holds the old folder or the new one, and only then is the old one
// removed. Dir marks the folder it makes (see [Replaceable]).
func (s *Set) Dir(path string) (string, error) {
	dest, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-*")
	if err != nil {
		return "", err
	}
	s.cleanup = append(s.cleanup, dir)
	s.moves = append(s.moves, move{from: dir, to: dest, name: path, mode: 0o755, dir: true})
	return dir, nil
}

// Path is where path is being made until it is committed; "" when it is
// not staged.
func (s *Set) Path(path string) string {
	dest, _ := filepath.Abs(path)
	for _, m := range s.moves {
		if m.to == dest {
			return m.from
		}
	}
	return ""
}

// Commit moves everything staged into place, in the order it was staged.
// It tries every move and returns what failed, joined; [Set.Committed]
// then names what was moved.
func (s *Set) Commit() error {
	var errs []error
	for _, m := range s.moves {
		if err := m.commit(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
			continue
		}
		s.done = append(s.done, m.name)
	}
	s.moves = nil
	return errors.Join(errs...)
}

// Committed names the paths Commit moved into place, as they were given,
// in order.
func (s *Set) Committed() []string { return s.done }

func (m move) commit() error {
	if err := os.Chmod(m.from, m.mode); err != nil {
		return err
	}
	if m.dir {
		return replaceDir(m.from, m.to)
	}
	return replaceFile(m.from, m.to)
}

// replaceDir moves the folder from to to, which must be [Replaceable]: an
// empty folder there is removed first; a folder Dir made earlier is swapped
// with from and then removed.
func replaceDir(from, to string) error {
	if err := mark(from); err != nil {
		return fmt.Errorf("mark %s as imagebuild's: %w", from, err)
	}
	entries, err := os.ReadDir(to)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.Rename(from, to)
	case err != nil:
		return err
	case len(entries) == 0:
		if err := os.Remove(to); err != nil {
			return err
		}
		return os.Rename(from, to)
	}
	if err := Replaceable(to); err != nil {
		return err
	}
	if err := swap(from, to); err != nil {
		return err
	}
	// from now holds the old folder, which an earlier Dir made.
	return os.RemoveAll(from)
}

// markAttr is the extended attribute Dir sets on the folders it makes.
const markAttr = "user.imagebuild.output"

// ErrNotOurs is returned (wrapped) by [Replaceable] for a folder that holds
// files and was not made by [Set.Dir].
var ErrNotOurs = errors.New("holds files imagebuild did not write")

// Replaceable reports whether a folder Dir stages may replace path: path
// does not exist, is an empty folder, or is a folder an earlier Dir made
// (marked with the extended attribute user.imagebuild.output, which moves
// with the folder and is not among its files). Anything else is an error:
// imagebuild never deletes what it did not write.
func Replaceable(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	if len(entries) == 0 || marked(path) {
		return nil
	}
	return fmt.Errorf("%s %w (%s, ...); name a new or empty folder, or remove it yourself", path, ErrNotOurs, entries[0].Name())
}

// replaceFile renames the file from to to. A regular file already at to is
// moved aside first and removed after: renaming a file over another makes
// ext4 (auto_da_alloc) write the new file's data out before the rename
// returns, for an image tarball of a few hundred MB about a quarter of a
// second of a no-op rebuild. to is briefly absent, never partly written.
func replaceFile(from, to string) error {
	fi, err := os.Lstat(to)
	if err != nil || !fi.Mode().IsRegular() {
		return os.Rename(from, to)
	}
	old := from + ".replaced"
	if err := os.Rename(to, old); err != nil {
		return err
	}
	if err := os.Rename(from, to); err != nil {
		os.Rename(old, to)
		return err
	}
	return os.Remove(old)
}

// Discard removes whatever was staged and not committed.
func (s *Set) Discard() {
	for _, p := range s.cleanup {
		os.RemoveAll(p)
	}
	s.cleanup, s.moves = nil, nil
}

// WriteFile writes dt to path, with mode, whole or not at all.
func WriteFile(path string, dt []byte, mode fs.FileMode) error {
	var s Set
	defer s.Discard()
	if err := s.Bytes(path, dt, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := s.Commit(); err != nil {
		return fmt.Errorf("write %w", err)
	}
	return nil
}
