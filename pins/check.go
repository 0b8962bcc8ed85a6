package pins

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/imagebuild/imagebuild/ref"
)

// A pin's standing in its registry.
const (
	Current = "current" // the tag still points at the pinned digest
	Stale   = "stale"   // the tag has moved on; the pinned digest still exists
	Missing = "missing" // the registry does not have the pinned digest
)

// Status is what the registry says of a pin.
type Status struct {
	Pin ref.Pin `json:"pin"`
	// Current is the digest the pin's tag points at now: the multi-arch
	// index's digest where the tag is an index.
	Current string `json:"current"`
	// State is Current, Stale or Missing.
	State string `json:"status"`
}

// Check asks pin's registry, through its mirror in m when there is one,
// what its tag points at now and whether it still has the pinned digest.
// Registry credentials come from keychain. An unreachable registry is an
// error, never a status.
func Check(ctx context.Context, pin ref.Pin, m ref.Mirrors, keychain authn.Keychain) (Status, error) {
	st := Status{Pin: pin}
	if err := pin.Validate(); err != nil {
		return st, err
	}
	tag, err := m.Rewrite(pin.Tagged())
	if err != nil {
		return st, err
	}
	byDigest, err := m.Rewrite(pin.Name() + "@" + pin.Digest().String())
	if err != nil {
		return st, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain)}
	head := func(s string) (string, error) {
		r, err := ref.Parse(s)
		if err != nil {
			return "", err
		}
		desc, err := remote.Head(r, opts...)
		if err != nil {
			return "", err
		}
		return desc.Digest.String(), nil
	}
	current, err := head(tag)
	if err != nil {
		return st, fmt.Errorf("resolve %s: %w", tag, err)
	}
	st.Current = current
	if _, err := head(byDigest); err != nil {
		if !notFound(err) {
			return st, fmt.Errorf("look up %s: %w", byDigest, err)
		}
		st.State = Missing
		return st, nil
	}
	st.State = Stale
	if current == pin.Digest().String() {
		st.State = Current
	}
	return st, nil
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
