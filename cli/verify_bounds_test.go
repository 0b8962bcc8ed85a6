package cli

import (
	"archive/tar"
	"bytes"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestVerifyCraftedImage: `imagebuild verify` of an OCI layout holding a
// crafted image: a file larger than verify reads of one file stops it in
// one line naming the file and the limit; a token in a pip config and a
// symbolic-link loop fail their checks, naming them; all exit 1.
func TestVerifyCraftedImage(t *testing.T) {
	type entry struct {
		name, link string
		body       []byte
		dir        bool
	}
	base := []entry{
		{name: "etc", dir: true},
		{name: "etc/passwd", body: []byte("root:x:0:0:root:/root:/bin/sh\nappuser:x:1000:1000::/nonexistent:/sbin/nologin\n")},
	}
	for _, tc := range []struct {
		name    string
		entries []entry
		stderr  string // the one line's words
		stdout  string // the report's, "" for none
	}{
		{"a pip config larger than verify reads of one file",
			[]entry{{name: "etc/pip.conf", body: make([]byte, 64<<20+1)}},
			"/etc/pip.conf is 65 MiB, more than the 64 MiB verify reads of one file", ""},
		{"a token in a pip config",
			[]entry{{name: "etc/pip.conf", body: []byte("[global]\nindex-url = https://TOKEN@pypi.example.com/simple\n")}},
			"verify failed", "/etc/pip.conf (pip config with credentials in a URL)"},
		{"a symbolic-link loop on the way to the user's home",
			[]entry{{name: "d", dir: true}, {name: "d/x", link: "x/x/x"},
				{name: "etc/passwd", body: []byte("appuser:x:1000:1000::/d/x/home:/sbin/nologin\n")}},
			"verify failed", "/d/x/home: more than 40 symbolic links"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			entries := tc.entries
			for _, b := range base {
				if !slices.ContainsFunc(entries, func(e entry) bool { return e.name == b.name }) {
					entries = append([]entry{b}, entries...)
				}
			}
			for _, e := range entries {
				h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
				switch {
				case e.dir:
					h.Typeflag, h.Mode = tar.TypeDir, 0o755
				case e.link != "":
					h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
				}
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
				if _, err := tw.Write(e.body); err != nil {
					t.Fatal(err)
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
			img, err := mutate.AppendLayers(empty.Image, l)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			cf = cf.DeepCopy()
			cf.OS, cf.Architecture, cf.Config.User, cf.Config.WorkingDir = "linux", "amd64", "appuser", "/app"
			if img, err = mutate.ConfigFile(img, cf); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "layout")
			p, err := layout.Write(dir, empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
				t.Fatal(err)
			}

			stdout, stderr, code := cliNoDaemon(t, "verify", dir)
			if code != 1 {
				t.Errorf("exit code %d, want 1\n%s%s", code, stdout, stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "imagebuild: ") || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr = %q, want one line saying %q", stderr, tc.stderr)
			}
			if tc.stdout == "" && stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout = %q, want the report saying %q", stdout, tc.stdout)
			}
		})
	}
}
