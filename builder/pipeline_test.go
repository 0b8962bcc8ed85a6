package builder_test

// The pipeline's integration tests: builds on a real BuildKit daemon
// through the library, as a Go program runs them. The command's own tests
// (flags, exit codes, what it prints) are in cli.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/cache"
	"github.com/imagebuild/imagebuild/compare"
	"github.com/imagebuild/imagebuild/daemon"
	"github.com/imagebuild/imagebuild/graph"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/output"
	"github.com/imagebuild/imagebuild/recipes"
	"github.com/imagebuild/imagebuild/ref"
	"github.com/imagebuild/imagebuild/verify"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// alpine is the python-alpine recipe on the test base, with the example
// service's code and no third-party package, for a platform.
func alpine(t *testing.T, env *testenv.Env) builder.Images {
	t.Helper()
	bctx, err := graph.LoadContext(testenv.ExampleContext(t, "# offline\n"))
	if err != nil {
		t.Fatal(err)
	}
	return func(p ocispecs.Platform) (graph.Image, error) {
		return recipes.PythonAlpine{}.Image(recipes.Inputs{Platform: p, Base: recipes.Base{Pin: env.Base}, Context: bctx})
	}
}

// build runs a plan of images for ps with opt on the test daemon.
func build(t *testing.T, env *testenv.Env, images builder.Images, ps []ocispecs.Platform, opt builder.Options) (*builder.Result, error) {
	t.Helper()
	plan, err := builder.NewPlan(context.Background(), images, ps, opt)
	if err != nil {
		t.Fatal(err)
	}
	return plan.Build(context.Background(), env.Client, nil)
}

func tarball(dest string) []output.Output {
	return []output.Output{{Type: client.ExporterOCI, Dest: dest}}
}

func epoch(s int64) *time.Time {
	t := time.Unix(s, 0).UTC()
	return &t
}

// TestColdBuildsAgree builds the recipe twice with the daemon's whole cache
// pruned before each build: the two images must be one.
func TestColdBuildsAgree(t *testing.T) {
	env := testenv.Get(t)
	images := alpine(t, env)
	out := t.TempDir()
	var digests []string
	for i := range 2 {
		env.Prune(t)
		dest := filepath.Join(out, fmt.Sprintf("cold-%d.tar", i))
		if _, err := build(t, env, images, []ocispecs.Platform{testenv.Platform}, builder.Options{SourceDateEpoch: epoch(1700000000), Outputs: tarball(dest)}); err != nil {
			t.Fatalf("cold build %d: %v", i+1, err)
		}
		d, err := testenv.OCIImage(t, dest).Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
	}
	t.Logf("cold build digests: %s %s", digests[0], digests[1])
	if digests[0] != digests[1] {
		cmp, err := compare.Tarballs(filepath.Join(out, "cold-0.tar"), filepath.Join(out, "cold-1.tar"))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		cmp.WriteText(&b)
		t.Errorf("two cold builds differ:\n%s", b.String())
	}
}

// TestEpochOnlyMovesDates builds with two source date epochs months apart:
// the layers are the same (their files' times are fixed in the graph), and
// the configs are the same but for their dates, each the build's epoch.
func TestEpochOnlyMovesDates(t *testing.T) {
	env := testenv.Get(t)
	images := alpine(t, env)
	out := t.TempDir()
	epochs := []int64{1700000000, 1700000000 + 120*24*3600}
	var configs [2]*v1.ConfigFile
	for i, e := range epochs {
		dest := fmt.Sprintf("%s/%d.tar", out, i)
		if _, err := build(t, env, images, []ocispecs.Platform{testenv.Platform}, builder.Options{SourceDateEpoch: epoch(e), Outputs: tarball(dest)}); err != nil {
			t.Fatal(err)
		}
		cf, err := testenv.OCIImage(t, dest).ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		configs[i] = cf
	}
	cmp, err := compare.Tarballs(filepath.Join(out, "0.tar"), filepath.Join(out, "1.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Same() {
		t.Fatal("builds months apart gave one digest: the epoch did not reach the image")
	}
	for _, l := range cmp.Layers {
		t.Errorf("layer %d differs between epochs (%d files): file times must not depend on the epoch", l.Index, len(l.Files))
	}
	// Each config's dates are its epoch; less them, the configs are one.
	for i, cf := range configs {
		want := time.Unix(epochs[i], 0).UTC()
		if !cf.Created.Time.Equal(want) {
			t.Errorf("build %d: created %s, want %s", i+1, cf.Created.Time, want)
		}
		if got := cf.Config.Labels[graph.LabelCreated]; got != want.Format(time.RFC3339) {
			t.Errorf("build %d: label %s = %q, want %q", i+1, graph.LabelCreated, got, want.Format(time.RFC3339))
		}
		base := len(cf.History) - 3
		for j, h := range cf.History {
			if j >= base && !h.Created.Time.Equal(want) {
				t.Errorf("build %d: history %d created %s, want %s", i+1, j, h.Created.Time, want)
			}
			cf.History[j].Created = v1.Time{}
		}
		cf.Created = v1.Time{}
		delete(cf.Config.Labels, graph.LabelCreated)
	}
	if diff := gocmp.Diff(configs[0], configs[1]); diff != "" {
		t.Errorf("configs differ in more than their dates (-first +second):\n%s", diff)
	}
}

// TestCheckReproducibleFindsInjectedDifference adds a step that writes the
// time to the image: the check must fail and name the file.
func TestCheckReproducibleFindsInjectedDifference(t *testing.T) {
	env := testenv.Get(t)
	base := llb.Image(env.Base.String(), llb.Platform(testenv.Platform))
	root := base.Run(llb.Args([]string{"/bin/sh", "-c", "date +%s%N > /build-time"}),
		llb.WithCustomName("write the time")).Root()
	img := graph.Image{Platform: testenv.Platform, Root: root, Base: env.Base}
	dest := filepath.Join(t.TempDir(), "image.tar")
	res, err := builder.Build(context.Background(), env.Client, []graph.Image{img}, builder.Options{
		SourceDateEpoch: epoch(1700000000), CheckReproducible: true, Outputs: tarball(dest),
	}, nil)
	if !errors.Is(err, builder.ErrCheck) {
		t.Fatalf("a build that writes the time: got error %v, want %v", err, builder.ErrCheck)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output written after a failed reproducibility check: %v", err)
	}
	if len(res.Comparisons) != 1 {
		t.Fatalf("%d comparisons, want 1", len(res.Comparisons))
	}
	cmp := res.Comparisons[0]
	var b strings.Builder
	if err := cmp.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("the check on the injected difference:\n%s", b.String())
	if cmp.Same() {
		t.Fatal("a step writing the time gave one digest twice")
	}
	found := false
	for _, l := range cmp.Layers {
		for _, f := range l.Files {
			if f.Path == "build-time" && f.Kind == "content" {
				found = true
			}
		}
	}
	if !found || !strings.Contains(b.String(), "content  /build-time") {
		t.Errorf("report does not name /build-time's content:\n%s", b.String())
	}
}

// TestBuildersPerPlatform builds linux/arm64 on a second daemon started by
// the test (under emulation here; natively on an arm64 machine) and
// linux/amd64 on the test daemon, and checks the index assembled: both
// platforms, each verified, each the same image a one-daemon build of the
// same inputs gives, written to a tarball and a layout and pushed as one
// index, with the metadata file naming it; and again with SBOMs, each made
// on its own daemon, which give the one-daemon build's index.
func TestBuildersPerPlatform(t *testing.T) {
	env := testenv.Get(t)
	ps := env.NeedArm64(t)
	second := testenv.StartTLSDaemon(t)
	images := alpine(t, env)

	oneDaemon := filepath.Join(t.TempDir(), "one.oci.tar")
	if _, err := build(t, env, images, ps, builder.Options{SourceDateEpoch: epoch(1700000000), Outputs: tarball(oneDaemon)}); err != nil {
		t.Fatalf("one-daemon build: %v", err)
	}
	want, err := oci.OpenTarball(oneDaemon, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	dest := filepath.Join(out, "image.oci.tar")
	ref := env.Registry + "/imagebuild-test/builders:split"
	var verified []string
	started := time.Now()
	res, err := build(t, env, images, ps, builder.Options{
		SourceDateEpoch: epoch(1700000000),
		Builders:        map[string]daemon.Config{"linux/arm64": {Addr: "unix://" + second.Socket}},
		Verify: func(ctx context.Context, p ocispecs.Platform, img v1.Image, sbom []byte) error {
			r, err := verify.Image(ctx, img, verify.Options{})
			if err != nil {
				return err
			}
			if !r.Passed() {
				var b strings.Builder
				r.WriteText(&b)
				return fmt.Errorf("%s fails verify:\n%s", builder.PlatformID(p), b.String())
			}
			verified = append(verified, builder.PlatformID(p))
			return nil
		},
		Outputs: []output.Output{
			{Type: client.ExporterOCI, Dest: dest},
			{Type: client.ExporterOCI, Dest: filepath.Join(out, "layout"), Attrs: map[string]string{"tar": "false"}},
			{Type: client.ExporterImage, Attrs: map[string]string{"name": ref, "push": "true"}},
		},
		MetadataFile: filepath.Join(out, "metadata.json"),
	})
	if err != nil {
		t.Fatalf("build with a builder per platform: %v", err)
	}
	slices.Sort(verified)
	if diff := gocmp.Diff([]string{"linux/amd64", "linux/arm64"}, verified); diff != "" {
		t.Errorf("platforms verified (-want +got):\n%s", diff)
	}
	got, err := oci.OpenTarball(dest, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	im, err := got.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || !im.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("index.json lists %d manifests, want the image index alone", len(im.Manifests))
	}
	indexDigest := im.Manifests[0].Digest
	if d := res.ExporterResponse["containerimage.digest"]; d != indexDigest.String() {
		t.Errorf("result's digest %s, want the index's %s", d, indexDigest)
	}
	md, err := os.ReadFile(filepath.Join(out, "metadata.json"))
	if err != nil || !strings.Contains(string(md), `"containerimage.digest": "`+indexDigest.String()+`"`) {
		t.Errorf("metadata file (%v) does not name the index %s:\n%s", err, indexDigest, md)
	}
	if lidx, err := layout.ImageIndexFromPath(filepath.Join(out, "layout")); err != nil {
		t.Fatal(err)
	} else if lm, err := lidx.IndexManifest(); err != nil {
		t.Fatal(err)
	} else if len(lm.Manifests) != 1 || lm.Manifests[0].Digest != indexDigest {
		t.Errorf("layout output's index.json lists %v, want the tarball's index %s alone", lm.Manifests, indexDigest)
	}

	// Each platform's image is the one-daemon build's, byte for byte.
	wantM, gotM := testenv.PlatformManifests(t, want), testenv.PlatformManifests(t, got)
	if len(wantM) != 2 {
		t.Fatalf("one-daemon build has %v, want two platforms", wantM)
	}
	if diff := gocmp.Diff(wantM, gotM); diff != "" {
		t.Errorf("platform manifests, one daemon vs a builder per platform (-want +got):\n%s", diff)
	}
	if wm, err := want.IndexManifest(); err != nil {
		t.Fatal(err)
	} else if wm.Manifests[0].Digest != indexDigest {
		t.Errorf("assembled index %s, one daemon's %s: want the same index", indexDigest, wm.Manifests[0].Digest)
	}

	// The registry holds that index and its platforms' images.
	pushed := testenv.RegistryIndex(t, ref)
	if d, err := pushed.Digest(); err != nil {
		t.Fatal(err)
	} else if d != indexDigest {
		t.Errorf("pushed index %s, want the tarball's %s", d, indexDigest)
	}
	if diff := gocmp.Diff(wantM, testenv.PlatformManifests(t, pushed)); diff != "" {
		t.Errorf("pushed platform manifests (-want +got):\n%s", diff)
	}

	// Each daemon's own build history shows which platform it built: the
	// test daemon exported the amd64 image and not the arm64 one, the
	// second daemon the arm64 image and not the amd64 one.
	c, err := client.New(context.Background(), "unix://"+second.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range []struct {
		name          string
		c             *client.Client
		built, didnot string
	}{
		{"the test daemon", env.Client, "linux/amd64", "linux/arm64"},
		{"the arm64 builder", c, "linux/arm64", "linux/amd64"},
	} {
		exported := testenv.ExportedDigests(t, d.c, started)
		if !slices.Contains(exported, gotM[d.built]) {
			t.Errorf("%s exported %v since the build started, want the %s image %s among them", d.name, exported, d.built, gotM[d.built])
		}
		if slices.Contains(exported, gotM[d.didnot]) {
			t.Errorf("%s exported the %s image %s, which the other daemon was to build", d.name, d.didnot, gotM[d.didnot])
		}
	}

	// Again with SBOMs (from the daemons' caches now): each platform's is
	// made on its own daemon, checked against its image, and carried into
	// the index assembled, which is the one-daemon build's, SBOMs and all.
	sbomDaemon := filepath.Join(t.TempDir(), "one.oci.tar")
	if _, err := build(t, env, images, ps, builder.Options{SourceDateEpoch: epoch(1700000000), SBOM: true, Outputs: tarball(sbomDaemon)}); err != nil {
		t.Fatalf("one-daemon build with SBOMs: %v", err)
	}
	sbomSplit := filepath.Join(t.TempDir(), "split.oci.tar")
	checked := 0
	if _, err := build(t, env, images, ps, builder.Options{
		SourceDateEpoch: epoch(1700000000),
		Builders:        map[string]daemon.Config{"linux/arm64": {Addr: "unix://" + second.Socket}},
		SBOM:            true,
		Verify: func(ctx context.Context, p ocispecs.Platform, img v1.Image, sbom []byte) error {
			r, err := verify.Image(ctx, img, verify.Options{SBOM: sbom})
			if err != nil {
				return err
			}
			for _, res := range r.Results {
				if strings.HasPrefix(res.Check, "SBOM") && res.Status == verify.Pass {
					checked++
				}
			}
			return nil
		},
		Outputs: tarball(sbomSplit),
	}); err != nil {
		t.Fatalf("build with a builder per platform and SBOMs: %v", err)
	}
	if checked != 2 {
		t.Errorf("%d platforms' SBOMs passed verify's check, want 2", checked)
	}
	indexOf := func(path string) v1.ImageIndex {
		idx, err := oci.OpenTarball(path, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	one, split := indexOf(sbomDaemon), indexOf(sbomSplit)
	for _, p := range ps {
		img, err := oci.Image(split, p)
		if err != nil {
			t.Fatal(err)
		}
		if doc, err := verify.SBOM(split, img); err != nil || doc == nil {
			t.Errorf("%s: no SBOM in the index assembled (%v)", builder.PlatformID(p), err)
		}
	}
	if om, err := one.IndexManifest(); err != nil {
		t.Fatal(err)
	} else if sm, err := split.IndexManifest(); err != nil {
		t.Fatal(err)
	} else if om.Manifests[0].Digest != sm.Manifests[0].Digest {
		t.Errorf("with SBOMs, the index assembled is %s and the one daemon's %s: want the same", sm.Manifests[0].Digest, om.Manifests[0].Digest)
	}
}

// TestPlanRefusesBeforeAnyDaemon checks that a plan's refusals come before
// any daemon is contacted: the builders' address is a tripwire.
func TestPlanRefusesBeforeAnyDaemon(t *testing.T) {
	addr := testenv.Tripwire(t)
	pin, err := ref.ParsePin("python:3.12-alpine@sha256:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	images := func(p ocispecs.Platform) (graph.Image, error) {
		return graph.Image{Platform: p, Root: llb.Scratch(), Base: pin}, nil
	}
	amd64, arm64 := ocispecs.Platform{OS: "linux", Architecture: "amd64"}, ocispecs.Platform{OS: "linux", Architecture: "arm64"}
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		ps    []ocispecs.Platform
		opt   builder.Options
		field string
		is    error
	}{
		{"windows", []ocispecs.Platform{{OS: "windows", Architecture: "amd64"}}, builder.Options{}, "Platforms", builder.ErrPlatform},
		{"twice", []ocispecs.Platform{arm64, {OS: "linux", Architecture: "aarch64"}}, builder.Options{}, "Platforms", builder.ErrPlatform},
		{"docker of two", []ocispecs.Platform{amd64, arm64}, builder.Options{Outputs: []output.Output{{Type: client.ExporterDocker, Dest: filepath.Join(dir, "x.tar")}}}, "Outputs", output.ErrInvalidOutput},
		{"builder of no platform built", []ocispecs.Platform{amd64}, builder.Options{Builders: map[string]daemon.Config{"linux/arm64": {Addr: addr}}}, "Builders", builder.ErrPlatform},
		{"builders and an image not pushed", []ocispecs.Platform{amd64, arm64}, builder.Options{Builders: map[string]daemon.Config{"linux/arm64": {Addr: addr}}, Outputs: []output.Output{{Type: client.ExporterOCI, Dest: filepath.Join(dir, "x.tar")}, {Type: client.ExporterImage, Attrs: map[string]string{"name": "r/a:1"}}}}, "Outputs", output.ErrInvalidOutput},
		{"cache export type", []ocispecs.Platform{amd64}, builder.Options{CacheExports: []client.CacheOptionsEntry{{Type: "zip"}}}, "CacheExports", cache.ErrInvalid},
		{"secret no step reads", []ocispecs.Platform{amd64}, builder.Options{Secrets: map[string]string{"token": "/etc/hostname"}}, "Secrets", nil},
		{"metadata folder missing", []ocispecs.Platform{amd64}, builder.Options{MetadataFile: filepath.Join(dir, "missing", "md.json")}, "MetadataFile", nil},
		{"provenance", []ocispecs.Platform{amd64}, builder.Options{Provenance: "full"}, "Provenance", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := builder.NewPlan(context.Background(), images, tc.ps, tc.opt)
			var pe *builder.PlanError
			if !errors.As(err, &pe) || pe.Field != tc.field {
				t.Fatalf("NewPlan: %v, want a PlanError of %s", err, tc.field)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("NewPlan: %v, want it to be %v", err, tc.is)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the plans wrote %v", entries)
	}
}
