package oci_test

import (
	"fmt"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/imagebuild/imagebuild/oci"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// An index of two platforms' images, as the oci exporter writes one for
// --platform linux/amd64,linux/arm64: list its platforms, pick one.
func ExampleImage() {
	var adds []mutate.IndexAddendum
	var arm64 v1.Image
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(64, 1)
		if err != nil {
			panic(err)
		}
		if arch == "arm64" {
			arm64 = img
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)

	ps, err := oci.Platforms(idx)
	if err != nil {
		panic(err)
	}
	for _, p := range ps {
		fmt.Println(platforms.Format(p))
	}
	img, err := oci.Image(idx, ocispecs.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		panic(err)
	}
	got, _ := img.Digest()
	want, _ := arm64.Digest()
	fmt.Println("arm64's image:", got == want)
	// Output:
	// linux/amd64
	// linux/arm64
	// arm64's image: true
}
