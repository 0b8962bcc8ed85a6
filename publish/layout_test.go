package publish

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestLayoutPushesTheLayoutsBytes(t *testing.T) {
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		write func(p layout.Path) error
		// raw is what the registry must serve under the pushed digest.
		raw func() ([]byte, error)
	}{
		{"image", func(p layout.Path) error { return p.AppendImage(img) }, img.RawManifest},
		{"index with its manifests", func(p layout.Path) error { return p.AppendIndex(idx) }, idx.RawManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := layout.Write(dir, empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.write(p); err != nil {
				t.Fatal(err)
			}
			want, err := tt.raw()
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(registry.New())
			defer srv.Close()
			ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/team/app:1.0", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			dgst, err := Layout(context.Background(), dir, ref)
			if err != nil {
				t.Fatal(err)
			}
			if wantDigest := "sha256:" + sha256Hex(want); dgst.String() != wantDigest {
				t.Errorf("digest %s, want the layout's %s", dgst, wantDigest)
			}
			got, err := remote.Get(ref)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Manifest, want) {
				t.Errorf("the registry serves another manifest than the layout's (-want +got):\n%s", cmp.Diff(string(want), string(got.Manifest)))
			}
			if got.Digest.String() != dgst.String() {
				t.Errorf("tag points at %s, Layout returned %s", got.Digest, dgst)
			}
			if got.MediaType.IsIndex() {
				// Every manifest of the index is in the registry too.
				ri, err := got.ImageIndex()
				if err != nil {
					t.Fatal(err)
				}
				m, err := ri.IndexManifest()
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range m.Manifests {
					if _, err := remote.Get(ref.Context().Digest(d.Digest.String())); err != nil {
						t.Errorf("manifest %s of the index: %v", d.Digest, err)
					}
				}
			}
		})
	}
}

func TestLayoutRefusesWhatIsNotOneImage(t *testing.T) {
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	two := t.TempDir()
	p, err := layout.Write(two, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.AppendImage(img); err != nil {
			t.Fatal(err)
		}
	}
	emptyLayout := t.TempDir()
	if _, err := layout.Write(emptyLayout, empty.Index); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, dir, want string }{
		{"not a layout", t.TempDir(), "no index.json"},
		{"no image", emptyLayout, "names 0"},
		{"two images", two, "names 2"},
	}
	ref := name.MustParseReference("127.0.0.1:1/team/app:1.0", name.Insecure)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Layout(context.Background(), tt.dir, ref)
			if !errors.Is(err, ErrNoLayout) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Layout(%s) = %v, want ErrNoLayout saying %q", tt.name, err, tt.want)
			}
		})
	}
}

func sha256Hex(b []byte) string {
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		panic(err)
	}
	return h.Hex
}

func TestLayoutReportsAFailedPush(t *testing.T) {
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	// A registry that is gone.
	srv := httptest.NewServer(registry.New())
	srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/team/app:1.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	dgst, err := Layout(context.Background(), dir, ref)
	if err == nil || errors.Is(err, ErrNoLayout) {
		t.Fatalf("Layout to a closed registry = %q, %v; want a push error", dgst, err)
	}
}
