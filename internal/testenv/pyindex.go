package testenv

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// PrivateIndex serves a PEP 503 package index on 127.0.0.1 to requests that
// carry token as the basic-auth password, as a private index does. Every
// project page lists every file in files (file name to content; pip picks
// the ones of the project it asks for). It returns the index's host:port.
func PrivateIndex(t testing.TB, token string, files map[string][]byte) string {
	t.Helper()
	return serveIndex(t, withToken(token, indexHandler(files)))
}

// withToken serves h to requests that carry token as the basic-auth
// password, and answers others 401, as a private index does.
func withToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// OpenIndex serves files as [PrivateIndex] does, to anyone, as an internal
// index on a private network does. It returns its simple URL.
func OpenIndex(t testing.TB, files map[string][]byte) string {
	t.Helper()
	return "http://" + serveIndex(t, indexHandler(files)) + "/simple/"
}

// indexHandler serves a PEP 503 index whose every project page lists every
// file in files, with its sha256.
func indexHandler(files map[string][]byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/simple/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><body>\n")
		for _, name := range slices.Sorted(maps.Keys(files)) {
			sum := sha256.Sum256(files[name])
			fmt.Fprintf(w, "<a href=\"/files/%s#sha256=%s\">%s</a>\n", name, hex.EncodeToString(sum[:]), name)
		}
		fmt.Fprint(w, "</body></html>\n")
	})
	mux.HandleFunc("/files/", func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[strings.TrimPrefix(r.URL.Path, "/files/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	})
	return mux
}

// serveIndex serves h on 127.0.0.1 until the test ends and returns its
// host:port.
func serveIndex(t testing.TB, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// Sdist makes a source distribution, NAME-VERSION.tar.gz, of the files in
// dir, with replace's files (name to content) put in or over them.
func Sdist(t testing.TB, dir, name, version string, replace map[string]string) (string, []byte) {
	t.Helper()
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if files[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, v := range replace {
		files[k] = []byte(v)
	}
	files["PKG-INFO"] = []byte(fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	prefix := strings.ReplaceAll(name, "-", "_") + "-" + version
	for _, f := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: prefix + "/" + f, Mode: 0o644, Size: int64(len(files[f])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[f])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return prefix + ".tar.gz", buf.Bytes()
}

// Wheel makes a pure-Python wheel, NAME-VERSION-py3-none-any.whl, holding
// files (path in the wheel to content) and its metadata, and returns its
// file name and content. Files are stored, not compressed, so a large file
// of random bytes makes a wheel of about that size.
func Wheel(t testing.TB, name, version string, files map[string][]byte) (string, []byte) {
	t.Helper()
	return WheelRequiring(t, name, version, nil, files)
}

// WheelRequiring makes a wheel as [Wheel] does, whose metadata names
// requires (PEP 508 requirements) as its dependencies.
func WheelRequiring(t testing.TB, name, version string, requires []string, files map[string][]byte) (string, []byte) {
	t.Helper()
	dist := strings.ReplaceAll(name, "-", "_")
	info := dist + "-" + version + ".dist-info/"
	all := maps.Clone(files)
	meta := fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)
	for _, r := range requires {
		meta += "Requires-Dist: " + r + "\n"
	}
	all[info+"METADATA"] = []byte(meta)
	all[info+"WHEEL"] = []byte("Wheel-Version: 1.0\nGenerator: imagebuild-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range slices.Sorted(maps.Keys(all)) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(all[f]); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(all[f])
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f, base64.RawURLEncoding.EncodeToString(sum[:]), len(all[f]))
	}
	record.WriteString(info + "RECORD,,\n")
	w, err := zw.Create(info + "RECORD")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, record.String())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return dist + "-" + version + "-py3-none-any.whl", buf.Bytes()
}

// BuildBackend returns the setuptools and wheel wheels the test base's
// Python bundles (Debian's python3-pip-whl and python3-setuptools-whl), by
// file name, for an index that serves them to pip's isolated builds of
// source distributions.
func BuildBackend(t testing.TB) map[string][]byte {
	t.Helper()
	rootfs, err := script(context.Background(), "testbase-rootfs.sh")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, pattern := range []string{"setuptools-*.whl", "wheel-*.whl"} {
		matches, err := filepath.Glob(filepath.Join(rootfs, "usr", "share", "python-wheels", pattern))
		if err != nil || len(matches) != 1 {
			t.Fatalf("test base: want one %s in /usr/share/python-wheels, found %v", pattern, matches)
		}
		if out[filepath.Base(matches[0])], err = os.ReadFile(matches[0]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// RealSdistsDir is where the upstream source distributions the tests
// compile are kept: shared/real-sdists beside the repository (asyncpg's and
// hiredis's sdists, and the setuptools, wheel and Cython wheels pip needs
// to build them in isolation; its README says where each came from).
func RealSdistsDir() string {
	return filepath.Join(repoRoot(), "..", "shared", "real-sdists")
}

// RealIndex serves every file of [RealSdistsDir] from a private index on
// loopback, as PyPI would serve them, and returns the pip.conf that reaches
// it (the token in the index URL). Without the folder the test ends as
// [Unavailable] says. [ServeRealIndex] serves the same index and takes
// more files while it runs.
func RealIndex(t testing.TB) []byte {
	t.Helper()
	return ServeRealIndex(t).PipConf()
}
