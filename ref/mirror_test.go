package ref

import (
	"strings"
	"testing"
)

func TestMirrorsRewrite(t *testing.T) {
	m := Mirrors{"docker.io": "mirror.example.com:5000"}
	d := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct{ in, want string }{
		{"docker.io/library/python:3.12-alpine@" + d, "mirror.example.com:5000/library/python:3.12-alpine@" + d},
		{"python:3.12-alpine", "mirror.example.com:5000/library/python:3.12-alpine"},
		{"ghcr.io/org/app:1@" + d, "ghcr.io/org/app:1@" + d},
	}
	for _, tt := range tests {
		got, err := m.Rewrite(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Rewrite(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMirror(t *testing.T) {
	if r, m, err := ParseMirror("docker.io=mirror:5000"); err != nil || r != "docker.io" || m != "mirror:5000" {
		t.Errorf("ParseMirror = %q, %q, %v", r, m, err)
	}
	for _, bad := range []string{"docker.io", "=m", "docker.io=", "docker.io=m/path"} {
		if _, _, err := ParseMirror(bad); err == nil {
			t.Errorf("ParseMirror(%q) accepted", bad)
		}
	}
}

func TestInsecure(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1:5000": true, "localhost": true, "[::1]:80": true, "registry.example.com": false, "10.0.0.1:5000": false} {
		if got := Insecure(host); got != want {
			t.Errorf("Insecure(%q) = %v, want %v", host, got, want)
		}
	}
}
