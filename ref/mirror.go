package ref

import (
	"fmt"
	"net"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Labels an image records about its base, as BuildKit's Dockerfile frontend
// and the OCI annotations spec name them.
const (
	LabelBaseName   = "org.opencontainers.image.base.name"
	LabelBaseDigest = "org.opencontainers.image.base.digest"
)

// Mirrors maps a registry host (docker.io, ghcr.io, ...) to a mirror host
// that serves the same repositories. A pinned image is pulled from its
// registry's mirror by the same digest, so the mirror cannot swap content;
// the image keeps its canonical name in labels and in the graph.
type Mirrors map[string]string

// ParseMirror parses REGISTRY=MIRROR, such as docker.io=mirror.example.com:5000.
func ParseMirror(s string) (registry, mirror string, err error) {
	registry, mirror, ok := strings.Cut(s, "=")
	if !ok || registry == "" || mirror == "" || strings.ContainsAny(registry+mirror, "/@ ") {
		return "", "", fmt.Errorf("registry mirror %q: want REGISTRY=MIRROR, such as docker.io=mirror.example.com", s)
	}
	return registry, mirror, nil
}

// Rewrite returns the reference ref is pulled by: on its registry's mirror
// when there is one, else ref itself.
func (m Mirrors) Rewrite(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	mirror, ok := m[reference.Domain(named)]
	if !ok {
		return ref, nil
	}
	return mirror + "/" + reference.Path(named) + strings.TrimPrefix(named.String(), named.Name()), nil
}

// Insecure reports whether host is on loopback, where registries are
// reached over plain HTTP, as BuildKit does.
func Insecure(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Parse parses ref for go-containerregistry, reaching loopback
// registries over plain HTTP as BuildKit does. It is imagebuild's one place
// that decides whether a registry is reached without TLS.
func Parse(ref string) (name.Reference, error) {
	return ParseInsecure(ref, false)
}

// ParseInsecure is [Parse], reaching ref's registry over plain HTTP also
// when insecure is set (an image output's registry.insecure=true).
func ParseInsecure(ref string, insecure bool) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil || !(insecure || Insecure(r.Context().RegistryStr())) {
		return r, err
	}
	return name.ParseReference(ref, name.Insecure)
}

// Keychain is keychain, or where it is nil, Docker's config (as BuildKit's
// pushes and pulls read it): imagebuild's one place for the registry
// credentials of what the client itself reads or pushes.
func Keychain(keychain authn.Keychain) authn.Keychain {
	if keychain == nil {
		return authn.DefaultKeychain
	}
	return keychain
}
