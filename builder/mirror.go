package builder

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	spb "github.com/moby/buildkit/sourcepolicy/pb"
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

// ParseReference parses ref for go-containerregistry, reaching loopback
// registries over plain HTTP as BuildKit does.
func ParseReference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil || !Insecure(r.Context().RegistryStr()) {
		return r, err
	}
	return name.ParseReference(ref, name.Insecure)
}

// sourcePolicy turns the mirrors into a BuildKit source policy that converts
// each digest-pinned image ref to its mirror, digest kept. Refs without a
// digest are not mirrored: a mirror could serve anything for a tag.
func (m Mirrors) sourcePolicy(refs []string) (*spb.Policy, error) {
	if len(m) == 0 {
		return nil, nil
	}
	p := &spb.Policy{Version: 1}
	for _, ref := range slices.Compact(slices.Sorted(slices.Values(refs))) {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return nil, err
		}
		if _, ok := named.(reference.Canonical); !ok {
			continue
		}
		to, err := m.Rewrite(ref)
		if err != nil {
			return nil, err
		}
		if to == ref {
			continue
		}
		p.Rules = append(p.Rules, &spb.Rule{
			Action:   spb.PolicyAction_CONVERT,
			Selector: &spb.Selector{Identifier: "docker-image://" + ref, MatchType: spb.MatchType_EXACT},
			Updates:  &spb.Update{Identifier: "docker-image://" + to},
		})
	}
	return p, nil
}

// imageRefs lists the refs of def's image sources, and base's.
func imageRefs(def *llb.Definition, base Pin) ([]string, error) {
	refs, err := ImageRefs(def)
	return append([]string{base.String()}, refs...), err
}

// ImageRefs lists the references of def's image sources, in the order of
// the definition, as the graph names them: llb normalizes
// python:3.12-alpine@sha256:... to docker.io/library/python:3.12-alpine@sha256:....
func ImageRefs(def *llb.Definition) ([]string, error) {
	var refs []string
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			return nil, err
		}
		if src := op.GetSource(); src != nil {
			if ref, ok := strings.CutPrefix(src.Identifier, "docker-image://"); ok {
				refs = append(refs, ref)
			}
		}
	}
	return refs, nil
}
