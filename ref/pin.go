package ref

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
)

// ErrInvalidPin is returned (wrapped) for a reference that is not a
// NAME:TAG@sha256:<64 hex> pin.
var ErrInvalidPin = errors.New("invalid pin")

// Pin is an image reference pinned by digest, written in full:
// NAME:TAG@sha256:<64 hex>, for example
// docker.io/library/python:3.12-alpine@sha256:236173eb….
// The tag says what the digest was taken from; the digest is what is pulled.
// A Pin's zero value is empty and invalid; [Pin.Validate] tells.
type Pin string

// ParsePin parses s as a [Pin]. The name is normalised the way Docker does
// (python:3.12 becomes docker.io/library/python:3.12), the tag and a sha256
// digest are required.
func ParsePin(s string) (Pin, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", parseError(s, err)
	}
	p := Pin(named.String())
	if err := p.Validate(); err != nil {
		return "", err
	}
	return p, nil
}

// Validate reports whether p is written in full as NAME:TAG@sha256:<64 hex>,
// with a fully qualified name.
func (p Pin) Validate() error {
	s := string(p)
	if s == "" {
		return fmt.Errorf("%w: empty; want NAME:TAG@sha256:<64 hex>", ErrInvalidPin)
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return parseError(s, err)
	}
	if named.String() != s {
		return fmt.Errorf("%w %q: not fully qualified; write it as %s", ErrInvalidPin, s, named.String())
	}
	if _, ok := named.(reference.Tagged); !ok {
		return fmt.Errorf("%w %q: no tag; want NAME:TAG@sha256:<64 hex>", ErrInvalidPin, s)
	}
	c, ok := named.(reference.Canonical)
	if !ok {
		return fmt.Errorf("%w %q: no digest; want NAME:TAG@sha256:<64 hex>", ErrInvalidPin, s)
	}
	if c.Digest().Algorithm() != digest.SHA256 {
		return fmt.Errorf("%w %q: digest is not sha256", ErrInvalidPin, s)
	}
	return nil
}

// parseError says what is wrong with s, which does not parse as a
// reference: its digest, when that is the part at fault, else the parser's
// reason.
func parseError(s string, err error) error {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		d := s[i+1:]
		alg, hex, ok := strings.Cut(d, ":")
		switch {
		case !ok:
			return fmt.Errorf("%w %q: malformed digest %q; want sha256:<64 hex digits>", ErrInvalidPin, s, d)
		case alg != string(digest.SHA256):
			return fmt.Errorf("%w %q: digest %q is not sha256; want sha256:<64 hex digits>", ErrInvalidPin, s, d)
		case digest.SHA256.Validate(hex) != nil:
			return fmt.Errorf("%w %q: malformed digest: a sha256 digest is 64 hex digits (0-9, a-f), this one is %q (%d characters)", ErrInvalidPin, s, hex, len(hex))
		}
	}
	return fmt.Errorf("%w %q: %v; want NAME:TAG@sha256:<64 hex>", ErrInvalidPin, s, err)
}

// Name is the repository name, such as docker.io/library/python.
func (p Pin) Name() string {
	if named := p.parsed(); named != nil {
		return named.Name()
	}
	return ""
}

// Tag is the tag the digest was taken from, such as 3.12-alpine.
func (p Pin) Tag() string {
	if t, ok := p.parsed().(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// Digest is the pinned digest.
func (p Pin) Digest() digest.Digest {
	if c, ok := p.parsed().(reference.Canonical); ok {
		return c.Digest()
	}
	return ""
}

// Tagged is the name and tag without the digest, as the image's base-name
// label records it: docker.io/library/python:3.12-alpine.
func (p Pin) Tagged() string {
	if p.Tag() == "" {
		return p.Name()
	}
	return p.Name() + ":" + p.Tag()
}

// String returns the pin as written.
func (p Pin) String() string { return string(p) }

func (p Pin) parsed() reference.Named {
	named, err := reference.ParseNormalizedNamed(string(p))
	if err != nil {
		return nil
	}
	return named
}
