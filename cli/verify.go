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
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/sign"
	"github.com/imagebuild/imagebuild/verify"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
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
	var v signature.Verifier
	if *key != "" {
		if v, err = sign.LoadVerifier(*key); err != nil {
			return usagef("--key %s: %v", *key, err)
		}
	}
	tmp, err := os.MkdirTemp("", "imagebuild-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	opt := verify.OpenOptions{Platform: p, Tmp: tmp}
	if v != nil {
		opt.Signed = sign.SignedBy(v)
	}
	opened, err := verify.Load(ctx, target, opt)
	switch {
	case errors.Is(err, verify.ErrNotReference):
		return usagef("--key: %v", err)
	case errors.Is(err, verify.ErrNoTarget):
		return usageError{err}
	case err != nil:
		return err
	}
	// The report is the output in JSON; the signature passed when it is
	// written at all.
	if opened.Signed && *format == "text" {
		fp, err := sign.Fingerprint(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "pass signature: %s is signed by %s (%s)\n", opened.Target, *key, fp); err != nil {
			return err
		}
	}
	return writeReports(ctx, opened, *format, stdout)
}

// writeReports verifies each platform's image of what was opened and
// writes the reports; a failed check is an error.
func writeReports(ctx context.Context, opened *verify.Opened, format string, stdout io.Writer) error {
	imgs := opened.Images
	var reports []*verify.Report
	var failed []string
	for _, img := range imgs {
		report, err := verify.Image(ctx, img.Image, verify.Options{SBOM: img.SBOM})
		if err != nil {
			return fmt.Errorf("verify %s (%s): %w", opened.Target, platforms.Format(img.Platform), err)
		}
		reports = append(reports, report)
		for _, f := range report.Failures() {
			failed = append(failed, platforms.Format(img.Platform)+" "+f)
		}
	}
	var err error
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
