package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/pinsrc"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/spf13/pflag"
)

// mirrorOptions is --registry-mirror, shared by build and pins.
type mirrorOptions struct {
	specs []string
}

func (o *mirrorOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.specs, "registry-mirror", nil, "pull REGISTRY's images from MIRROR by the same digest, as REGISTRY=MIRROR (repeatable)")
}

func (o *mirrorOptions) mirrors() (builder.Mirrors, error) {
	m := builder.Mirrors{}
	for _, s := range o.specs {
		reg, mirror, err := builder.ParseMirror(s)
		if err != nil {
			return nil, usagef("--registry-mirror: %v", err)
		}
		m[reg] = mirror
	}
	return m, nil
}

type pinsOptions struct {
	mirrorOptions
	format string
	file   string
}

func (a *app) runPins(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "check" && args[0] != "bump") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			_, err := io.WriteString(stdout, "Usage: imagebuild pins check|bump [flags]\n\n  check  compare every recipe pin with what its tag points at now; exit 1 when any is stale or missing\n  bump   rewrite stale pins in the Go source (--file) in place\n")
			return err
		}
		return usagef("usage: imagebuild pins check|bump [flags]")
	}
	verb := args[0]
	var o pinsOptions
	fs := pflag.NewFlagSet("pins "+verb, pflag.ContinueOnError)
	o.mirrorOptions.addFlags(fs)
	fs.StringVar(&o.format, "format", "text", "output format: text or json")
	if verb == "bump" {
		fs.StringVar(&o.file, "file", "recipes/pins.go", "the Go file that declares the pins")
	}
	if _, help, err := parseFlags(fs, args[1:], stdout, "pins "+verb+" [flags]", 0); help || err != nil {
		return err
	}
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	m, err := o.mirrors()
	if err != nil {
		return err
	}
	if verb == "check" {
		return pinsCheck(ctx, recipes.Pins(), m, o.format, stdout)
	}
	return pinsBump(ctx, o.file, m, o.format, stdout)
}

// checkAll resolves every pin; an unreachable registry is an error.
func checkAll(ctx context.Context, pins []builder.Pin, m builder.Mirrors) ([]builder.PinStatus, error) {
	var out []builder.PinStatus
	for _, p := range pins {
		st, err := builder.CheckPin(ctx, p, m, authn.DefaultKeychain)
		if err != nil {
			return nil, fmt.Errorf("check pin %s: %w", p, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func pinsCheck(ctx context.Context, pins []builder.Pin, m builder.Mirrors, format string, stdout io.Writer) error {
	sts, err := checkAll(ctx, pins, m)
	if err != nil {
		return err
	}
	if err := writeStatuses(stdout, format, sts); err != nil {
		return err
	}
	bad := 0
	for _, st := range sts {
		if st.Status != builder.PinCurrent {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d pins are stale or missing; 'imagebuild pins bump' rewrites stale ones, a missing digest needs a person", bad, len(sts))
	}
	return nil
}

type statusRow struct {
	Name    string `json:"name"`
	Tag     string `json:"tag"`
	Pinned  string `json:"pinned"`
	Current string `json:"current"`
	Status  string `json:"status"`
}

func writeStatuses(w io.Writer, format string, sts []builder.PinStatus) error {
	rows := make([]statusRow, 0, len(sts))
	for _, st := range sts {
		rows = append(rows, statusRow{st.Pin.Name(), st.Pin.Tag(), st.Pin.Digest().String(), st.Current, st.Status})
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTAG\tPINNED\tCURRENT\tSTATUS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Tag, r.Pinned, r.Current, r.Status)
	}
	return tw.Flush()
}

func pinsBump(ctx context.Context, file string, m builder.Mirrors, format string, stdout io.Writer) error {
	src, err := os.ReadFile(file)
	if err != nil {
		return usagef("--file: %v; run pins bump in the module's root or point --file at recipes/pins.go", err)
	}
	lits, err := pinsrc.Read(file, src)
	if err != nil {
		return fmt.Errorf("read pins: %w", err)
	}
	pins := make([]builder.Pin, 0, len(lits))
	for _, l := range lits {
		pins = append(pins, l.Value)
	}
	sts, err := checkAll(ctx, pins, m)
	if err != nil {
		return err
	}
	updates := map[builder.Pin]builder.Pin{}
	missing := 0
	for _, st := range sts {
		switch st.Status {
		case builder.PinStale:
			to, err := builder.ParsePin(st.Pin.Tagged() + "@" + st.Current)
			if err != nil {
				return err
			}
			updates[st.Pin] = to
		case builder.PinMissing:
			missing++
		}
	}
	if len(updates) > 0 {
		out, err := pinsrc.Replace(file, src, updates)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(file, out); err != nil {
			return err
		}
	}
	if format == "json" {
		if err := writeStatuses(stdout, format, sts); err != nil {
			return err
		}
	} else {
		for _, st := range sts {
			switch st.Status {
			case builder.PinStale:
				fmt.Fprintf(stdout, "bumped %s: %s -> %s\n", st.Pin.Tagged(), st.Pin.Digest(), st.Current)
			case builder.PinMissing:
				fmt.Fprintf(stdout, "missing %s: the registry does not have %s (tag now at %s); not bumped\n", st.Pin.Tagged(), st.Pin.Digest(), st.Current)
			default:
				fmt.Fprintf(stdout, "current %s: %s\n", st.Pin.Tagged(), st.Pin.Digest())
			}
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d pinned digests are missing from their registry; check where they came from before pinning anew", missing)
	}
	return nil
}
