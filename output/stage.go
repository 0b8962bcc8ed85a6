package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/imagebuild/imagebuild/internal/stage"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/publish"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
)

// Stage holds a build's outputs while the build writes them, beside where
// they go (see internal/stage), and moves them into place only when the
// build succeeds ([Stage.Commit]); [Stage.Discard] leaves none of them. The
// zero Stage is ready to use, for a build that does not run on the engine
// its loads go into.
type Stage struct {
	// OnEngine is whether the build runs on the Docker Engine a load
	// output goes into, which then exports into its own store, unnamed;
	// else loads are docker tarballs in temporary files, loaded by
	// [Stage.Load].
	OnEngine bool

	set stage.Set
	// extracts are the local outputs' tar streams being unpacked.
	extracts []*extract
	// layouts are the OCI layout directories being written.
	layouts []string
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

// Entry turns o into the daemon's export entry, which writes to a
// temporary path s holds. An image-producing output gets, unless it sets
// them itself, OCI media types and, with an epoch, the epoch as the
// config's and history's dates (see [imageAttrs]). A push goes by digest
// alone, to the names' repositories: the tags are the caller's to move once
// the push is read back. A load into the engine the build runs on is
// exported there unnamed, for the caller to name once it is read back.
func (s *Stage) Entry(o Output, epoch *time.Time) (client.ExportEntry, error) {
	o.Attrs = imageAttrs(o, epoch)
	e := client.ExportEntry{Type: o.Type, Attrs: o.Attrs}
	switch o.Type {
	case OutputLoad:
		if s.OnEngine {
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
		if o.layout() {
			// An OCI layout directory: the client writes the blobs and
			// index.json into it as a content store. It starts with the
			// blobs of the layout already there, linked, so only new blobs
			// are sent; those the new index does not reach go before the
			// commit.
			dir, err := s.set.Dir(o.Dest)
			if err != nil {
				return e, fmt.Errorf("output %s: %w", o.Dest, err)
			}
			if err := publish.LinkBlobs(o.Dest, dir); err != nil {
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

// imageAttrs are o's attributes with, for an image-producing output and
// unless it sets them itself, OCI media types always, and with an epoch,
// the epoch (the config's and history's dates). The exporter is not asked
// to rewrite file times in new layers (rewrite-timestamp): it would
// decompress, rewrite and recompress every new layer on every export,
// cached or not. Graphs fix their files' times themselves, as the recipes'
// copies do.
func imageAttrs(o Output, epoch *time.Time) map[string]string {
	attrs := maps.Clone(o.Attrs)
	if attrs == nil {
		attrs = map[string]string{}
	}
	switch o.Type {
	case client.ExporterOCI, client.ExporterDocker, client.ExporterImage:
	default:
		return attrs
	}
	set := func(k, v string) {
		if _, ok := attrs[k]; !ok {
			attrs[k] = v
		}
	}
	set("oci-mediatypes", "true")
	if epoch != nil {
		set("source-date-epoch", strconv.FormatInt(epoch.Unix(), 10))
	}
	return attrs
}

// File stages a file of content dt, such as the build's metadata file, to
// be moved to path on commit: written whole now, beside path.
func (s *Stage) File(path string, dt []byte) error {
	return s.set.Bytes(path, dt, 0o644)
}

// Path is where o is being written until it is committed: the temporary
// file of an oci or docker tarball, or folder of a layout.
func (s *Stage) Path(o Output) string { return s.set.Path(o.Dest) }

// Load loads the docker tarballs of the load outputs into r.Engine, which
// names each image as its tarball does, and then reads back, with r, the
// image the engine holds under each name. The tarballs are read back
// before, with the other outputs ([ReadBack.Outputs]).
func (s *Stage) Load(ctx context.Context, r *ReadBack) error {
	names := slices.Sorted(maps.Keys(s.loads))
	for _, name := range names {
		f, err := os.Open(s.loads[name])
		if err != nil {
			return err
		}
		err = r.Engine.Load(ctx, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	for _, name := range names {
		for _, n := range strings.Split(name, ",") {
			if _, err := r.Load(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// Commit moves every staged output into place, once local outputs are
// unpacked and the blobs a layout's index does not reach are gone. A
// folder an earlier output wrote at a directory output's destination is
// replaced (see [stage.Replaceable]).
func (s *Stage) Commit() error {
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

// Discard removes whatever was staged and not committed.
func (s *Stage) Discard() {
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
