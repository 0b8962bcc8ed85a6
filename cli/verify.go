package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/imagebuild/imagebuild/sign"
	"github.com/imagebuild/imagebuild/verify"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

const verifyTargetHelp = `TARGET is read as a file when a file or directory exists at that path: an OCI
or docker tarball, or an OCI layout directory. Otherwise it must be a registry
reference with a tag or a digest (NAME:TAG, NAME@sha256:<digest>), which is
pulled; anything else is reported as no such file.`

func runVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("verify", pflag.ContinueOnError)
	platform := fs.String("platform", "", "verify only this platform's image, where TARGET holds several (default: every platform's)")
	format := fs.String("format", "text", "output format: text or json (a JSON array of reports, one a platform, where TARGET holds several)")
	key := fs.String("key", "", "check first that TARGET, a registry reference, is signed by this cosign public key (cosign.pub), as cosign v2 stores signatures")
	pos, help, err := parseFlags(fs, args, stdout, "verify TARGET [--platform P] [--format text|json] [--key KEY.pub]\n\n"+verifyTargetHelp, 1)
	if help || err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usagef("--format %q: want text or json", *format)
	}
	target := pos[0]
	var p ocispecs.Platform
	if *platform != "" {
		if p, err = platforms.Parse(*platform); err != nil {
			return usagef("--platform %q: %v", *platform, err)
		}
		p = platforms.Normalize(p)
	}
	images := func(tmp string) ([]verify.PlatformImage, error) {
		return verify.Images(ctx, target, p, tmp)
	}
	if *key != "" {
		// The report is the output in JSON; the signature passed when
		// it is written at all.
		w := stdout
		if *format == "json" {
			w = io.Discard
		}
		d, auth, err := verifySignature(ctx, target, *key, w)
		if err != nil {
			return err
		}
		// The image checked is the one whose signature was: by digest,
		// wherever the tag moves meanwhile, and from the registry,
		// whatever file is named like it.
		target = d.String()
		images = func(string) ([]verify.PlatformImage, error) {
			return verify.Pulled(ctx, d, p, auth)
		}
	}
	return verifyTarget(ctx, target, images, *format, stdout)
}

// verifyTarget verifies each platform's image of target, as images opens
// them (tmp is where it may unpack), and writes the reports; a failed check
// is an error.
func verifyTarget(ctx context.Context, target string, images func(tmp string) ([]verify.PlatformImage, error), format string, stdout io.Writer) error {
	tmp, err := os.MkdirTemp("", "imagebuild-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	imgs, err := images(tmp)
	if errors.Is(err, verify.ErrNoTarget) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	var reports []*verify.Report
	var failed []string
	for _, img := range imgs {
		report, err := verify.Image(ctx, img.Image, verify.Options{SBOM: img.SBOM})
		if err != nil {
			return fmt.Errorf("verify %s (%s): %w", target, platforms.Format(img.Platform), err)
		}
		reports = append(reports, report)
		for _, f := range report.Failures() {
			failed = append(failed, platforms.Format(img.Platform)+" "+f)
		}
	}
	switch {
	case format == "json" && len(reports) == 1:
		err = reports[0].WriteJSON(stdout)
	case format == "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(reports)
	default:
		for i, r := range reports {
			if len(reports) > 1 {
				if _, err := fmt.Fprintf(stdout, "%s:\n", platforms.Format(imgs[i].Platform)); err != nil {
					return err
				}
			}
			if err := r.WriteText(stdout); err != nil {
				return err
			}
		}
	}
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("verify failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// verifyImage verifies one platform's image of a build, with the SBOM
// attached to it (nil for none), and writes the report, headed by the
// platform; a failed check is an error.
func verifyImage(ctx context.Context, img v1.Image, p ocispecs.Platform, sbom []byte, stdout io.Writer) error {
	report, err := verify.Image(ctx, img, verify.Options{SBOM: sbom})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s:\n", platforms.Format(p)); err != nil {
		return err
	}
	if err := report.WriteText(stdout); err != nil {
		return err
	}
	if !report.Passed() {
		return errors.New(strings.Join(report.Failures(), "; "))
	}
	return nil
}

// verifySignature checks that target, a registry reference, is signed by
// the cosign public key in the file key, says so on stdout and returns the
// digest whose signature it checked (REPO@DIGEST) and the credentials it
// read the registry with.
func verifySignature(ctx context.Context, target, key string, stdout io.Writer) (name.Digest, remote.Option, error) {
	v, err := sign.LoadVerifier(key)
	if err != nil {
		return name.Digest{}, nil, usagef("--key %s: %v", key, err)
	}
	if !verify.IsReference(target) {
		return name.Digest{}, nil, usagef("--key: %s is not a registry reference (NAME:TAG or NAME@sha256:<digest>): signatures are checked in the registry the image was pushed to", target)
	}
	r, err := ref.Parse(target)
	if err != nil {
		return name.Digest{}, nil, usagef("--key: %s: %v", target, err)
	}
	auth := remote.WithAuthFromKeychain(ref.Keychain(nil))
	d, err := sign.Signed(ctx, r, v, auth)
	if err != nil {
		return name.Digest{}, nil, err
	}
	fp, err := sign.Fingerprint(v)
	if err != nil {
		return name.Digest{}, nil, err
	}
	_, err = fmt.Fprintf(stdout, "pass signature: %s is signed by %s (%s)\n", d, key, fp)
	return d, auth, err
}
