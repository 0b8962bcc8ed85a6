package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/moby/buildkit/client/llb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// LabelCreated is the label that records the time an image says it was
// made (the build's source date epoch).
const LabelCreated = "org.opencontainers.image.created"

// DefaultPath is the PATH a container gets when its image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Image is one platform's image: its filesystem graph, the base it starts
// from, and what it sets on top of the base's config.
type Image struct {
	// Platform is the platform the graph is built for; it is always explicit
	// when the graph is marshalled.
	Platform ocispecs.Platform
	// Root is the image's filesystem. It must start from Base.
	Root llb.State
	// Base is the pinned base image whose config the image config starts
	// from, and whose layers come first: the runtime stage's base.
	Base ref.Pin
	// BuilderBase is the pinned base the image's builder stage runs on,
	// when the graph has one; it may be Base, and is then left out of
	// [Image.Bases]. Only Base's layers reach the image, so a new Base
	// alone rebuilds no builder step.
	BuilderBase ref.Pin
	// Config is applied on top of the base's config.
	Config Config
	// Context is the build context Root reads, sent to the daemon with
	// the build; the zero Context is an empty one. Every image of one
	// build reads the same context.
	Context Context
	// ContextFiles are the files Root reads from Context by name; [builder.Build]
	// checks each is there before it contacts the daemon.
	ContextFiles []ContextFile
	// Warnings are what the build says once about the image's graph, such
	// as an input that is not pinned.
	Warnings []string
	// Reports are files steps of Root write about what they did, which
	// the build reads once the image is built (see [Report]).
	Reports []Report
	// Expand, when set, makes the image's graph during the build from what
	// a step of it finds: see [Expansion]. Root is then the graph before
	// that step has run, which is what [Image.Marshal] and `imagebuild llb`
	// show.
	Expand *Expansion
}

// Bases are the pinned bases img is built on: Base, then BuilderBase
// where it is set and is another image. Each must be a valid [ref.Pin].
func (img Image) Bases() []ref.Pin {
	bases := []ref.Pin{img.Base}
	if img.BuilderBase != "" && img.BuilderBase != img.Base {
		bases = append(bases, img.BuilderBase)
	}
	return bases
}

// Expansion is the part of an image's graph that is made from files a step
// writes: a requirements file resolved to the exact distributions, say,
// each of which then gets steps of its own. The build solves Step, reads
// Files from its result, and calls Root with their contents, by path; the
// graph Root returns is the image's filesystem, which may (and, so that a
// cache export holds the step, should) depend on Step. Root must be a pure
// function of the files.
//
// Ahead are steps the graph Root makes will likely hold, which need not
// wait for Step: the build solves them side by side with it, so that they
// run meanwhile, and gives Root the file each wrote, in order (nil where
// one wrote none or failed). Root decides from them whether to use them.
//
// With Later, Step is held back: the build solves the steps ahead first
// and calls Root with no files, and solves Step only when Root returns
// [ErrNeedStep], then calls it again with Step's files. For a graph the
// steps ahead usually make whole: a requirements file that pins every
// requirement, which needs resolving only when its pins leave out a
// dependency.
//
// Narrow, with Later, is asked for a step to solve in Step's place once
// Root has returned [ErrNeedStep]: one made from the steps ahead's files,
// that writes Files as Step would but does less (resolves only what the
// pins leave out, say), with more steps ahead of its own, solved side by
// side with it. When it gives one, Root is called with that step's files
// and the files of every step ahead, the first ones' then the narrower
// step's; Root, which sees the first ones' files, must tell which step
// wrote them as Narrow does.
type Expansion struct {
	Step   llb.State
	Files  []string
	Ahead  []Ahead
	Later  bool
	Narrow func(ahead [][]byte) (Narrowed, bool)
	Root   func(files map[string][]byte, ahead [][]byte) (Expanded, error)
}

// Expanded is what an [Expansion]'s Root makes: the image's filesystem,
// and the reports of its steps (they replace the image's Reports).
type Expanded struct {
	Root    llb.State
	Reports []Report
}

// Report is a file a step of an image's graph writes about what it did (a
// distribution fetched as a wheel or compiled from its sdist, say). Once
// the image is built, the build reads File from Step, which must be part
// of the image's graph (so reading it runs no step of its own), and
// returns it by Name ([builder.Result]'s Reports, and the metadata file's
// imagebuild.reports); a report its step did not write is left out.
type Report struct {
	// Name names the report among the image's.
	Name string
	Step llb.State
	// File is the report's path in Step: JSON, at most [MaxReport] bytes.
	File string
}

// MaxReport bounds a [Report]'s file.
const MaxReport = 64 << 10

// ErrNeedStep is returned by an [Expansion]'s Root, called without files,
// to have the build solve its Step and call it again with them.
var ErrNeedStep = errors.New("the expansion needs its step's files")

// Narrowed is the step an [Expansion]'s Narrow gives, and the steps ahead
// of it.
type Narrowed struct {
	Step  llb.State
	Ahead []Ahead
}

// Ahead is a step of an [Expansion] solved side by side with its Step, and
// the file it writes for Root.
type Ahead struct {
	Step llb.State
	File string
}

// Config is what an image sets on top of its base image's config. Empty
// fields leave the base's value.
type Config struct {
	// Path is put in front of the base's PATH, in order.
	Path []string
	// Env sets variables, KEY=VALUE, replacing the base's of the same name.
	Env []string
	// User is the user the container runs as: a name or UID[:GID].
	User string
	// WorkingDir is the container's working directory.
	WorkingDir string
	// Cmd replaces the base's command.
	Cmd []string
	// Healthcheck, when set, replaces the base's.
	Healthcheck *Healthcheck
	// Labels are added to the base's labels.
	Labels map[string]string
}

// Healthcheck is a Docker healthcheck: Test is run in the container,
// CMD form ({"CMD", "prog", "arg"}) or shell form ({"CMD-SHELL", "command"}).
type Healthcheck struct {
	Test        []string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// FieldError is a field of a config or a recipe that makes an image
// unbuildable, named as it is written in Go: "Env: "X" is not KEY=VALUE".
type FieldError struct {
	// Field is the field's Go name, such as Env or Healthcheck.Test.
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate reports whether the config can be applied, as a [*FieldError].
func (c Config) Validate() error {
	for _, kv := range c.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return &FieldError{Field: "Env", Err: fmt.Errorf("%q is not KEY=VALUE", kv)}
		}
		if k == "PATH" {
			return &FieldError{Field: "Env", Err: fmt.Errorf("%q: PATH is set by Path, not Env", kv)}
		}
	}
	if h := c.Healthcheck; h != nil {
		if len(h.Test) == 0 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL" && h.Test[0] != "NONE") {
			return &FieldError{Field: "Healthcheck.Test", Err: fmt.Errorf("%q: want CMD, CMD-SHELL or NONE first", h.Test)}
		}
		if h.Retries < 0 || h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 {
			return &FieldError{Field: "Healthcheck", Err: errors.New("a negative Interval, Timeout, StartPeriod or Retries")}
		}
	}
	return nil
}

// Marshal returns the image's graph for its platform, the definition
// `imagebuild llb` writes and [builder.Build] sends.
func (img Image) Marshal(ctx context.Context, opts ...llb.ConstraintsOpt) (*llb.Definition, error) {
	opts = append([]llb.ConstraintsOpt{llb.Platform(img.Platform)}, opts...)
	def, err := img.Root.Marshal(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("marshal graph for %s: %w", platforms.Format(img.Platform), err)
	}
	return def, nil
}

// ImageConfig applies the image's Config to base, the base image's config as
// the registry serves it, and returns the new config's JSON. The base's
// history, rootfs and other fields are kept, so its layers come first; the
// history gets an entry for each layer the image adds, named by its step.
// created, when set, is the image's creation time, its
// org.opencontainers.image.created label and its new history entries' time.
func (img Image) ImageConfig(base []byte, created *time.Time) ([]byte, error) {
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(base, &cfg); err != nil {
		return nil, fmt.Errorf("parse config of base %s: %w", img.Base, err)
	}
	c := img.Config
	cfg.Platform = ocispecs.Platform{
		OS:           img.Platform.OS,
		Architecture: img.Platform.Architecture,
		Variant:      img.Platform.Variant,
		OSVersion:    img.Platform.OSVersion,
		OSFeatures:   img.Platform.OSFeatures,
	}
	path := DefaultPath
	if v, ok := lookupEnv(cfg.Config.Env, "PATH"); ok {
		path = v
	}
	if len(c.Path) > 0 {
		path = strings.Join(append(slices.Clone(c.Path), path), ":")
	}
	cfg.Config.Env = setEnv(cfg.Config.Env, "PATH="+path)
	for _, kv := range c.Env {
		cfg.Config.Env = setEnv(cfg.Config.Env, kv)
	}
	if c.User != "" {
		cfg.Config.User = c.User
	}
	if c.WorkingDir != "" {
		cfg.Config.WorkingDir = c.WorkingDir
	}
	if len(c.Cmd) > 0 {
		cfg.Config.Cmd = slices.Clone(c.Cmd)
	}
	if h := c.Healthcheck; h != nil {
		cfg.Config.Healthcheck = &dockerspec.HealthcheckConfig{
			Test:        slices.Clone(h.Test),
			Interval:    h.Interval,
			Timeout:     h.Timeout,
			StartPeriod: h.StartPeriod,
			Retries:     h.Retries,
		}
	}
	labels := maps.Clone(cfg.Config.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, c.Labels)
	labels[ref.LabelBaseName] = img.Base.Tagged()
	labels[ref.LabelBaseDigest] = img.Base.Digest().String()
	if created != nil {
		t := created.UTC()
		cfg.Created = &t
		labels[LabelCreated] = t.Format(time.RFC3339)
	}
	cfg.Config.Labels = labels
	if err := img.addHistory(&cfg); err != nil {
		return nil, err
	}
	dt, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode image config: %w", err)
	}
	return dt, nil
}

func lookupEnv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v, true
		}
	}
	return "", false
}

func setEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env = slices.Clone(env)
			env[i] = kv
			return env
		}
	}
	return append(slices.Clone(env), kv)
}
