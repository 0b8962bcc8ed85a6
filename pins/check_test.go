package pins

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/builder"
)

// TestCheck: a pin is current while its tag points at it, stale once the
// tag moves on, missing when the registry never had it, and an
// unreachable registry is an error; the pin's registry is reached through
// its mirror.
func TestCheck(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push := func() v1.Hash {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(host+"/library/python:3.12-alpine", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := push()
	pin := builder.Pin("docker.io/library/python:3.12-alpine@" + first.String())
	m := builder.Mirrors{"docker.io": host}
	ctx := context.Background()

	check := func(p builder.Pin, want, current string) {
		t.Helper()
		st, err := Check(ctx, p, m, authn.DefaultKeychain)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != want || st.Current != current || st.Pin != p {
			t.Errorf("Check(%s) = %+v, want status %s, current %s", p, st, want, current)
		}
	}
	check(pin, Current, first.String())
	moved := push()
	check(pin, Stale, moved.String())
	check(builder.Pin("docker.io/library/python:3.12-alpine@sha256:"+hex1), Missing, moved.String())

	srv.Close()
	if _, err := Check(ctx, pin, m, authn.DefaultKeychain); err == nil {
		t.Error("Check against a registry that is gone succeeded")
	}
}
