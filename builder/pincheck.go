package builder

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// A pin's standing in its registry.
const (
	PinCurrent = "current" // the tag still points at the pinned digest
	PinStale   = "stale"   // the tag has moved on; the pinned digest still exists
	PinMissing = "missing" // the registry does not have the pinned digest
)

// PinStatus is what the registry says of a pin.
type PinStatus struct {
	Pin Pin `json:"pin"`
	// Current is the digest the pin's tag points at now: the multi-arch
	// index's digest where the tag is an index.
	Current string `json:"current"`
	// Status is PinCurrent, PinStale or PinMissing.
	Status string `json:"status"`
}

// CheckPin asks pin's registry, through its mirror in m when there is one,
// what its tag points at now and whether it still has the pinned digest.
// Registry credentials come from keychain. An unreachable registry is an
// error, never a status.
func CheckPin(ctx context.Context, pin Pin, m Mirrors, keychain authn.Keychain) (PinStatus, error) {
	st := PinStatus{Pin: pin}
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
	head := func(ref string) (string, error) {
		r, err := ParseReference(ref)
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
		st.Status = PinMissing
		return st, nil
	}
	st.Status = PinStale
	if current == pin.Digest().String() {
		st.Status = PinCurrent
	}
	return st, nil
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
