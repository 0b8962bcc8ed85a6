package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/progress/progressui"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
)

// buildOptions are build's flags.
type buildOptions struct {
	graphOptions
	mirrorOptions
	daemonOptions
	secrets      []string
	provenance   string
	sbom         bool
	sign         string
	outputs      []string
	tags         []string
	push         bool
	load         bool
	network      string
	metadataFile string
	progress     string
	noCache      bool
	epoch        string
	checkRepro   bool
	verify       bool
	cacheTo      []string
	cacheFrom    []string
	builders     []string
}

func (o *buildOptions) addFlags(fs *pflag.FlagSet) {
	o.graphOptions.addFlags(fs, "target platforms, comma-separated or repeated (linux/amd64,linux/arm64): one image index with a manifest each; default: the daemon's own")
	o.mirrorOptions.addFlags(fs)
	o.daemonOptions.addFlags(fs)
	fs.StringArrayVar(&o.builders, "builder", nil, "build a platform of --platform on its own daemon, PLATFORM=ADDR (repeatable; the TLS flags apply to every address); the rest go to --addr's; one index is assembled")
	fs.StringArrayVar(&o.secrets, "secret", nil, "a build secret, as id=ID,src=PATH (repeatable); id=pipconf is pip's config file during the pip step")
	fs.StringVar(&o.provenance, "provenance", "", "attach BuildKit's SLSA provenance attestation: mode=min or mode=max")
	fs.StringVar(&o.sign, "sign", "", "after the push, sign what was pushed (the index and each platform's manifest) with this cosign private key (cosign generate-key-pair; its password in $COSIGN_PASSWORD), stored as cosign v2 stores it: the NAME:sha256-<hex>.sig tag")
	fs.BoolVar(&o.sbom, "sbom", false, "attach an SPDX 2.3 SBOM of each platform's image as an in-toto attestation: its OS packages, Python distributions and their files, the base by digest")
	progress := progressDefault()
	fs.StringArrayVarP(&o.outputs, "output", "o", nil, "output: type=oci,dest=FILE | type=docker,dest=FILE | type=image,name=NAME[,push=true] | type=local,dest=DIR (repeatable)")
	fs.StringArrayVarP(&o.tags, "tag", "t", nil, "image name; shorthand for --output type=image,name=NAME (repeatable)")
	fs.BoolVar(&o.push, "push", false, "push the images named by --tag")
	fs.BoolVar(&o.load, "load", false, "load the image into Docker Engine's image store under its --tag names: the engine built on (--addr docker://), else the one DOCKER_HOST or the Docker context names")
	fs.StringVar(&o.network, "network", "default", "network of the build steps that run a process: default (the daemon's), host (the host's; the daemon must allow network.host) or none")
	fs.StringVar(&o.metadataFile, "metadata-file", "", "write the exporter response (containerimage.digest, ...) as JSON to this file")
	fs.StringVar(&o.progress, "progress", progress, "progress output: auto, tty, plain, rawjson or quiet ($BUILDKIT_PROGRESS)")
	fs.BoolVar(&o.noCache, "no-cache", false, "ignore the cache for every step")
	fs.StringVar(&o.epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time the image is dated; default $SOURCE_DATE_EPOCH, else the context's git HEAD commit time, else 0")
	fs.BoolVar(&o.verify, "verify", false, "verify each platform's image (see 'imagebuild verify') before anything is written or pushed")
	fs.StringArrayVar(&o.cacheTo, "cache-to", nil, "export the build cache: type=registry,ref=REF[,mode=min|max] | type=local,dest=DIR | type=inline | type=gha | type=s3,... | type=azblob,... | REF (repeatable; mode=max by default)")
	fs.StringArrayVar(&o.cacheFrom, "cache-from", nil, "import a build cache: type=registry,ref=REF | type=local,src=DIR | type=gha | type=s3,... | type=azblob,... | REF (repeatable)")
	fs.BoolVar(&o.checkRepro, "check-reproducible", false, "build twice, the second time ignoring every cache, compare each platform's image, and write outputs only when both builds give the same")
}

// progressDefault is --progress's default: $BUILDKIT_PROGRESS, else auto.
func progressDefault() string {
	if p := os.Getenv("BUILDKIT_PROGRESS"); p != "" {
		return p
	}
	return string(progressui.AutoMode)
}

// sourceDateEpoch is --source-date-epoch; nil leaves the date to the
// library: the context's git HEAD commit time, else 0.
func (o *buildOptions) sourceDateEpoch() (*time.Time, error) {
	if o.epoch == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(o.epoch, 10, 64)
	if err != nil || n < 0 {
		return nil, usagef("--source-date-epoch %q: want a Unix time in seconds, such as $(git log -1 --format=%%ct)", o.epoch)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// options turns the flags into the library's options for a build; the
// plan checks them (see planError).
func (o *buildOptions) options() (builder.Options, error) {
	so := builder.Options{NoCache: o.noCache, CheckReproducible: o.checkRepro, MetadataFile: o.metadataFile, Provenance: o.provenance, SBOM: o.sbom}
	for _, spec := range o.outputs {
		out, err := parseOutput(spec)
		if err != nil {
			return so, err
		}
		so.Outputs = append(so.Outputs, out)
	}
	if o.push && len(o.tags) == 0 {
		return so, usagef("--push needs --tag NAME")
	}
	if o.load && len(o.tags) == 0 {
		return so, usagef("--load needs --tag NAME: the name the engine lists the image under")
	}
	if len(o.tags) > 0 && (o.push || !o.load) {
		attrs := map[string]string{"name": strings.Join(o.tags, ",")}
		if o.push {
			attrs["push"] = "true"
		}
		so.Outputs = append(so.Outputs, output.Output{Type: client.ExporterImage, Attrs: attrs})
	}
	if o.load {
		so.Outputs = append(so.Outputs, output.Output{Type: output.OutputLoad, Attrs: map[string]string{"name": strings.Join(o.tags, ",")}})
	}
	switch o.network {
	case "", "default":
	case "host":
		so.Network = llb.NetModeHost
	case "none":
		so.Network = llb.NetModeNone
	default:
		return so, usagef("--network %q: want default, host or none", o.network)
	}
	if !slices.Contains([]string{"auto", "tty", "plain", "rawjson", "quiet"}, o.progress) {
		return so, usagef("--progress %q: want auto, tty, plain, rawjson or quiet", o.progress)
	}
	var err error
	if so.SourceDateEpoch, err = o.sourceDateEpoch(); err != nil {
		return so, err
	}
	if so.CacheExports, err = parseCacheTo(o.cacheTo); err != nil {
		return so, err
	}
	if so.CacheImports, err = parseCacheFrom(o.cacheFrom); err != nil {
		return so, err
	}
	if so.Mirrors, err = o.mirrors(); err != nil {
		return so, err
	}
	if so.Builders, err = o.parseBuilders(); err != nil {
		return so, err
	}
	if so.Signer, err = loadSigner(o.sign); err != nil {
		return so, err
	}
	for _, spec := range o.secrets {
		id, path, err := parseSecret(spec)
		if err != nil {
			return so, err
		}
		if so.Secrets == nil {
			so.Secrets = map[string]string{}
		}
		so.Secrets[id] = path
	}
	return so, nil
}

// planError names the flag behind a field of the options the plan refused,
// as a usage error.
func (o *buildOptions) planError(err error, recipe string) error {
	var pe *builder.PlanError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Field {
	case "Platforms":
		return usagef("--platform %q: %v", o.platforms[pe.Index], pe.Err)
	case "Images":
		return usagef("recipe %s: %v", recipe, pe.Err)
	case "Outputs":
		if pe.Index < len(o.outputs) {
			return usagef("--output %q: %v", o.outputs[pe.Index], pe.Err)
		}
		// After --output's come --tag's image output (with --load, only
		// when --push pushes it) and --load's, last.
		if o.load && (pe.Index > len(o.outputs) || !o.push) {
			return usagef("--load: %v", pe.Err)
		}
		return usagef("--tag %q: %v", strings.Join(o.tags, ","), pe.Err)
	case "CacheExports":
		if len(o.builders) > 0 {
			return usagef("--cache-to with --builder: %v", pe.Err)
		}
		return usagef("--cache-to %s: %v", redactCache(o.cacheTo[pe.Index]), pe.Err)
	case "CacheImports":
		return usagef("--cache-from %s: %v", redactCache(o.cacheFrom[pe.Index]), pe.Err)
	case "Secrets":
		return usagef("--secret id=%s: %v", pe.Key, pe.Err)
	case "Builders":
		return usagef("--builder %s=...: --platform does not name %s; name every platform to build in --platform", pe.Key, pe.Key)
	case "MetadataFile":
		return usagef("--metadata-file %s: %v", o.metadataFile, pe.Err)
	case "Provenance":
		return usagef("--provenance %q: %v", o.provenance, pe.Err)
	case "Signer":
		return usagef("--sign %s: nothing is pushed to sign (a signature is stored beside the image, in its registry); add --push --tag NAME, or --output type=image,name=NAME,push=true", o.sign)
	}
	return usageError{err}
}

// parseSecret parses a --secret spec, id=ID,src=PATH, as buildctl does.
func parseSecret(spec string) (id, path string, err error) {
	fields, err := csv.NewReader(strings.NewReader(spec)).Read()
	if err != nil {
		return "", "", usagef("--secret %q: %v", spec, err)
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "id":
			id = v
		case "src", "source":
			path = v
		default:
			return "", "", usagef("--secret %q: unknown field %q; want id=ID,src=PATH", spec, k)
		}
	}
	if id == "" || path == "" {
		return "", "", usagef("--secret %q: want id=ID,src=PATH", spec)
	}
	return id, path, nil
}

// parseOutput parses an --output spec the way buildctl does: comma-separated
// KEY=VALUE fields (CSV, so a value with commas is quoted), type and dest
// taken out, the rest exporter attributes.
func parseOutput(spec string) (output.Output, error) {
	fields, err := csv.NewReader(strings.NewReader(spec)).Read()
	if err != nil {
		return output.Output{}, usagef("--output %q: %v", spec, err)
	}
	out := output.Output{Attrs: map[string]string{}}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return output.Output{}, usagef("--output %q: field %q is not KEY=VALUE", spec, f)
		}
		switch k {
		case "type":
			out.Type = v
		case "dest":
			out.Dest = v
		default:
			out.Attrs[k] = v
		}
	}
	return out, nil
}

func (a *app) runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o buildOptions
	fs := pflag.NewFlagSet("build", pflag.ContinueOnError)
	o.addFlags(fs)
	pos, help, err := parseFlags(fs, args, stdout, "build RECIPE [flags]", 1)
	if help || err != nil {
		return err
	}
	ps, err := o.parsePlatforms()
	if err != nil {
		return err
	}
	r, in, err := o.recipe(a, pos[0])
	if err != nil {
		return err
	}
	so, err := o.options()
	if err != nil {
		return err
	}
	if o.verify {
		so.Verify = func(ctx context.Context, p ocispecs.Platform, img v1.Image, sbom []byte) error {
			return verifyImage(ctx, img, p, sbom, stdout)
		}
	}
	// A platform built on a builder of its own runs there, natively or
	// under that daemon's emulation: nothing is cross-compiled for it.
	images := func(in recipes.Inputs) builder.Images {
		return func(p ocispecs.Platform) (graph.Image, error) {
			if _, ok := so.Builders[builder.PlatformID(p)]; ok {
				in.Native = ocispecs.Platform{}
			}
			return recipeImages(r, in)(p)
		}
	}
	plan, err := builder.NewPlan(ctx, images(in), ps, so)
	if err != nil {
		return o.planError(err, r.Name())
	}
	c, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if in.Native.OS != "" {
		// The plan took the daemon's machine for this one's; a daemon of
		// another (a remote amd64 builder of an arm64 laptop) cross-builds
		// from its own.
		native, err := builder.DefaultPlatform(ctx, c)
		if err != nil {
			return explainConnect(daemonLost(daemon.Lost(err), o.addr), o.addr)
		}
		if builder.PlatformID(native) != builder.PlatformID(in.Native) {
			in.Native = native
			if plan, err = builder.NewPlan(ctx, images(in), ps, so); err != nil {
				return o.planError(err, r.Name())
			}
		}
	}
	if e := daemon.EngineOf(c); e != nil {
		defer e.Close() // with --addr docker://, the engine's API client too
	}
	var res *builder.Result
	err = withProgress(ctx, stderr, o.progress, 1, func(ctx context.Context, status []chan *client.SolveStatus) error {
		var err error
		res, err = plan.Build(ctx, c, status[0])
		return err
	})
	// A refusal that needs the daemon's answer (a load of several
	// platforms into an engine that cannot hold them) is a plan's too.
	err = o.planError(err, r.Name())
	if err == nil {
		// What the graph warns of is said once a build has been made of it.
		for _, w := range plan.Warnings() {
			fmt.Fprintf(stderr, "imagebuild: warning: %s\n", w)
		}
		if o.progress != string(progressui.QuietMode) {
			for _, p := range slices.Sorted(maps.Keys(res.Reports)) {
				if s := recipes.SummarizeReports(res.Reports[p]); s != "" {
					fmt.Fprintf(stderr, "imagebuild: %s: %s\n", p, s)
				}
			}
		}
	}
	return finishBuild(&o, res, explainConnect(daemonLost(err, o.addr), o.addr), stdout, stderr)
}

// finishBuild prints the comparisons and the digest of what was built, and
// on stderr the signatures stored.
func finishBuild(o *buildOptions, res *builder.Result, err error, stdout, stderr io.Writer) error {
	if res != nil {
		for _, cmp := range res.Comparisons {
			if werr := cmp.WriteText(stdout); werr != nil {
				return werr
			}
		}
	}
	if err != nil {
		return err
	}
	for _, sig := range res.Signatures {
		fmt.Fprintf(stderr, "signed: %s\n", sig)
	}
	if d := res.ExporterResponse["containerimage.digest"]; d != "" {
		fmt.Fprintln(stdout, d)
	}
	return nil
}

// withProgress runs build with n status channels, shown one after the other
// on stderr by BuildKit's progress display. The display shows the builds'
// warnings (a cache that could not be imported, what the steps warn of)
// except in quiet mode, where each is one line on stderr at the end.
func withProgress(ctx context.Context, stderr io.Writer, mode string, n int, build func(context.Context, []chan *client.SolveStatus) error) error {
	status := make([]chan *client.SolveStatus, n)
	for i := range status {
		status[i] = make(chan *client.SolveStatus)
	}
	var warnings []string
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error { return build(ectx, status) })
	eg.Go(func() error {
		var err error
		for _, ch := range status {
			if err != nil {
				for range ch {
				}
				continue
			}
			var display progressui.Display
			if display, err = progressui.NewDisplay(stderr, progressui.DisplayMode(mode)); err != nil {
				err = fmt.Errorf("progress: %w", err)
				for range ch {
				}
				continue
			}
			var ws []client.VertexWarning
			ws, err = display.UpdateFrom(context.WithoutCancel(ectx), ch)
			for range ch {
			}
			for _, w := range ws {
				if !slices.Contains(warnings, string(w.Short)) {
					warnings = append(warnings, string(w.Short))
				}
			}
		}
		return err
	})
	err := eg.Wait()
	if mode == string(progressui.QuietMode) {
		for _, w := range warnings {
			fmt.Fprintf(stderr, "imagebuild: warning: %s\n", w)
		}
	}
	return explainBuildError(err, mode)
}

// explainBuildError says what to do about a build error the user can fix:
// where a failed step's output is, and what to check for an image that
// could not be pulled.
func explainBuildError(err error, mode string) error {
	var step *builder.StepError
	var pull *builder.PullError
	switch {
	case errors.As(err, &step) && mode == string(progressui.QuietMode):
		return fmt.Errorf("%w; run again with --progress plain to see its output", err)
	case errors.As(err, &step):
		return fmt.Errorf("%w; its output is in the progress above", err)
	case errors.As(err, &pull):
		return fmt.Errorf("%w; check the image reference (the recipe's pin, --base or --runtime-base) and that its registry answers, or pull through --registry-mirror", err)
	}
	return err
}

// daemonLost names the daemon at addr in err when it went away during the
// build, unless the library named a builder's.
func daemonLost(err error, addr string) error {
	if !errors.Is(err, daemon.ErrLost) {
		return err
	}
	if at := (*daemon.AddrError)(nil); !errors.As(err, &at) {
		err = &daemon.AddrError{Addr: addr, Err: err}
	}
	return fmt.Errorf("%w; nothing was written", err)
}
