package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/compare"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
)

func digestOf(t *testing.T, path string) string {
	t.Helper()
	d, err := testenv.OCIImage(t, path).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestColdBuildsAgree builds the recipe twice with the daemon's whole cache
// pruned before each build: the two images must be one.
func TestColdBuildsAgree(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	out := t.TempDir()
	var digests []string
	for i := range 2 {
		env.Prune(t)
		dest := filepath.Join(out, fmt.Sprintf("cold-%d.tar", i))
		_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
			"--base", env.Base.String(), "--progress", "quiet", "--source-date-epoch", "1700000000",
			"-o", "type=oci,dest="+dest)
		if code != 0 {
			t.Fatalf("cold build %d exited %d: %s", i+1, code, stderr)
		}
		digests = append(digests, digestOf(t, dest))
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
	ctxDir := appContext(t)
	out := t.TempDir()
	epochs := []int64{1700000000, 1700000000 + 120*24*3600}
	var configs [2]*v1.ConfigFile
	for i, e := range epochs {
		dest := fmt.Sprintf("%s/%d.tar", out, i)
		_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
			"--base", env.Base.String(), "--progress", "quiet", "--source-date-epoch", fmt.Sprint(e),
			"-o", "type=oci,dest="+dest)
		if code != 0 {
			t.Fatalf("build exited %d: %s", code, stderr)
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
		if got := cf.Config.Labels[builder.LabelCreated]; got != want.Format(time.RFC3339) {
			t.Errorf("build %d: label %s = %q, want %q", i+1, builder.LabelCreated, got, want.Format(time.RFC3339))
		}
		base := len(cf.History) - 3
		for j, h := range cf.History {
			if j >= base && !h.Created.Time.Equal(want) {
				t.Errorf("build %d: history %d created %s, want %s", i+1, j, h.Created.Time, want)
			}
			cf.History[j].Created = v1.Time{}
		}
		cf.Created = v1.Time{}
		delete(cf.Config.Labels, builder.LabelCreated)
	}
	if diff := gocmp.Diff(configs[0], configs[1]); diff != "" {
		t.Errorf("configs differ in more than their dates (-first +second):\n%s", diff)
	}
}

func TestCheckReproducibleCLI(t *testing.T) {
	env := testenv.Get(t)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "--check-reproducible",
		"-o", "type=oci,dest="+filepath.Join(out, "image.tar"))
	if code != 0 {
		t.Fatalf("--check-reproducible exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "linux/amd64: reproducible: both builds gave sha256:") {
		t.Errorf("stdout = %q, want the reproducible line naming the platform", stdout)
	}
	d := digestOf(t, filepath.Join(out, "image.tar"))
	if !strings.Contains(stdout, d) {
		t.Errorf("output image %s is not the checked one:\n%s", d, stdout)
	}
}

// TestCheckReproducibleFindsInjectedDifference adds a step that writes the
// time to the image: the check must fail and name the file.
func TestCheckReproducibleFindsInjectedDifference(t *testing.T) {
	env := testenv.Get(t)
	base := llb.Image(env.Base.String(), llb.Platform(testenv.Platform))
	root := base.Run(llb.Args([]string{"/bin/sh", "-c", "date +%s%N > /build-time"}),
		llb.WithCustomName("write the time")).Root()
	img := builder.Image{Platform: testenv.Platform, Root: root, Base: env.Base}
	epoch := time.Unix(1700000000, 0)
	dest := filepath.Join(t.TempDir(), "image.tar")
	res, err := builder.Build(context.Background(), env.Client, []builder.Image{img}, builder.Options{
		SourceDateEpoch: &epoch, CheckReproducible: true,
		Outputs: []builder.Output{{Type: client.ExporterOCI, Dest: dest}},
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
	t.Logf("--check-reproducible on the injected difference:\n%s", b.String())
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
