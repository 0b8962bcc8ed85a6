package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/pins"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/ref"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

// mirrorOptions is --registry-mirror, shared by build and pins.
type mirrorOptions struct {
	specs []string
}

func (o *mirrorOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.specs, "registry-mirror", nil, "pull REGISTRY's images from MIRROR by the same digest, as REGISTRY=MIRROR (repeatable)")
}

func (o *mirrorOptions) mirrors() (ref.Mirrors, error) {
	m := ref.Mirrors{}
	for _, s := range o.specs {
		reg, mirror, err := ref.ParseMirror(s)
		if err != nil {
			return nil, usagef("--registry-mirror: %v", err)
		}
		m[reg] = mirror
	}
	return m, nil
}

type pinsOptions struct {
	mirrorOptions
	// The lock's flags: the context whose imagebuild.lock is checked or
	// bumped, and the daemon and secrets that lock it again.
	daemonOptions
	contextDir string
	secrets    []string

	format  string
	file    string
	runtime bool
	builder bool
}

// bumps tells whether bump, given o's targets, rewrites a pin of role:
// with neither --runtime nor --builder, every pin; --builder, the builder
// stages' bases (their runtime's too, where one pin is both, which the
// recompile rebuilds anyway); --runtime, the bases of runtime stages alone,
// whose bump recompiles nothing, so not a pin the builder shares.
func (o pinsOptions) bumps(role string) bool {
	if !o.runtime && !o.builder {
		return true
	}
	return (o.builder && (role == roleBuilder || role == roleBoth)) || (o.runtime && role == roleRuntime)
}

func (a *app) runPins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "check" && args[0] != "bump") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			_, err := io.WriteString(stdout, "Usage: imagebuild pins check|bump [flags]\n\n  check  compare the pins of every recipe with what their tags point at now; exit 1 when any is stale or missing\n  bump   rewrite stale pins where the module's Go files declare them (or in --file); --runtime or --builder bumps those bases alone\n\nWhere the context (--context, default .) holds an imagebuild.lock, check also checks its builder image and makes the lock again on the daemon (--addr) to list the packages and build requirements with newer releases; bump (unless --runtime alone) writes the new lock and pushes its builder image again\n")
			return err
		}
		return usagef("usage: imagebuild pins check|bump [flags]")
	}
	verb := args[0]
	var o pinsOptions
	fs := pflag.NewFlagSet("pins "+verb, pflag.ContinueOnError)
	o.mirrorOptions.addFlags(fs)
	o.daemonOptions.addFlags(fs)
	fs.StringVar(&o.contextDir, "context", ".", "the build context whose imagebuild.lock (when it has one) is checked, made again on the daemon (--addr), and with bump, written again and its builder image pushed again")
	fs.StringArrayVar(&o.secrets, "secret", nil, "a build secret for locking again, as id=ID,src=PATH (repeatable); id=pipconf is pip's config file")
	fs.StringVar(&o.format, "format", "text", "output format: text or json (the lock's findings go to stderr then)")
	if verb == "bump" {
		fs.StringVar(&o.file, "file", "", "rewrite pins declared in this Go file only (default: the Go files of the module containing the current directory)")
		fs.BoolVar(&o.runtime, "runtime", false, "bump the runtime stages' own bases alone: a new runtime base rebuilds the runtime stage and recompiles nothing (a pin the builder shares is left)")
		fs.BoolVar(&o.builder, "builder", false, "bump the builder stages' bases: each recompiles every compiled distribution (default, with neither flag: every pin)")
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
		err = a.pinsCheck(ctx, m, o.format, stdout)
	} else {
		err = a.pinsBump(ctx, o, m, stdout)
	}
	if _, ok := err.(usageError); ok {
		return err
	}
	lockOut := stdout
	if o.format == "json" {
		lockOut = stderr
	}
	if lerr := a.pinsLock(ctx, verb, o, m, lockOut, stderr); lerr != nil {
		if err == nil {
			return lerr
		}
		return fmt.Errorf("%w; %w", err, lerr)
	}
	return err
}

// pinsPlatform is the platform a recipe's graph is made for to find its
// pins; a recipe's pins are of multi-arch indexes, the same for every
// platform.
var pinsPlatform = ocispecs.Platform{OS: "linux", Architecture: "amd64"}

// recipePins are the images one recipe's graph pulls.
type recipePins struct {
	recipe string
	// pins are the references pinned as NAME:TAG@sha256:<64 hex>, sorted.
	pins []ref.Pin
	// roles are the pins' roles in the recipe (roleBuilder, ...).
	roles map[ref.Pin]string
	// unpinned are the references that are not.
	unpinned []string
}

// A pin's role in a recipe: the base of its builder stage, of its runtime
// stage, of both, or another image its graph pulls.
const (
	roleBuilder = "builder"
	roleRuntime = "runtime"
	roleBoth    = "builder+runtime"
	roleImage   = "image"
)

// roleOf is the role of p in img: its runtime base is img.Base, its
// builder's img.BuilderBase (Base, where it names none).
func roleOf(img graph.Image, p ref.Pin) string {
	runtime := normalPin(img.Base) == p
	builder := normalPin(img.BuilderBase) == p || (img.BuilderBase == "" && runtime)
	switch {
	case builder && runtime:
		return roleBoth
	case builder:
		return roleBuilder
	case runtime:
		return roleRuntime
	}
	return roleImage
}

// normalPin is p as llb names it (docker.io/library/...), or "" when p is
// no pin.
func normalPin(p ref.Pin) ref.Pin {
	n, err := ref.ParsePin(p.String())
	if err != nil {
		return ""
	}
	return n
}

// rebuildOf says what a bump of a pin of role rebuilds.
func rebuildOf(role string) string {
	switch role {
	case roleRuntime:
		return "the runtime stage alone, no recompile"
	case roleBuilder, roleBoth:
		return "every compiled distribution and the runtime"
	}
	return "the steps that read it"
}

// roleIn is p's role across the recipes of rps that use it, as a bump of
// its one declaration changes it for each.
func roleIn(rps []recipePins, p ref.Pin) string {
	builder, runtime, image := false, false, false
	for _, rp := range rps {
		switch rp.roles[p] {
		case roleBoth:
			builder, runtime = true, true
		case roleBuilder:
			builder = true
		case roleRuntime:
			runtime = true
		case roleImage:
			image = true
		}
	}
	switch {
	case builder && runtime:
		return roleBoth
	case builder:
		return roleBuilder
	case runtime && !image:
		return roleRuntime
	}
	return roleImage
}

// recipesPins finds the pins of each recipe of the app in its graph.
func (a *app) recipesPins(ctx context.Context) ([]recipePins, error) {
	var out []recipePins
	for _, r := range a.recipes {
		img, err := r.Image(recipes.Inputs{Platform: pinsPlatform})
		if err != nil {
			return nil, fmt.Errorf("recipe %s: %w", r.Name(), err)
		}
		refs, err := img.Refs(ctx)
		if err != nil {
			return nil, fmt.Errorf("recipe %s: %w", r.Name(), err)
		}
		rp := recipePins{recipe: r.Name(), roles: map[ref.Pin]string{}}
		for _, r := range refs {
			p := ref.Pin(r)
			if p.Validate() != nil {
				rp.unpinned = append(rp.unpinned, r)
				continue
			}
			rp.pins = append(rp.pins, p)
			rp.roles[p] = roleOf(img, p)
		}
		out = append(out, rp)
	}
	return out, nil
}

// checkAll resolves each pin of rps once, in the order first found; an
// unreachable registry is an error.
func checkAll(ctx context.Context, rps []recipePins, m ref.Mirrors) (map[ref.Pin]pins.Status, []ref.Pin, error) {
	sts := map[ref.Pin]pins.Status{}
	var order []ref.Pin
	for _, rp := range rps {
		for _, p := range rp.pins {
			if _, ok := sts[p]; ok {
				continue
			}
			st, err := pins.Check(ctx, p, m, ref.Keychain(nil))
			if err != nil {
				return nil, nil, fmt.Errorf("check pin %s (recipe %s): %w", p, rp.recipe, err)
			}
			sts[p] = st
			order = append(order, p)
		}
	}
	return sts, order, nil
}

// unpinned is the status of an image reference not pinned by digest.
const unpinned = "unpinned"

type statusRow struct {
	Recipe  string `json:"recipe"`
	Name    string `json:"name"`
	Tag     string `json:"tag"`
	Pinned  string `json:"pinned"`
	Current string `json:"current"`
	Status  string `json:"status"`
	// Role is the pin's role in the recipe: builder, runtime,
	// builder+runtime (the base of that stage) or image.
	Role string `json:"role"`
	// Rebuild says what a bump of the pin rebuilds.
	Rebuild string   `json:"rebuild"`
	Files   []string `json:"files,omitempty"`
}

// statusRows lists each recipe's pins with their statuses, roles and the
// files they were bumped in, a pin used by several recipes once for each,
// then its unpinned references.
func statusRows(rps []recipePins, sts map[ref.Pin]pins.Status, files map[ref.Pin][]string) []statusRow {
	rows := []statusRow{}
	for _, rp := range rps {
		for _, p := range rp.pins {
			st, role := sts[p], rp.roles[p]
			rows = append(rows, statusRow{Recipe: rp.recipe, Name: p.Name(), Tag: p.Tag(), Pinned: p.Digest().String(), Current: st.Current, Status: st.State,
				Role: role, Rebuild: rebuildOf(role), Files: relPaths(files[p])})
		}
		for _, r := range rp.unpinned {
			p := ref.Pin(r)
			rows = append(rows, statusRow{Recipe: rp.recipe, Name: p.Name(), Tag: p.Tag(), Pinned: p.Digest().String(), Status: unpinned, Role: roleImage, Rebuild: rebuildOf(roleImage)})
		}
	}
	return rows
}

func writeRows(w io.Writer, format string, rows []statusRow) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECIPE\tNAME\tTAG\tPINNED\tCURRENT\tSTATUS\tBASE OF\tA BUMP REBUILDS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Recipe, r.Name, orDash(r.Tag), orDash(r.Pinned), orDash(r.Current), r.Status, r.Role, r.Rebuild)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// unpinnedError names the first reference of rps not pinned by digest,
// or is nil where there is none.
func unpinnedError(rps []recipePins) error {
	var refs []string
	for _, rp := range rps {
		for _, ref := range rp.unpinned {
			refs = append(refs, fmt.Sprintf("%s (recipe %s)", ref, rp.recipe))
		}
	}
	if len(refs) == 0 {
		return nil
	}
	return fmt.Errorf("%s not pinned as NAME:TAG@sha256:<64 hex>; pin each by its multi-arch index digest", strings.Join(refs, ", "))
}

func (a *app) pinsCheck(ctx context.Context, m ref.Mirrors, format string, stdout io.Writer) error {
	rps, err := a.recipesPins(ctx)
	if err != nil {
		return err
	}
	sts, order, err := checkAll(ctx, rps, m)
	if err != nil {
		return err
	}
	if err := writeRows(stdout, format, statusRows(rps, sts, nil)); err != nil {
		return err
	}
	var errs []string
	bad := 0
	for _, st := range sts {
		if st.State != pins.Current {
			bad++
		}
	}
	if bad > 0 {
		errs = append(errs, fmt.Sprintf("%d of %d pins are stale or missing; 'imagebuild pins bump' rewrites stale ones, a missing digest needs a person", bad, len(order)))
	}
	if err := unpinnedError(rps); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// declarations finds the pin declarations bump may rewrite: those of file
// when it is given, else those of the module containing the current
// directory. where says where they were looked for.
func declarations(file string) (decls []pins.Decl, where string, err error) {
	if file != "" {
		src, err := os.ReadFile(file)
		if err != nil {
			return nil, "", usagef("--file: %v", err)
		}
		decls, err := pins.Read(file, src)
		if err != nil {
			return nil, "", fmt.Errorf("read pins: %w", err)
		}
		return decls, file + " (--file)", nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, "", err
	}
	root, err := pins.ModuleRoot(wd)
	if err != nil {
		return nil, "", usagef("pins bump: %v; run it in the Go module that declares the pins, or name their file with --file", err)
	}
	decls, err = pins.Find(root)
	if err != nil {
		return nil, "", fmt.Errorf("read pins: %w", err)
	}
	return decls, "any Go file of the module at " + root, nil
}

func (a *app) pinsBump(ctx context.Context, o pinsOptions, m ref.Mirrors, stdout io.Writer) error {
	format := o.format
	decls, where, err := declarations(o.file)
	if err != nil {
		return err
	}
	rps, err := a.recipesPins(ctx)
	if err != nil {
		return err
	}
	sts, order, err := checkAll(ctx, rps, m)
	if err != nil {
		return err
	}
	// The pins the targets choose; a stale one left out is named below.
	var checked []pins.Status
	for _, p := range order {
		if o.bumps(roleIn(rps, p)) {
			checked = append(checked, sts[p])
		}
	}
	bumps, err := pins.BumpStale(checked, decls)
	files := map[ref.Pin][]string{}
	var changed []string
	for _, b := range bumps {
		files[b.Pin] = b.Files
		changed = append(changed, b.Files...)
	}
	if err != nil {
		if len(changed) == 0 {
			return fmt.Errorf("%w; no file was changed", err)
		}
		return fmt.Errorf("%w; only %s were changed", err, strings.Join(relPaths(changed), ", "))
	}
	var undeclared []string
	missing := 0
	for _, b := range bumps {
		switch {
		case b.State == pins.Stale && len(b.Files) == 0:
			undeclared = append(undeclared, fmt.Sprintf("stale pin %s (recipe %s) is not declared as a ref.Pin constant in %s; bump it by hand where the recipe takes it from, to %s",
				b.Pin, strings.Join(usedBy(rps, b.Pin), ", "), where, b.To))
		case b.State == pins.Missing:
			missing++
		}
	}
	if format == "json" {
		if err := writeRows(stdout, format, statusRows(rps, sts, files)); err != nil {
			return err
		}
	} else {
		for _, p := range order {
			st := sts[p]
			role := roleIn(rps, p)
			who := strings.Join(usedBy(rps, p), ", ")
			// What the pin is, and what its bump rebuilds.
			is := fmt.Sprintf("%s, whose bump rebuilds %s", roleName(role), rebuildOf(role))
			switch {
			case st.State == pins.Stale && !o.bumps(role):
				fmt.Fprintf(stdout, "stale %s (%s): %s -> %s; not bumped: %s; %s\n", p.Tagged(), who, p.Digest(), st.Current, leftOut(o, role), is)
			case st.State == pins.Stale && len(files[p]) > 0:
				fmt.Fprintf(stdout, "bumped %s (%s): %s -> %s in %s; %s\n", p.Tagged(), who, p.Digest(), st.Current, strings.Join(relPaths(files[p]), ", "), is)
			case st.State == pins.Stale:
				fmt.Fprintf(stdout, "stale %s (%s): %s -> %s; not declared in %s, not bumped; %s\n", p.Tagged(), who, p.Digest(), st.Current, where, is)
			case st.State == pins.Missing:
				fmt.Fprintf(stdout, "missing %s (%s): the registry does not have %s (tag now at %s); not bumped; %s\n", p.Tagged(), who, p.Digest(), st.Current, is)
			default:
				fmt.Fprintf(stdout, "current %s (%s): %s; %s\n", p.Tagged(), who, p.Digest(), is)
			}
		}
	}
	var errs []string
	errs = append(errs, undeclared...)
	if missing > 0 {
		errs = append(errs, fmt.Sprintf("%d pinned digests are missing from their registry; check where they came from before pinning anew", missing))
	}
	if err := unpinnedError(rps); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// roleName says what a pin of role is, in words.
func roleName(role string) string {
	switch role {
	case roleBuilder:
		return "the builder's base"
	case roleRuntime:
		return "the runtime's base"
	case roleBoth:
		return "the builder's and the runtime's base"
	}
	return "an image the graph pulls"
}

// leftOut says why o's targets leave a pin of role alone.
func leftOut(o pinsOptions, role string) string {
	switch {
	case o.runtime && role == roleBuilder:
		return "--runtime bumps runtime bases alone (--builder bumps this one)"
	case o.runtime && role == roleBoth:
		return "--runtime bumps runtime bases alone, and this one is the builder's too (give the recipe a RuntimeBase of its own to bump the runtime alone)"
	case o.builder && role == roleRuntime:
		return "--builder bumps builder bases alone (--runtime bumps it)"
	}
	return "not a base; bump without --runtime or --builder"
}

// usedBy names the recipes of rps that use p.
func usedBy(rps []recipePins, p ref.Pin) []string {
	var out []string
	for _, rp := range rps {
		if slices.Contains(rp.pins, p) {
			out = append(out, rp.recipe)
		}
	}
	return out
}

// relPaths returns paths relative to the current directory.
func relPaths(paths []string) []string {
	if len(paths) == 0 {
		return nil
	}
	wd, _ := os.Getwd()
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if rel, err := filepath.Rel(wd, p); err == nil {
			p = rel
		}
		out = append(out, p)
	}
	return out
}
