package cli

import (
	"fmt"
	"io"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

func (a *app) runRecipes(args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("recipes", pflag.ContinueOnError)
	if _, help, err := parseFlags(fs, args, stdout, "recipes", 0); help || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, r := range a.recipes {
		fmt.Fprintf(tw, "%s\t%s\n", r.Name(), r.Description())
	}
	return tw.Flush()
}

// version is imagebuild's version; release builds set it with
// -ldflags "-X github.com/imagebuild/imagebuild/cli.version=vX.Y.Z".
var version = ""

func runVersion(args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("version", pflag.ContinueOnError)
	if _, help, err := parseFlags(fs, args, stdout, "version", 0); help || err != nil {
		return err
	}
	v, bk := version, "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					v += " " + s.Value
				}
			}
		}
		for _, d := range info.Deps {
			if d.Path == "github.com/moby/buildkit" {
				bk = d.Version
			}
		}
	}
	_, err := fmt.Fprintf(stdout, "imagebuild %s\nbuildkit client %s\n", v, bk)
	return err
}
