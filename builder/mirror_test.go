package builder

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/ref"
)

func TestMirrorsSourcePolicy(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	p, err := sourcePolicy(ref.Mirrors{"docker.io": "127.0.0.1:5000"}, []string{
		"docker.io/library/python:3.12-slim@" + d,
		"docker.io/library/python:3.12-slim@" + d, // twice: one rule
		"docker.io/library/debian:bookworm",       // no digest: not mirrored
		"ghcr.io/org/app:1@" + d,                  // no mirror for ghcr.io
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Rules {
		got = append(got, r.Selector.Identifier+" -> "+r.Updates.Identifier)
	}
	want := []string{"docker-image://docker.io/library/python:3.12-slim@" + d + " -> docker-image://127.0.0.1:5000/library/python:3.12-slim@" + d}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}
