package testenv

import (
	"bytes"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// realIndexToken is the password of the index [ServeRealIndex] serves.
const realIndexToken = "real-index-token"

// RealIndexServer is a private index on loopback serving every file of
// [RealSdistsDir], as [RealIndex] does, to which a test adds files while
// it runs (a new release of a build requirement, say, between two builds).
type RealIndexServer struct {
	t    testing.TB
	addr string

	mu    sync.Mutex
	files map[string][]byte
}

// ServeRealIndex starts a [RealIndexServer], stopped when the test ends.
// Without the folder [RealSdistsDir] the test ends as [Unavailable] says.
func ServeRealIndex(t testing.TB) *RealIndexServer {
	t.Helper()
	dir := RealSdistsDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		Unavailable(t, "real sdists: %v (the folder shared/real-sdists beside the repository holds them)", err)
	}
	s := &RealIndexServer{t: t, files: map[string][]byte{}}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".tar.gz") || strings.HasSuffix(n, ".whl") {
			if s.files[n], err = os.ReadFile(filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.addr = serveIndex(t, withToken(realIndexToken, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		files := maps.Clone(s.files)
		s.mu.Unlock()
		indexHandler(files).ServeHTTP(w, r)
	})))
	return s
}

// PipConf is the pip.conf that reaches the index, its token in the index
// URL.
func (s *RealIndexServer) PipConf() []byte {
	return []byte("[global]\nindex-url = http://ci:" + realIndexToken + "@" + s.addr + "/simple/\n")
}

// Add serves data as the file name (such as a wheel from [BumpWheel]) from
// now on, in place of any file of that name. Every project page lists it,
// as every file of the index.
func (s *RealIndexServer) Add(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = bytes.Clone(data)
}

// File returns the content of the file name the index serves; a file it
// does not serve fails the test.
func (s *RealIndexServer) File(name string) []byte {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.files[name]
	if !ok {
		s.t.Fatalf("real index: no file %s (it serves %s)", name, strings.Join(slices.Sorted(maps.Keys(s.files)), ", "))
	}
	return bytes.Clone(data)
}
