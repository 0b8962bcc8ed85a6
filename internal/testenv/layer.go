package testenv

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Entry is one entry of a layer that [Layer] writes: a regular file, or a
// folder (Dir) or a symbolic link (Link).
type Entry struct {
	// Path is the entry's name; a leading slash is dropped, as in layer
	// tars ("/etc/passwd" is written "etc/passwd").
	Path string
	// Body is a regular file's content.
	Body []byte
	// Mode is the permission bits; 0 is 0o644, or 0o755 for a folder.
	Mode int64
	// UID and GID own the entry; 0 is root.
	UID, GID int
	// Dir makes the entry a folder.
	Dir bool
	// Link makes the entry a symbolic link to Link.
	Link string
	// ModTime is the entry's modification time; the zero time is written
	// as the tar format's.
	ModTime time.Time
}

// Layer returns an uncompressed tar layer of entries, in their order.
func Layer(t testing.TB, entries ...Entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: strings.TrimPrefix(e.Path, "/"), Mode: e.Mode, Uid: e.UID, Gid: e.GID,
			Size: int64(len(e.Body)), Typeflag: tar.TypeReg, ModTime: e.ModTime}
		switch {
		case e.Dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case e.Link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.Link, 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if e.Dir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	dt := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(dt)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Image returns an image of layers, configured by [AppConfig] to run as
// user.
func Image(t testing.TB, user string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return AppConfig(t, img, user)
}

// AppConfig returns img with the config of an app image for linux/amd64
// that runs as user (none if "") in /app.
func AppConfig(t testing.TB, img v1.Image, user string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.User, cf.Config.WorkingDir = user, "/app"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
