package graph

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
)

// ContextName is the name of the local source a graph reads its build
// context from; `buildctl build --local context=DIR` provides it too.
const ContextName = "context"

// Context is the build context a graph reads: a local directory the client
// sends, minus what its .dockerignore excludes. It is one value, made by
// [LoadContext]: the directory and the name the graph gives it travel
// together. The zero Context is an empty context.
type Context struct {
	// dir is the directory's absolute path; "" for the empty context.
	dir string
	// exclude lists the .dockerignore patterns; matching paths are not sent.
	exclude []string
}

// LoadContext describes the directory dir as a build context, reading its
// .dockerignore.
func LoadContext(dir string) (Context, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Context{}, fmt.Errorf("build context %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return Context{}, fmt.Errorf("build context: %w", err)
	}
	if !fi.IsDir() {
		return Context{}, fmt.Errorf("build context %s: not a directory", dir)
	}
	exclude, err := readDockerignore(abs)
	if err != nil {
		return Context{}, err
	}
	return Context{dir: abs, exclude: exclude}, nil
}

// Dir is the context's directory, an absolute path; "" for the empty context.
func (c Context) Dir() string { return c.dir }

// Exclude is the context's .dockerignore patterns.
func (c Context) Exclude() []string { return slices.Clone(c.exclude) }

// ID names the directory in the graph and in the daemon's file sync. The
// daemon merges identical steps of concurrent builds and syncs a context
// into the snapshot it last synced under the same key, so two directories
// never share one: it is derived from the absolute path.
func (c Context) ID() string { return digest.FromString(c.dir).Encoded()[:20] }

// All is the whole context, minus what .dockerignore excludes. The empty
// context is an empty tree.
func (c Context) All() llb.State {
	if c.dir == "" {
		return llb.Scratch()
	}
	return llb.Local(ContextName,
		llb.ExcludePatterns(c.exclude),
		llb.LocalUniqueID("imagebuild-"+c.ID()),
		llb.SharedKeyHint(ContextName),
		llb.WithCustomName("load build context"),
	)
}

// ValidContextPath reports whether name is a relative, clean path inside the
// context, such as requirements.txt or deploy/requirements.txt.
func ValidContextPath(name string) error {
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == "." || name == ".." || len(name) > 2 && name[:3] == "../" {
		return fmt.Errorf("path %q: want a clean relative path inside the build context", name)
	}
	return nil
}

// ContextFile is a file a graph reads from the build context by its path.
type ContextFile struct {
	// Path is the file's slash-separated path in the context, such as
	// requirements.txt.
	Path string
	// NamedBy says what names the path, for the message when the file is
	// missing: "the python-alpine recipe's Requirements field".
	NamedBy string
}

// ContextFileError reports a file a graph reads from the build context that
// the context does not send: it is missing, not a regular file, or excluded
// by the context's .dockerignore.
type ContextFileError struct {
	// Dir is the context directory as it was given.
	Dir  string
	File ContextFile
	// Excluded is the .dockerignore pattern that excludes the file, if that
	// is why; else the file is missing or not a regular file.
	Excluded string
	// Err is why the file could not be read, when it is not excluded.
	Err error
}

func (e *ContextFileError) Error() string {
	switch {
	case e.Excluded != "":
		return fmt.Sprintf("build context %s: %s is excluded by its .dockerignore (pattern %q), and %s names it; take it out of .dockerignore or name another file",
			e.Dir, e.File.Path, e.Excluded, e.File.NamedBy)
	case errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("build context %s has no %s, which %s names; add the file or name its path in the context there",
			e.Dir, e.File.Path, e.File.NamedBy)
	default:
		return fmt.Sprintf("build context %s: %s, which %s names: %v", e.Dir, e.File.Path, e.File.NamedBy, e.Err)
	}
}

func (e *ContextFileError) Unwrap() error { return e.Err }

// Check reports, as a [*ContextFileError], the first of files that the
// context would not send: missing, not a regular file, or excluded by its
// .dockerignore. [builder.Build] checks an image's ContextFiles so before anything
// reaches the daemon.
func (c Context) Check(files []ContextFile) error {
	if len(files) == 0 {
		return nil
	}
	dir, exclude := c.dir, c.exclude
	if dir == "" {
		return &ContextFileError{Dir: `""`, File: files[0], Err: errors.New("the build context is empty: no directory was given")}
	}
	for _, f := range files {
		if err := ValidContextPath(f.Path); err != nil {
			return &ContextFileError{Dir: dir, File: f, Err: err}
		}
		name := filepath.FromSlash(f.Path)
		if pattern, err := excludedBy(name, exclude); err != nil {
			return fmt.Errorf("read .dockerignore: %w", err)
		} else if pattern != "" {
			return &ContextFileError{Dir: dir, File: f, Excluded: pattern}
		}
		fi, err := statIn(dir, name)
		if err == nil && !fi.Mode().IsRegular() {
			err = errors.New("not a regular file")
		}
		if err != nil {
			return &ContextFileError{Dir: dir, File: f, Err: err}
		}
	}
	return nil
}

// ReadFile returns the content of f, a file the context sends, for a
// graph made from what the file says (a recipe reading its requirements).
// A file the context would not send is a [*ContextFileError], as [Check]
// reports it.
func (c Context) ReadFile(f ContextFile) ([]byte, error) {
	if err := c.Check([]ContextFile{f}); err != nil {
		return nil, err
	}
	dt, err := readIn(c.dir, filepath.FromSlash(f.Path))
	if err != nil {
		return nil, &ContextFileError{Dir: c.dir, File: f, Err: err}
	}
	return dt, nil
}

// MaxContextFile bounds a file of the context a recipe reads: a
// requirements file or a lock is kilobytes.
const MaxContextFile = 64 << 20

// statIn is os.Stat of name in dir, refusing a path that leaves dir
// through a symbolic link: the daemon sees the context's links as links,
// and a file outside the context (a runner's secret) must not reach the
// graph.
func statIn(dir, name string) (os.FileInfo, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Stat(name)
}

// readIn reads name in dir as statIn finds it, up to MaxContextFile bytes.
func readIn(dir, name string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dt, err := io.ReadAll(io.LimitReader(f, MaxContextFile+1))
	if err != nil {
		return nil, err
	}
	if len(dt) > MaxContextFile {
		return nil, fmt.Errorf("more than %d MiB; a file a recipe reads is kilobytes", MaxContextFile>>20)
	}
	return dt, nil
}

// KeepsOut reports whether the context leaves the file at path (a build
// secret) out of what it sends: outside its directory, or excluded by its
// .dockerignore. A secret the context sends reaches the daemon as context,
// and a recipe that copies the context into the image puts it there.
func (c Context) KeepsOut(path string) error {
	if c.dir == "" {
		return nil
	}
	file, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if f, err := filepath.EvalSymlinks(file); err == nil {
		file = f
	}
	dir := c.dir
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	rel, err := filepath.Rel(dir, file)
	if err != nil || !filepath.IsLocal(rel) {
		return nil
	}
	if pattern, err := excludedBy(rel, c.exclude); err != nil {
		return fmt.Errorf("read .dockerignore: %w", err)
	} else if pattern != "" {
		return nil
	}
	return fmt.Errorf("%s is inside the build context %s, which would send it to the daemon and could copy it into the image; keep the file outside the context, or leave it out in the context's .dockerignore (%s)", path, c.dir, filepath.ToSlash(rel))
}

// excludedBy returns the pattern of exclude that keeps name out of the
// context, or "" when the context sends it. Later patterns override earlier
// ones, and a "!" pattern takes a path back in, as in BuildKit's file sync.
func excludedBy(name string, exclude []string) (string, error) {
	excluded, err := patternmatcher.MatchesOrParentMatches(name, exclude)
	if err != nil || !excluded {
		return "", err
	}
	pattern := ""
	for _, p := range exclude {
		if len(p) > 0 && p[0] == '!' {
			continue
		}
		if m, err := patternmatcher.MatchesOrParentMatches(name, []string{p}); err == nil && m {
			pattern = p
		}
	}
	if pattern == "" {
		pattern = exclude[len(exclude)-1]
	}
	return pattern, nil
}

// readDockerignore reads dir/.dockerignore; a missing file excludes nothing.
func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return patterns, nil
}
