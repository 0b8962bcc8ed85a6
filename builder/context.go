package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
)

// ContextName is the name of the local source a graph reads its build
// context from; `buildctl build --local context=DIR` provides it too.
const ContextName = "context"

// Context is the build context a graph reads: a local directory the client
// sends, minus what Exclude names (.dockerignore patterns).
type Context struct {
	// ID names the directory in the graph. The daemon merges identical
	// steps of concurrent builds, so two directories must not share an ID;
	// [LoadContext] derives it from the directory's absolute path.
	ID string
	// Exclude lists .dockerignore patterns; matching paths are not sent.
	Exclude []string
}

// LoadContext describes the directory dir as a build context: its ID and
// the patterns its .dockerignore excludes.
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
	return Context{ID: digest.FromString(abs).Encoded()[:20], Exclude: exclude}, nil
}

// All is the whole context, minus Exclude.
func (c Context) All() llb.State {
	return llb.Local(ContextName,
		llb.ExcludePatterns(c.Exclude),
		llb.LocalUniqueID("imagebuild-"+c.ID),
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
