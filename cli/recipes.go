package cli

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
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

// modulePath is imagebuild's module.
const modulePath = "github.com/imagebuild/imagebuild"

// runVersion prints imagebuild's version and the BuildKit client's; in a
// team's own binary, the program's module and version first.
func runVersion(args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("version", pflag.ContinueOnError)
	if _, help, err := parseFlags(fs, args, stdout, "version", 0); help || err != nil {
		return err
	}
	var b strings.Builder
	v, bk := version, "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		main := info.Main.Version
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				main += " " + s.Value
			}
		}
		if info.Main.Path == modulePath || info.Main.Path == "" {
			if v == "" {
				v = main
			}
		} else {
			fmt.Fprintf(&b, "%s %s\n", info.Main.Path, main)
		}
		for _, d := range info.Deps {
			switch d.Path {
			case "github.com/moby/buildkit":
				bk = d.Version
			case modulePath:
				if v == "" {
					v = d.Version
					if d.Replace != nil {
						v += " (replaced by " + d.Replace.Path + ")"
					}
				}
			}
		}
	}
	fmt.Fprintf(&b, "imagebuild %s\nbuildkit client %s\n", v, bk)
	_, err := io.WriteString(stdout, b.String())
	return err
}
