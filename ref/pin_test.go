package ref

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePin(t *testing.T) {
	const hex = "236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d"
	tests := []struct {
		name    string
		in      string
		want    Pin
		wantErr bool
		msg     string // in the error
	}{
		{name: "full", in: "docker.io/library/python:3.12-alpine@sha256:" + hex, want: Pin("docker.io/library/python:3.12-alpine@sha256:" + hex)},
		{name: "familiar name is normalised", in: "python:3.12-alpine@sha256:" + hex, want: Pin("docker.io/library/python:3.12-alpine@sha256:" + hex)},
		{name: "loopback registry", in: "127.0.0.1:5000/test/debian:bookworm@sha256:" + hex, want: Pin("127.0.0.1:5000/test/debian:bookworm@sha256:" + hex)},
		{name: "no digest", in: "python:3.12-alpine", wantErr: true},
		{name: "no tag", in: "python@sha256:" + hex, wantErr: true},
		{name: "short digest", in: "python:3.12-alpine@sha256:236173eb", wantErr: true, msg: `malformed digest: a sha256 digest is 64 hex digits (0-9, a-f), this one is "236173eb" (8 characters)`},
		{name: "not hex", in: "python:3.12-alpine@sha256:" + hex[:63] + "g", wantErr: true, msg: "a sha256 digest is 64 hex digits"},
		{name: "digest without algorithm", in: "python:3.12-alpine@" + hex, wantErr: true, msg: "want sha256:<64 hex digits>"},
		{name: "other algorithm", in: "python:3.12-alpine@sha512:" + hex + hex, wantErr: true, msg: "is not sha256"},
		{name: "empty", in: "", wantErr: true},
		{name: "uppercase name", in: "Python:3.12@sha256:" + hex, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePin(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidPin) {
					t.Fatalf("ParsePin(%q) = %q, %v; want ErrInvalidPin", tt.in, got, err)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("ParsePin(%q) = %v; want it to say %q", tt.in, err, tt.msg)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestPinValidateWantsFullyQualified(t *testing.T) {
	p := Pin("python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d")
	if err := p.Validate(); !errors.Is(err, ErrInvalidPin) {
		t.Fatalf("Validate(%q) = %v, want ErrInvalidPin: pins are written in full", p, err)
	}
}

func TestPinParts(t *testing.T) {
	p := Pin("docker.io/library/python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d")
	if got, want := p.Name(), "docker.io/library/python"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if got, want := p.Tag(), "3.12-alpine"; got != want {
		t.Errorf("Tag() = %q, want %q", got, want)
	}
	if got, want := p.Tagged(), "docker.io/library/python:3.12-alpine"; got != want {
		t.Errorf("Tagged() = %q, want %q", got, want)
	}
	if got, want := p.Digest().String(), "sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d"; got != want {
		t.Errorf("Digest() = %q, want %q", got, want)
	}
}
