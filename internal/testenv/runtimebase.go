package testenv

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/imagebuild/imagebuild/ref"
)

// PatchedBase pushes base's image for [Platform] with one layer more, as a
// base patched for a CVE is the same base plus a layer, to the test
// registry as repo:tag, and returns its pin and the digest of the layer it
// adds. The layer holds one file, /usr/share/imagebuild-patch/note, whose
// content is note; it leaves the user and group files as they are.
func (e *Env) PatchedBase(t testing.TB, base ref.Pin, repo, note string) (ref.Pin, string) {
	t.Helper()
	img := RegistryPlatformImage(t, base.String(), Platform)
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers of %s: %v", base, err)
	}
	mt, err := layers[0].MediaType()
	if err != nil {
		t.Fatal(err)
	}
	patch := Layer(t,
		Entry{Path: "/usr", Dir: true},
		Entry{Path: "/usr/share", Dir: true},
		Entry{Path: "/usr/share/imagebuild-patch", Dir: true},
		Entry{Path: "/usr/share/imagebuild-patch/note", Body: []byte(note + "\n")},
	)
	patched, err := mutate.Append(img, mutate.Addendum{
		Layer:     patch,
		MediaType: mt,
		History:   v1.History{CreatedBy: "patch: " + note, Created: v1.Time{Time: time.Unix(1700000000, 0).UTC()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := PushImage(t, e.Registry+"/"+repo, patched)
	pls, err := patched.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, err := pls[len(pls)-1].Digest()
	if err != nil {
		t.Fatal(err)
	}
	pin, err := ref.ParsePin(e.Registry + "/" + repo + "@" + d)
	if err != nil {
		t.Fatal(err)
	}
	return pin, ld.String()
}

// UploadRecorder is a reverse proxy on loopback in front of a registry,
// which records what is pushed through it: each blob whose upload completes
// (the PUT that ends it names its digest), each blob mounted from another
// repository instead, each manifest put, and the bytes of the uploads'
// bodies.
type UploadRecorder struct {
	// Host is the proxy's host:port, a registry name to push to.
	Host string

	mu        sync.Mutex
	uploaded  []string
	mounted   []string
	manifests []string
	bytes     int64
}

// RecordUploads starts an [UploadRecorder] in front of the registry at
// host:port, listening on a free port of ip, a loopback address
// (127.0.0.2, say), and stopped when the test ends. A pusher mounts a blob
// from another repository of a registry it knows by the same address, the
// port left out (containerd's distribution source labels), so a push
// through a proxy on an address of its own uploads what that registry has
// only elsewhere, as a push to a registry of its own would.
func RecordUploads(t testing.TB, registry, ip string) *UploadRecorder {
	t.Helper()
	target, err := url.Parse("http://" + registry)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	r := &UploadRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.record(req)
		if strings.Contains(req.URL.Path, "/blobs/uploads/") && req.Body != nil {
			req.Body = &countingBody{ReadCloser: req.Body, r: r}
		}
		proxy.ServeHTTP(w, req)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	r.Host = l.Addr().String()
	return r
}

func (r *UploadRecorder) record(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, q := req.URL.Path, req.URL.Query()
	switch {
	case strings.Contains(p, "/blobs/uploads/") && (req.Method == http.MethodPut || req.Method == http.MethodPost) && q.Get("digest") != "":
		r.uploaded = append(r.uploaded, q.Get("digest"))
	case strings.Contains(p, "/blobs/uploads/") && req.Method == http.MethodPost && q.Get("mount") != "":
		r.mounted = append(r.mounted, q.Get("mount"))
	case strings.Contains(p, "/manifests/") && req.Method == http.MethodPut:
		r.manifests = append(r.manifests, p)
	}
}

// countingBody counts the bytes of a blob upload's body as they are sent
// on.
type countingBody struct {
	io.ReadCloser
	r *UploadRecorder
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.r.mu.Lock()
	c.r.bytes += int64(n)
	c.r.mu.Unlock()
	return n, err
}

// Reset forgets what was recorded so far.
func (r *UploadRecorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.uploaded, r.mounted, r.manifests, r.bytes = nil, nil, nil, 0
}

// Bytes is how many bytes of blobs were sent to be uploaded since the last
// Reset.
func (r *UploadRecorder) Bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}

// Uploaded returns the digests of the blobs uploaded since the last Reset,
// sorted, once each.
func (r *UploadRecorder) Uploaded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Compact(slices.Sorted(slices.Values(r.uploaded)))
}

// Mounted returns the digests of the blobs mounted from another
// repository since the last Reset, sorted, once each.
func (r *UploadRecorder) Mounted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Compact(slices.Sorted(slices.Values(r.mounted)))
}

// Manifests returns the paths of the manifests put since the last Reset,
// in order.
func (r *UploadRecorder) Manifests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.manifests)
}

// LayerDigests returns the digests of img's layers, in order.
func LayerDigests(t testing.TB, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}
