package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagebuild/imagebuild/builder"
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
		cmp, err := builder.CompareOCI(filepath.Join(out, "cold-0.tar"), filepath.Join(out, "cold-1.tar"))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		cmp.WriteText(&b)
		t.Errorf("two cold builds differ:\n%s", b.String())
	}
}

// TestEpochOnlyMovesTimestamps builds with two source date epochs months
// apart: the layers may differ only in file times, each the build's epoch.
func TestEpochOnlyMovesTimestamps(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := appContext(t)
	out := t.TempDir()
	epochs := []int64{1700000000, 1700000000 + 120*24*3600}
	for i, e := range epochs {
		_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
			"--base", env.Base.String(), "--progress", "quiet", "--source-date-epoch", fmt.Sprint(e),
			"-o", fmt.Sprintf("type=oci,dest=%s/%d.tar", out, i))
		if code != 0 {
			t.Fatalf("build exited %d: %s", code, stderr)
		}
	}
	cmp, err := builder.CompareOCI(filepath.Join(out, "0.tar"), filepath.Join(out, "1.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Same() {
		t.Fatal("builds months apart gave one digest: the epoch did not reach the image")
	}
	want := [2]string{time.Unix(epochs[0], 0).UTC().Format(time.RFC3339Nano), time.Unix(epochs[1], 0).UTC().Format(time.RFC3339Nano)}
	files := 0
	for _, l := range cmp.Layers {
		for _, f := range l.Files {
			files++
			if f.Kind != "mtime" || [2]string{f.A, f.B} != want {
				t.Errorf("layer %d: /%s differs in %s (%s -> %s); want only mtimes, %s -> %s", l.Index, f.Path, f.Kind, f.A, f.B, want[0], want[1])
			}
		}
	}
	if files == 0 {
		t.Error("no file differs in its time: new layers' times were not set from the epoch")
	}
	for _, k := range cmp.Config {
		if k != "created" && k != "history" && k != "config" && k != "rootfs" {
			t.Errorf("config field %q differs", k)
		}
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
	if !strings.HasPrefix(stdout, "reproducible: both builds gave sha256:") {
		t.Errorf("stdout = %q, want the reproducible line", stdout)
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
	cmp, err := builder.CheckReproducible(context.Background(), env.Client, img,
		builder.SolveOpt{SourceDateEpoch: &epoch}, [2]chan *client.SolveStatus{})
	if err != nil {
		t.Fatal(err)
	}
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
