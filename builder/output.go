package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/stage"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
)

// ErrInvalidOutput is returned (wrapped) for an output that cannot be
// exported as described.
var ErrInvalidOutput = errors.New("invalid output")

// OutputLoad is the type of an output that loads the image into a Docker
// Engine's image store ([Options.Engine]) under the names in its name
// attribute: exported there by the engine's own BuildKit when the build
// runs on it, else loaded as a docker tarball through the Engine API.
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

// apartFrom reports whether o, when it writes a folder, stays apart from
// the build context c: a folder output that is the context, or holds it,
// would replace the sources with the image.
func (o Output) apartFrom(c graph.Context) error {
	dirOut := o.Type == client.ExporterLocal || (o.Type == client.ExporterOCI || o.Type == client.ExporterDocker) && o.Attrs["tar"] == "false"
	if !dirOut || c.Dir() == "" {
		return nil
	}
	dest, err := filepath.Abs(o.Dest)
	if err != nil {
		return fmt.Errorf("%w: dest=%s: %w", ErrInvalidOutput, o.Dest, err)
	}
	ctxDir := c.Dir()
	if d, err := filepath.EvalSymlinks(ctxDir); err == nil {
		ctxDir = d
	}
	if d, err := filepath.EvalSymlinks(dest); err == nil {
		dest = d
	}
	if rel, err := filepath.Rel(dest, ctxDir); err == nil && filepath.IsLocal(rel) || rel == "." {
		return fmt.Errorf("%w: dest=%s is or holds the build context %s, which the output would replace; write it outside the context", ErrInvalidOutput, o.Dest, c.Dir())
	}
	return nil
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

// staged holds outputs while a build writes them, beside where they go
// (see internal/stage), and moves them into place only when the build
// succeeds.
type staged struct {
	set stage.Set
	// extracts are the local outputs' tar streams being unpacked.
	extracts []*extract
	// layouts are the OCI layout directories being written.
	layouts []string
	// onEngine is whether the build runs on the Docker Engine a load
	// output goes into, which then exports into its own store; else loads
	// are docker tarballs in temporary files, loaded when the build is done.
	onEngine bool
	// loads are the docker tarballs of the load outputs, by the output's
	// name attribute.
	loads map[string]string
}

// extract unpacks a tar stream into a directory as the exporter sends it.
// A local output is exported as a tar stream and unpacked here rather than
// through BuildKit's local exporter, whose file sync can deadlock on large
// trees (moby/buildkit#2950).
type extract struct {
	dest    string
	pr      *io.PipeReader
	pw      *io.PipeWriter
	started bool
	done    chan error
}

func (x *extract) output(dir string) func(map[string]string) (io.WriteCloser, error) {
	return func(map[string]string) (io.WriteCloser, error) {
		if x.started {
			return nil, errors.New("local output opened twice")
		}
		x.started = true
		go func() {
			err := oci.Extract(x.pr, dir, oci.ExtractOptions{RootFS: true, Chown: os.Geteuid() == 0})
			x.pr.CloseWithError(err)
			x.done <- err
		}()
		return x.pw, nil
	}
}

// wait returns the unpacking's result once the stream has ended.
func (x *extract) wait() error {
	if !x.started {
		return errors.New("the build sent no files")
	}
	return <-x.done
}

// entry turns o into an export entry that writes to a temporary path.
func (s *staged) entry(o Output) (client.ExportEntry, error) {
	e := client.ExportEntry{Type: o.Type, Attrs: o.Attrs}
	switch o.Type {
	case OutputLoad:
		if s.onEngine {
			// The engine's exporter into its image store, unnamed: the
			// names are given once the image is read back (see
			// [Result.tag]).
			e.Type = "moby"
			e.Attrs = maps.Clone(o.Attrs)
			delete(e.Attrs, "name")
			break
		}
		f, err := os.CreateTemp("", "imagebuild-load-*.tar")
		if err != nil {
			return e, fmt.Errorf("load: %w", err)
		}
		if s.loads == nil {
			s.loads = map[string]string{}
		}
		s.loads[o.Attrs["name"]] = f.Name()
		e.Type = client.ExporterDocker
		e.Output = func(map[string]string) (io.WriteCloser, error) { return f, nil }
	case client.ExporterImage:
		if o.Attrs["push"] == "true" {
			// Pushed by digest alone: the names' tags are moved once
			// the push is read back (see [Result.tag]).
			e.Attrs = maps.Clone(o.Attrs)
			e.Attrs[string(exptypes.OptKeyPushByDigest)] = "true"
			var repos []string
			for _, n := range strings.Split(o.Attrs["name"], ",") {
				named, err := reference.ParseNormalizedNamed(n)
				if err != nil {
					return e, fmt.Errorf("%w: image name %q: %v", ErrInvalidOutput, n, err)
				}
				if repo := reference.TrimNamed(named).String(); !slices.Contains(repos, repo) {
					repos = append(repos, repo)
				}
			}
			e.Attrs["name"] = strings.Join(repos, ",")
		}
	case client.ExporterOCI, client.ExporterDocker:
		if o.Attrs["tar"] == "false" {
			// An OCI layout directory: the client writes the blobs and
			// index.json into it as a content store. It starts with the
			// blobs of the layout already there, linked, so only new blobs
			// are sent; those the new index does not reach go before the
			// commit.
			dir, err := s.set.Dir(o.Dest)
			if err != nil {
				return e, fmt.Errorf("output %s: %w", o.Dest, err)
			}
			if err := linkBlobs(o.Dest, dir); err != nil {
				return e, fmt.Errorf("output %s: %w", o.Dest, err)
			}
			s.layouts = append(s.layouts, dir)
			e.OutputDir = dir
			break
		}
		f, err := s.set.File(o.Dest, 0o644)
		if err != nil {
			return e, fmt.Errorf("output %s: %w", o.Dest, err)
		}
		e.Output = func(map[string]string) (io.WriteCloser, error) { return f, nil }
	case client.ExporterLocal:
		dest, err := filepath.Abs(o.Dest)
		if err != nil {
			return e, fmt.Errorf("output %s: %w", o.Dest, err)
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return e, fmt.Errorf("output %s: %w", o.Dest, err)
		}
		dir, err := s.set.Dir(dest)
		if err != nil {
			return e, fmt.Errorf("output %s: %w", o.Dest, err)
		}
		pr, pw := io.Pipe()
		x := &extract{dest: dest, pr: pr, pw: pw, done: make(chan error, 1)}
		s.extracts = append(s.extracts, x)
		e.Type = client.ExporterTar
		e.Output = x.output(dir)
	}
	return e, nil
}

// file stages a file of content dt to be moved to path on commit: written
// whole now, beside path.
func (s *staged) file(path string, dt []byte) error {
	return s.set.Bytes(path, dt, 0o644)
}

// path is where o is being written until it is committed: the temporary
// file of an oci or docker output.
func (s *staged) path(o Output) string { return s.set.Path(o.Dest) }

// load loads the docker tarballs of the load outputs into engine, which
// names each image as its tarball does.
func (s *staged) load(ctx context.Context, engine *daemon.Engine) error {
	for _, name := range sortedKeys(s.loads) {
		f, err := os.Open(s.loads[name])
		if err != nil {
			return err
		}
		err = engine.Load(ctx, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// commit moves every staged output into place, once local outputs are
// unpacked. A folder an earlier output wrote at a directory output's
// destination is replaced (see [stage.Replaceable]).
func (s *staged) commit() error {
	extracts := s.extracts
	s.extracts = nil
	for _, x := range extracts {
		if err := x.wait(); err != nil {
			return fmt.Errorf("output %s: unpack: %w", x.dest, err)
		}
	}
	for _, dir := range s.layouts {
		if err := pruneBlobs(dir); err != nil {
			return fmt.Errorf("output layout: %w", err)
		}
	}
	if err := s.set.Commit(); err != nil {
		return fmt.Errorf("output %w", err)
	}
	return nil
}

// linkBlobs links the blobs of the OCI layout at old, if there is one, into
// the layout being made at dir.
func linkBlobs(old, dir string) error {
	src := filepath.Join(old, "blobs", "sha256")
	entries, err := os.ReadDir(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := os.Link(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// pruneBlobs removes the blobs of the OCI layout dir that its index.json
// does not reach.
func pruneBlobs(dir string) error {
	idx, err := oci.OpenLayout(dir)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	if err := reach(idx, keep); err != nil {
		return err
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep["sha256:"+e.Name()] {
			if err := os.Remove(filepath.Join(blobs, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// reach adds to keep every blob idx reaches: its manifests, their configs
// and layers, the indexes it nests.
func reach(idx v1.ImageIndex, keep map[string]bool) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range im.Manifests {
		keep[desc.Digest.String()] = true
		switch {
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return err
			}
			if err := reach(child, keep); err != nil {
				return err
			}
		case desc.MediaType.IsImage():
			img, err := idx.Image(desc.Digest)
			if err != nil {
				return err
			}
			m, err := img.Manifest()
			if err != nil {
				return err
			}
			keep[m.Config.Digest.String()] = true
			for _, l := range m.Layers {
				keep[l.Digest.String()] = true
			}
		}
	}
	return nil
}

// discard removes whatever was staged and not committed.
func (s *staged) discard() {
	for _, f := range s.loads {
		os.Remove(f)
	}
	s.loads = nil
	for _, x := range s.extracts {
		x.pw.CloseWithError(errors.New("build did not finish"))
		if x.started {
			<-x.done
		}
	}
	s.extracts = nil
	s.set.Discard()
}
