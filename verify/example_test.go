package verify_test

import (
	"context"
	"log"
	"os"

	"github.com/imagebuild/imagebuild/verify"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Check ADR-003's promises (docs/adr-003.md) on the linux/amd64 image of an OCI tarball,
// as `imagebuild verify image.oci.tar` does. (Not run: it needs an image.)
func ExampleImage() {
	ctx := context.Background()
	img, err := verify.Open(ctx, "image.oci.tar", ocispecs.Platform{OS: "linux", Architecture: "amd64"}, os.TempDir())
	if err != nil {
		log.Fatal(err)
	}
	report, err := verify.Image(ctx, img, verify.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := report.WriteText(os.Stdout); err != nil {
		log.Fatal(err)
	}
	if !report.Passed() {
		os.Exit(1)
	}
}
