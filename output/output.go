package output

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/imagebuild/imagebuild/internal/stage"
	"github.com/moby/buildkit/client"
)

// ErrInvalidOutput is returned (wrapped) for an output that cannot be
// exported as described.
var ErrInvalidOutput = errors.New("invalid output")

// OutputLoad is the type of an output that loads the image into a Docker
// Engine's image store under the names in its name attribute: exported
// there by the engine's own BuildKit when the build runs on it, else loaded
// as a docker tarball through the Engine API ([Stage.Load]).
const OutputLoad = "load"

// Output is one place a build's result goes.
type Output struct {
	// Type is the exporter: "oci" or "docker" (a tarball at Dest, or with
	// the attribute tar=false an OCI layout directory), "image" (an image
	// in the daemon's store or a registry; Attrs name and push), "local"
	// (the filesystem into the directory Dest), or [OutputLoad] (a Docker
	// Engine's image store; Attrs name).
	Type string
	// Dest is the file or directory written. It appears whole when the
	// build succeeds and not at all when it fails.
	Dest string
	// Attrs are the exporter's attributes, as buildctl's --output takes
	// them (name, push, registry.insecure, oci-mediatypes, ...).
	Attrs map[string]string
}

// Validate reports whether the output names what its exporter needs.
func (o Output) Validate() error {
	switch o.Type {
	case client.ExporterOCI, client.ExporterDocker, client.ExporterLocal:
		if o.Dest == "" {
			return fmt.Errorf("%w: type=%s needs dest=PATH", ErrInvalidOutput, o.Type)
		}
	case client.ExporterImage, OutputLoad:
		if o.Attrs["name"] == "" {
			return fmt.Errorf("%w: type=%s needs name=NAME", ErrInvalidOutput, o.Type)
		}
		for _, n := range strings.Split(o.Attrs["name"], ",") {
			if _, err := reference.ParseNormalizedNamed(n); err != nil {
				return fmt.Errorf("%w: image name %q: %v; want NAME[:TAG], such as registry.example.com/team/app:1.0", ErrInvalidOutput, n, err)
			}
		}
	case "":
		return fmt.Errorf("%w: no type; want type=oci|docker|image|local|load", ErrInvalidOutput)
	default:
		return fmt.Errorf("%w: unknown type %q; want oci, docker, image, local or load", ErrInvalidOutput, o.Type)
	}
	return nil
}

// CheckDest reports whether o's destination can be written, so that a
// mistake there is found before the build rather than after it: the folder
// of a tarball or an OCI layout directory must exist and be writable, a
// tarball's path must not be a directory and a directory's must not be a
// file, nor a folder holding files an earlier output did not write (see
// [stage.Replaceable]); for a local output the nearest folder that exists
// on its way must be writable (the rest is created).
func (o Output) CheckDest() error {
	switch o.Type {
	case client.ExporterOCI, client.ExporterDocker:
		if o.Attrs["tar"] == "false" {
			if fi, err := os.Stat(o.Dest); err == nil && !fi.IsDir() {
				return fmt.Errorf("%w: dest=%s is a file; type=%s,tar=false writes an OCI layout directory", ErrInvalidOutput, o.Dest, o.Type)
			}
			if err := stage.Replaceable(o.Dest); err != nil {
				return fmt.Errorf("%w: dest=%s: %w", ErrInvalidOutput, o.Dest, err)
			}
			return invalidDir(filepath.Dir(o.Dest), false)
		}
		if fi, err := os.Stat(o.Dest); err == nil && fi.IsDir() {
			return fmt.Errorf("%w: dest=%s is a directory; type=%s writes a tarball, so name a file", ErrInvalidOutput, o.Dest, o.Type)
		}
		return invalidDir(filepath.Dir(o.Dest), false)
	case client.ExporterLocal:
		if fi, err := os.Stat(o.Dest); err == nil && !fi.IsDir() {
			return fmt.Errorf("%w: dest=%s is a file; type=local writes a directory", ErrInvalidOutput, o.Dest)
		}
		if err := stage.Replaceable(o.Dest); err != nil {
			return fmt.Errorf("%w: dest=%s: %w", ErrInvalidOutput, o.Dest, err)
		}
		return invalidDir(filepath.Dir(o.Dest), true)
	}
	return nil
}

// ApartFrom reports whether o, when it writes a folder, stays apart from
// the build context in the folder contextDir (none when empty): a folder
// output that is the context, or holds it, would replace the sources with
// the image.
func (o Output) ApartFrom(contextDir string) error {
	if !o.writesFolder() || contextDir == "" {
		return nil
	}
	dest, err := filepath.Abs(o.Dest)
	if err != nil {
		return fmt.Errorf("%w: dest=%s: %w", ErrInvalidOutput, o.Dest, err)
	}
	ctxDir := contextDir
	if d, err := filepath.EvalSymlinks(ctxDir); err == nil {
		ctxDir = d
	}
	if d, err := filepath.EvalSymlinks(dest); err == nil {
		dest = d
	}
	if rel, err := filepath.Rel(dest, ctxDir); err == nil && filepath.IsLocal(rel) || rel == "." {
		return fmt.Errorf("%w: dest=%s is or holds the build context %s, which the output would replace; write it outside the context", ErrInvalidOutput, o.Dest, contextDir)
	}
	return nil
}

// writesFolder is whether o writes a folder: a local output, or an OCI
// layout directory.
func (o Output) writesFolder() bool {
	return o.Type == client.ExporterLocal || o.layout()
}

// layout is whether o writes an OCI layout directory (tar=false).
func (o Output) layout() bool {
	return (o.Type == client.ExporterOCI || o.Type == client.ExporterDocker) && o.Attrs["tar"] == "false"
}

// CheckFileDest reports whether a file, such as a build's metadata file,
// can be written at path: its folder exists and can be written in, and
// path is not a directory.
func CheckFileDest(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return errors.New("is a directory; name a file")
	}
	return writableDir(filepath.Dir(path), false)
}

// invalidDir is writableDir's answer as an [ErrInvalidOutput].
func invalidDir(dir string, create bool) error {
	if err := writableDir(dir, create); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOutput, err)
	}
	return nil
}

// writableDir reports whether dir is a folder imagebuild can write in. With
// create, a missing dir is fine when its nearest existing parent is writable.
func writableDir(dir string, create bool) error {
	fi, err := os.Stat(dir)
	if create {
		for errors.Is(err, fs.ErrNotExist) && filepath.Dir(dir) != dir {
			dir = filepath.Dir(dir)
			fi, err = os.Stat(dir)
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("folder %s does not exist; create it or name another", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a folder", dir)
	case !canWrite(dir):
		return fmt.Errorf("folder %s is not writable", dir)
	}
	return nil
}
