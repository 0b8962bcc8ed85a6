package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/imagebuild/imagebuild/internal/testenv"
)

// TestVerifyCraftedImage: `imagebuild verify` of an OCI layout holding a
// crafted image: a file larger than verify reads of one file stops it in
// one line naming the file and the limit; a token in a pip config and a
// symbolic-link loop fail their checks, naming them; all exit 1.
func TestVerifyCraftedImage(t *testing.T) {
	base := []testenv.Entry{
		{Path: "etc", Dir: true},
		{Path: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\nappuser:x:1000:1000::/nonexistent:/sbin/nologin\n")},
	}
	for _, tc := range []struct {
		name    string
		entries []testenv.Entry
		stderr  string // the one line's words
		stdout  string // the report's, "" for none
	}{
		{"a pip config larger than verify reads of one file",
			[]testenv.Entry{{Path: "etc/pip.conf", Body: make([]byte, 64<<20+1)}},
			"/etc/pip.conf is 65 MiB, more than the 64 MiB verify reads of one file", ""},
		{"a token in a pip config",
			[]testenv.Entry{{Path: "etc/pip.conf", Body: []byte("[global]\nindex-url = https://TOKEN@pypi.example.com/simple\n")}},
			"verify failed", "/etc/pip.conf (pip config with credentials in a URL)"},
		{"a symbolic-link loop on the way to the user's home",
			[]testenv.Entry{{Path: "d", Dir: true}, {Path: "d/x", Link: "x/x/x"},
				{Path: "etc/passwd", Body: []byte("appuser:x:1000:1000::/d/x/home:/sbin/nologin\n")}},
			"verify failed", "/d/x/home: more than 40 symbolic links"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries := tc.entries
			for _, b := range base {
				if !slices.ContainsFunc(entries, func(e testenv.Entry) bool { return e.Path == b.Path }) {
					entries = append([]testenv.Entry{b}, entries...)
				}
			}
			img := testenv.Image(t, "appuser", testenv.Layer(t, entries...))
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
