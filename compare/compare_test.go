package compare

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type file struct {
	name, body string
	mtime      time.Time
}

func layer(t *testing.T, files ...file) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body)), ModTime: f.mtime}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func image(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestImages: the same image is the same; two that differ are told apart
// layer by layer and file by file, the layer they share left out.
func TestImages(t *testing.T) {
	epoch := time.Unix(0, 0)
	base := layer(t, file{"etc/os-release", "test\n", epoch})
	a := image(t, base, layer(t, file{"app/main.py", "print(1)\n", epoch}, file{"app/data", "x", epoch}, file{"app/old", "o", epoch}))
	b := image(t, base, layer(t, file{"app/main.py", "print(2)\n", epoch}, file{"app/data", "x", epoch.Add(time.Hour)}, file{"app/new", "n", epoch}))

	same, err := Images(a, a)
	if err != nil {
		t.Fatal(err)
	}
	if !same.Same() || len(same.Layers) != 0 {
		t.Errorf("an image compared with itself: %+v", same)
	}

	res, err := Images(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Same() {
		t.Fatal("two different images compare the same")
	}
	if len(res.Layers) != 1 || res.Layers[0].Index != 1 {
		t.Fatalf("layers differing: %+v, want layer 1 only", res.Layers)
	}
	var got []string
	for _, f := range res.Layers[0].Files {
		got = append(got, f.Kind+" "+f.Path)
	}
	want := []string{"mtime app/data", "content app/main.py", "removed app/old", "added app/new"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files differing (-want +got):\n%s", diff)
	}
	var text strings.Builder
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "not reproducible") || !strings.Contains(text.String(), "/app/main.py") {
		t.Errorf("WriteText does not name the difference:\n%s", text.String())
	}
}
