package testenv

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
)

// MemoryRepository starts go-containerregistry's in-memory registry on
// 127.0.0.1, spoken to in plain HTTP and stopped when the test ends, and
// returns the repository test/app in it.
func MemoryRepository(t testing.TB) name.Repository {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/test/app")
	if err != nil {
		t.Fatal(err)
	}
	return repo
}
