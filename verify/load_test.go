package verify

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// staticKeychain gives every registry one user's credentials.
type staticKeychain authn.Basic

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	b := authn.Basic(k)
	return &b, nil
}

// privateRepository starts a registry that answers only user's requests
// and returns a repository in it.
func privateRepository(t *testing.T, user authn.Basic) name.Repository {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user.Username || p != user.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/test/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// pushRandom pushes a random image to r, with auth, and returns its digest.
func pushRandom(t *testing.T, r name.Reference, auth remote.Option) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, auth); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLoadReadsWithItsKeychain: Load reads a registry, and hands the
// signature check its options, with OpenOptions.Keychain; without it, a
// private registry refuses it.
func TestLoadReadsWithItsKeychain(t *testing.T) {
	ctx := context.Background()
	user := authn.Basic{Username: "ci", Password: "token"}
	repo := privateRepository(t, user)
	kc := staticKeychain(user)
	d := pushRandom(t, repo.Tag("v1"), remote.WithAuthFromKeychain(kc))
	target := repo.Tag("v1").String()

	if _, err := Load(ctx, target, OpenOptions{}); err == nil {
		t.Fatalf("Load of a private registry's image without its credentials: no error")
	}
	o, err := Load(ctx, target, OpenOptions{Keychain: kc})
	if err != nil {
		t.Fatalf("Load with the registry's credentials: %v", err)
	}
	if len(o.Images) != 1 || o.Signed || o.Target != target {
		t.Fatalf("Load = %+v, want %s's one image, not signed", o, target)
	}
	if got, err := o.Images[0].Image.Digest(); err != nil || got != d {
		t.Errorf("Load's image is %v (%v), want %s", got, err, d)
	}

	// The check reads the tag with the options it is given: it resolves
	// the tag only with the keychain's credentials.
	check := func(ctx context.Context, r name.Reference, opts ...remote.Option) (name.Digest, error) {
		desc, err := remote.Head(r, append(opts, remote.WithContext(ctx))...)
		if err != nil {
			return name.Digest{}, err
		}
		return r.Context().Digest(desc.Digest.String()), nil
	}
	o, err = Load(ctx, target, OpenOptions{Keychain: kc, Signed: check})
	if err != nil {
		t.Fatalf("Load with a signature check: %v", err)
	}
	if want := repo.Digest(d.String()).String(); !o.Signed || o.Target != want || len(o.Images) != 1 {
		t.Errorf("Load with a signature check = %+v, want %s signed, its one image", o, want)
	}
}

// TestLoadOpensTheDigestChecked: with a signature check, what Load opens
// is the digest the check returned, not what the tag names.
func TestLoadOpensTheDigestChecked(t *testing.T) {
	ctx := context.Background()
	repo := privateRepository(t, authn.Basic{Username: "u", Password: "p"})
	kc := staticKeychain{Username: "u", Password: "p"}
	auth := remote.WithAuthFromKeychain(kc)
	signed := pushRandom(t, repo.Tag("signed"), auth)
	pushRandom(t, repo.Tag("v1"), auth)
	var asked name.Reference
	check := func(_ context.Context, r name.Reference, _ ...remote.Option) (name.Digest, error) {
		asked = r
		return r.Context().Digest(signed.String()), nil
	}
	o, err := Load(ctx, repo.Tag("v1").String(), OpenOptions{Keychain: kc, Signed: check})
	if err != nil {
		t.Fatal(err)
	}
	if asked == nil || asked.String() != repo.Tag("v1").String() {
		t.Errorf("the check was asked about %v, want %s", asked, repo.Tag("v1"))
	}
	if got, err := o.Images[0].Image.Digest(); err != nil || got != signed {
		t.Errorf("Load opened %v (%v), want the digest checked, %s", got, err, signed)
	}
}

// TestLoadSignedRefusesWhatIsNotAReference: a signature is checked in a
// registry only; a path is refused with ErrNotReference before the check
// runs, and a failed check opens nothing.
func TestLoadSignedRefusesWhatIsNotAReference(t *testing.T) {
	ran := false
	check := func(context.Context, name.Reference, ...remote.Option) (name.Digest, error) {
		ran = true
		return name.Digest{}, errors.New("no signature")
	}
	_, err := Load(context.Background(), "out/image", OpenOptions{Signed: check})
	if !errors.Is(err, ErrNotReference) || !strings.Contains(err.Error(), "out/image") {
		t.Errorf("Load(out/image) with a signature check: error %v, want ErrNotReference naming it", err)
	}
	if ran {
		t.Errorf("the signature check ran on a path")
	}
	o, err := Load(context.Background(), "127.0.0.1:1/test/app:v1", OpenOptions{Signed: check, Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}})
	if err == nil || !strings.Contains(err.Error(), "no signature") || o != nil {
		t.Errorf("Load with a failing check = %v, %v; want nothing opened and its error", o, err)
	}
}
