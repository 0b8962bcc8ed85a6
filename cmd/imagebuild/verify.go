package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/verify"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

const verifyTargetHelp = `TARGET is read as a file when a file or directory exists at that path: an OCI
or docker tarball, or an OCI layout directory. Otherwise it must be a registry
reference with a tag or a digest (NAME:TAG, NAME@sha256:<digest>), which is
pulled; anything else is reported as no such file.`

func runVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("verify", pflag.ContinueOnError)
	platform := fs.String("platform", "linux/amd64", "the platform's image, where TARGET holds several")
	format := fs.String("format", "text", "output format: text or json")
	pos, help, err := parseFlags(fs, args, stdout, "verify TARGET [--platform P] [--format text|json]\n\n"+verifyTargetHelp, 1)
	if help || err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usagef("--format %q: want text or json", *format)
	}
	p, err := platforms.Parse(*platform)
	if err != nil {
		return usagef("--platform %q: %v", *platform, err)
	}
	return verifyTarget(ctx, pos[0], platforms.Normalize(p), *format, stdout)
}

// verifyTarget verifies the image at target and writes the report; a failed
// check is an error.
func verifyTarget(ctx context.Context, target string, p ocispecs.Platform, format string, stdout io.Writer) error {
	tmp, err := os.MkdirTemp("", "imagebuild-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	img, err := verify.Open(ctx, target, p, tmp)
	if errors.Is(err, verify.ErrNoTarget) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	report, err := verify.Image(ctx, img, verify.Options{})
	if err != nil {
		return fmt.Errorf("verify %s: %w", target, err)
	}
	if format == "json" {
		err = report.WriteJSON(stdout)
	} else {
		err = report.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if !report.Passed() {
		return fmt.Errorf("verify failed: %s", strings.Join(report.Failures(), "; "))
	}
	return nil
}

// verifyBuild builds img into a temporary OCI tarball and verifies it, so
// that nothing is written or pushed before the image passes.
func verifyBuild(ctx context.Context, c *client.Client, img builder.Image, so builder.SolveOpt, progress string, stdout, stderr io.Writer) error {
	tmp, err := os.MkdirTemp("", "imagebuild-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pre := so
	tarball := filepath.Join(tmp, "image.oci.tar")
	pre.Outputs = []builder.Output{{Type: client.ExporterOCI, Dest: tarball}}
	err = withProgress(ctx, stderr, progress, 1, func(ctx context.Context, status []chan *client.SolveStatus) error {
		_, err := builder.Solve(ctx, c, img, pre, status[0])
		return err
	})
	if err != nil {
		return err
	}
	if err := verifyTarget(ctx, tarball, img.Platform, "text", stdout); err != nil {
		return fmt.Errorf("%w; nothing was written or pushed", err)
	}
	return nil
}
