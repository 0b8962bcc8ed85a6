package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
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
	outputs      []string
	tags         []string
	push         bool
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
	progress := os.Getenv("BUILDKIT_PROGRESS")
	if progress == "" {
		progress = string(progressui.AutoMode)
	}
	fs.StringArrayVarP(&o.outputs, "output", "o", nil, "output: type=oci,dest=FILE | type=docker,dest=FILE | type=image,name=NAME[,push=true] | type=local,dest=DIR (repeatable)")
	fs.StringArrayVarP(&o.tags, "tag", "t", nil, "image name; shorthand for --output type=image,name=NAME (repeatable)")
	fs.BoolVar(&o.push, "push", false, "push the images named by --tag")
	fs.StringVar(&o.metadataFile, "metadata-file", "", "write the exporter response (containerimage.digest, ...) as JSON to this file")
	fs.StringVar(&o.progress, "progress", progress, "progress output: auto, tty, plain, rawjson or quiet ($BUILDKIT_PROGRESS)")
	fs.BoolVar(&o.noCache, "no-cache", false, "ignore the cache for every step")
	fs.StringVar(&o.epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time the image is dated; default $SOURCE_DATE_EPOCH, else the context's git HEAD commit time, else 0")
	fs.BoolVar(&o.verify, "verify", false, "verify each platform's image (see 'imagebuild verify') before anything is written or pushed")
	fs.StringArrayVar(&o.cacheTo, "cache-to", nil, "export the build cache: type=registry,ref=REF[,mode=min|max] | type=local,dest=DIR | type=inline | type=gha | type=s3,... | type=azblob,... | REF (repeatable; mode=max by default)")
	fs.StringArrayVar(&o.cacheFrom, "cache-from", nil, "import a build cache: type=registry,ref=REF | type=local,src=DIR | type=gha | type=s3,... | type=azblob,... | REF (repeatable)")
	fs.BoolVar(&o.checkRepro, "check-reproducible", false, "build twice, the second time ignoring every cache, compare each platform's image, and write outputs only when both builds give the same")
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

// solveOpt validates the options, for n platforms, and turns them into the library's.
func (o *buildOptions) solveOpt(stderr io.Writer, n int, secrets []string) (builder.Options, error) {
	so := builder.Options{NoCache: o.noCache, CheckReproducible: o.checkRepro, MetadataFile: o.metadataFile}
	for _, spec := range o.outputs {
		out, err := parseOutput(spec)
		if err != nil {
			return so, err
		}
		if out.Type == client.ExporterDocker && n > 1 {
			return so, usagef("--output %q: a docker tarball holds one platform's image, not an index of %d; use type=oci or type=image (--tag) for several platforms", spec, n)
		}
		so.Outputs = append(so.Outputs, out)
	}
	if o.push && len(o.tags) == 0 {
		return so, usagef("--push needs --tag NAME")
	}
	if len(o.tags) > 0 {
		for _, t := range o.tags {
			if _, err := reference.ParseNormalizedNamed(t); err != nil {
				return so, usagef("--tag %q: %v; want NAME[:TAG], such as registry.example.com/team/app:1.0", t, err)
			}
		}
		attrs := map[string]string{"name": strings.Join(o.tags, ",")}
		if o.push {
			attrs["push"] = "true"
		}
		so.Outputs = append(so.Outputs, builder.Output{Type: client.ExporterImage, Attrs: attrs})
	}
	if o.metadataFile != "" {
		if err := checkFileDest(o.metadataFile); err != nil {
			return so, usagef("--metadata-file %s: %v", o.metadataFile, err)
		}
	}
	if !slices.Contains([]string{"auto", "tty", "plain", "rawjson", "quiet"}, o.progress) {
		return so, usagef("--progress %q: want auto, tty, plain, rawjson or quiet", o.progress)
	}
	if o.provenance != "" && o.provenance != "mode=min" && o.provenance != "mode=max" {
		return so, usagef("--provenance %q: want mode=min or mode=max", o.provenance)
	}
	so.Provenance = o.provenance
	var err error
	if so.CacheExports, err = parseCacheTo(o.cacheTo); err != nil {
		return so, err
	}
	if so.CacheImports, err = parseCacheFrom(o.cacheFrom); err != nil {
		return so, err
	}
	if so.Mirrors, err = o.mirrors(); err != nil {
		return so, err
	}
	so.Session = []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(config.LoadDefaultConfigFile(stderr)),
	})}
	if len(o.secrets) > 0 {
		var srcs []secretsprovider.Source
		for _, spec := range o.secrets {
			src, err := parseSecret(spec, secrets)
			if err != nil {
				return so, err
			}
			srcs = append(srcs, src)
		}
		store, err := secretsprovider.NewStore(srcs)
		if err != nil {
			return so, usagef("--secret: %v", err)
		}
		so.Session = append(so.Session, secretsprovider.NewSecretProvider(store))
	}
	return so, nil
}

// parseSecret parses a --secret spec, id=ID,src=PATH, as buildctl does,
// for a graph whose steps read the secrets ids. The file is checked now, so
// a wrong path is a usage error.
func parseSecret(spec string, ids []string) (secretsprovider.Source, error) {
	fields, err := csv.NewReader(strings.NewReader(spec)).Read()
	if err != nil {
		return secretsprovider.Source{}, usagef("--secret %q: %v", spec, err)
	}
	var src secretsprovider.Source
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "id":
			src.ID = v
		case "src", "source":
			src.FilePath = v
		default:
			return src, usagef("--secret %q: unknown field %q; want id=ID,src=PATH", spec, k)
		}
	}
	if src.ID == "" || src.FilePath == "" {
		return src, usagef("--secret %q: want id=ID,src=PATH", spec)
	}
	if !slices.Contains(ids, src.ID) {
		read := "none"
		if len(ids) > 0 {
			read = "id=" + strings.Join(ids, ", id=")
		}
		return src, usagef("--secret id=%s: no step of the recipe reads a secret of that id; it reads %s", src.ID, read)
	}
	if fi, err := os.Stat(src.FilePath); err != nil || !fi.Mode().IsRegular() {
		return src, usagef("--secret id=%s: %s is not a readable file", src.ID, src.FilePath)
	}
	return src, nil
}

// parseOutput parses an --output spec the way buildctl does: comma-separated
// KEY=VALUE fields (CSV, so a value with commas is quoted), type and dest
// taken out, the rest exporter attributes.
func parseOutput(spec string) (builder.Output, error) {
	fields, err := csv.NewReader(strings.NewReader(spec)).Read()
	if err != nil {
		return builder.Output{}, usagef("--output %q: %v", spec, err)
	}
	out := builder.Output{Attrs: map[string]string{}}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return builder.Output{}, usagef("--output %q: field %q is not KEY=VALUE", spec, f)
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
	if err := out.Validate(); err != nil {
		return builder.Output{}, usagef("--output %q: %v", spec, err)
	}
	if err := out.CheckDest(); err != nil {
		return builder.Output{}, usagef("--output %q: %v", spec, err)
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
	// The context's files and the secrets the steps read do not depend
	// on the platform: checked now, before a daemon is contacted.
	probe := in
	probe.Platform = platforms.Normalize(platforms.DefaultSpec())
	if len(ps) > 0 {
		probe.Platform = ps[0]
	}
	img, err := recipeImage(r, probe)
	if err != nil {
		return err
	}
	secrets, err := img.Secrets(ctx)
	if err != nil {
		return fmt.Errorf("recipe %s: %w", r.Name(), err)
	}
	so, err := o.solveOpt(stderr, max(len(ps), 1), secrets)
	if err != nil {
		return err
	}
	addrs, err := o.parseBuilders(ps)
	if err != nil {
		return err
	}
	if so.SourceDateEpoch, err = o.sourceDateEpoch(); err != nil {
		return err
	}
	if err := img.Context.Check(img.ContextFiles); err != nil {
		return usagef("recipe %s: %w", r.Name(), err)
	}
	if o.verify {
		so.Verify = func(ctx context.Context, p ocispecs.Platform, img v1.Image) error {
			return verifyImage(ctx, img, p, stdout)
		}
	}

	if len(addrs) > 0 {
		imgs, err := images(r, in, ps)
		if err != nil {
			return err
		}
		res, err := buildOnBuilders(ctx, &o, addrs, imgs, so, stderr)
		return finishBuild(&o, res, err, stdout)
	}
	c, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if len(ps) == 0 {
		p, err := builder.DefaultPlatform(ctx, c)
		if err != nil {
			return fmt.Errorf("buildkit at %s: %w", o.addr, err)
		}
		ps = append(ps, p)
	}
	imgs, err := images(r, in, ps)
	if err != nil {
		return err
	}

	var res *builder.Result
	err = withProgress(ctx, stderr, o.progress, 1, func(ctx context.Context, status []chan *client.SolveStatus) error {
		var err error
		res, err = builder.Build(ctx, c, imgs, so, status[0])
		return daemonLost(err, o.addr)
	})
	return finishBuild(&o, res, err, stdout)
}

// finishBuild prints the comparisons and the digest of what was built.
func finishBuild(o *buildOptions, res *builder.Result, err error, stdout io.Writer) error {
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
	if d := res.ExporterResponse["containerimage.digest"]; d != "" {
		fmt.Fprintln(stdout, d)
	}
	return nil
}

// withProgress runs build with n status channels, shown one after the other
// on stderr by BuildKit's progress display.
func withProgress(ctx context.Context, stderr io.Writer, mode string, n int, build func(context.Context, []chan *client.SolveStatus) error) error {
	status := make([]chan *client.SolveStatus, n)
	for i := range status {
		status[i] = make(chan *client.SolveStatus)
	}
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
			_, err = display.UpdateFrom(context.WithoutCancel(ectx), ch)
			for range ch {
			}
		}
		return err
	})
	return explainBuildError(eg.Wait(), mode)
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
		return fmt.Errorf("%w; check the image reference (the recipe's pin or --base) and that its registry answers, or pull through --registry-mirror", err)
	}
	return err
}

// daemonLost names the daemon at addr in err when it went away during the
// build.
func daemonLost(err error, addr string) error {
	if errors.Is(err, daemon.ErrLost) {
		return fmt.Errorf("buildkit at %s: %w; nothing was written", addr, err)
	}
	return err
}

// checkFileDest reports whether a file can be written at path: its folder
// exists and path is not a directory.
func checkFileDest(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return errors.New("is a directory; name a file")
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("folder %s does not exist; create it or name another", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a folder", dir)
	}
	return nil
}
