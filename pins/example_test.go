package pins_test

import (
	"fmt"

	"github.com/imagebuild/imagebuild/pins"
	"github.com/imagebuild/imagebuild/ref"
)

const pinsGo = `package deploy

import "github.com/imagebuild/imagebuild/ref"

// Base is the image every service of the team builds on.
const Base ref.Pin = "python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d"
`

// A team's pins file: its pin constants, found by their type, and one
// bumped to a new digest, written as the team wrote it.
func ExampleReplace() {
	decls, err := pins.Read("deploy/pins.go", []byte(pinsGo))
	if err != nil {
		panic(err)
	}
	stale := ref.Pin("docker.io/library/python:3.12-alpine@sha256:236173eb74001afe2f60862de935b74fcbd00adfca247b2c27051a70a6a39a2d")
	for _, d := range decls {
		fmt.Printf("%s:%d %s declares the stale pin: %v\n", d.File, d.Line, d.Name, d.Is(stale))
	}
	bumped := ref.Pin("docker.io/library/python:3.12-alpine@sha256:0000000000000000000000000000000000000000000000000000000000000001")
	out, err := pins.Replace("deploy/pins.go", []byte(pinsGo), map[ref.Pin]ref.Pin{stale: bumped})
	if err != nil {
		panic(err)
	}
	after, err := pins.Read("deploy/pins.go", out)
	if err != nil {
		panic(err)
	}
	fmt.Println(after[0].Value)
	// Output:
	// deploy/pins.go:6 Base declares the stale pin: true
	// python:3.12-alpine@sha256:0000000000000000000000000000000000000000000000000000000000000001
}
