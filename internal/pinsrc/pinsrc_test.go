package pinsrc

import (
	"go/format"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/builder"
)

const src = `package recipes

import "github.com/imagebuild/imagebuild/builder"

const (
	// A is one pin.
	A builder.Pin = "docker.io/library/python:3.12-alpine@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	// B is another.
	B builder.Pin = "docker.io/library/python:3.12-slim@sha256:2222222222222222222222222222222222222222222222222222222222222222"
	other = "docker.io/library/python:3.12-alpine@sha256:1111111111111111111111111111111111111111111111111111111111111111"
)
`

func TestReadAndReplace(t *testing.T) {
	formatted, err := format.Source([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	src := string(formatted)
	lits, err := Read("pins.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range lits {
		names = append(names, l.Name)
	}
	if diff := cmp.Diff([]string{"A", "B"}, names); diff != "" {
		t.Errorf("pins read (-want +got):\n%s", diff)
	}
	old := lits[0].Value
	to := builder.Pin(strings.Replace(string(old), strings.Repeat("1", 64), strings.Repeat("3", 64), 1))
	out, err := Replace("pins.go", []byte(src), map[builder.Pin]builder.Pin{old: to})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(src, string(old), string(to), 1)
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("Replace (-want +got):\n%s", diff)
	}
}

func TestReadRejectsNonLiteralPins(t *testing.T) {
	bad := "package recipes\n\nimport \"github.com/imagebuild/imagebuild/builder\"\n\nconst x = \"a\"\n\nconst A builder.Pin = x\n"
	if _, err := Read("pins.go", []byte(bad)); err == nil {
		t.Error("Read accepted a pin that is not a string literal")
	}
}
