package pins

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/ref"
)

// TestCheck: a pin is current while its tag points at it, stale once the
// tag moves on, missing when the registry never had it, and an
// unreachable registry is an error; the pin's registry is reached through
// its mirror.
func TestCheck(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push := func() string {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		return testenv.PushImage(t, host+"/library/python:3.12-alpine", img)
	}
	first := push()
	pin := ref.Pin("docker.io/library/python:3.12-alpine@" + first)
	m := ref.Mirrors{"docker.io": host}
	ctx := context.Background()

	check := func(p ref.Pin, want, current string) {
		t.Helper()
		st, err := Check(ctx, p, m, authn.DefaultKeychain)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != want || st.Current != current || st.Pin != p {
			t.Errorf("Check(%s) = %+v, want status %s, current %s", p, st, want, current)
		}
	}
	check(pin, Current, first)
	moved := push()
	check(pin, Stale, moved)
	check(ref.Pin("docker.io/library/python:3.12-alpine@sha256:"+hex1), Missing, moved)

	srv.Close()
	if _, err := Check(ctx, pin, m, authn.DefaultKeychain); err == nil {
		t.Error("Check against a registry that is gone succeeded")
	}
}
