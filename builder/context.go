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
)

// ContextName is the name of the local source a graph reads its build
// context from; `buildctl build --local context=DIR` provides it too.
const ContextName = "context"

// Context is the build context a graph reads: a local directory the client
// sends, minus what Exclude names (.dockerignore patterns).
type Context struct {
	// Exclude lists .dockerignore patterns; matching paths are not sent.
	Exclude []string
}

// All is the whole context, minus Exclude.
func (c Context) All() llb.State {
	return llb.Local(ContextName,
		llb.ExcludePatterns(c.Exclude),
		llb.LocalUniqueID("imagebuild-"+ContextName),
		llb.SharedKeyHint(ContextName),
		llb.WithCustomName("load build context"),
	)
}

// File is the context with only the file at name in it, so that a step that
// reads it runs again only when that file changes.
func (c Context) File(name string) llb.State {
	return llb.Local(ContextName,
		llb.IncludePatterns([]string{name}),
		llb.FollowPaths([]string{name}),
		llb.LocalUniqueID("imagebuild-"+ContextName),
		llb.SharedKeyHint(ContextName+":"+name),
		llb.WithCustomName("load "+name+" from build context"),
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

// ReadDockerignore reads dir/.dockerignore; a missing file excludes nothing.
func ReadDockerignore(dir string) ([]string, error) {
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
