package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	dockerclient "github.com/moby/moby/client"
)

// TestEngineBuildAndLoad builds the example app on a current Docker
// Engine's own BuildKit (--addr docker://), with the host's network (the
// engine has no bridge), loads it into the engine's image store (--load)
// and runs it there: the engine lists the image under its tag with the
// digest the build printed, and the container answers as appuser.
func TestEngineBuildAndLoad(t *testing.T) {
	env := testenv.Get(t)
	engine := testenv.StartEngine(t)
	tag := "imagebuild-test/tracker:engine"
	out := t.TempDir()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", "docker://"+engine.Host, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "plain", "--source-date-epoch", "1700000000",
		"--network", "host", "--load", "-t", tag, "-o", "type=oci,dest="+filepath.Join(out, "image.oci.tar"))
	if code != 0 {
		t.Fatalf("build on the engine exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, lastLines(stderr, 20))
	}
	digest := strings.TrimSpace(stdout)
	img, err := engine.API.ImageInspect(context.Background(), tag, dockerclient.ImageInspectWithManifests(true))
	if err != nil {
		t.Fatalf("the engine does not list %s: %v", tag, err)
	}
	if img.ID != digest {
		t.Errorf("the engine holds %s as %s, want the digest the build printed, %s", tag, img.ID, digest)
	}
	if _, err := os.Stat(filepath.Join(out, "image.oci.tar")); err != nil {
		t.Errorf("the OCI tarball output beside the load: %v", err)
	}
	if got := engine.Run(t, tag); strings.TrimSpace(got) != "incident-tracker as uid 1000" {
		t.Errorf("the container printed %q, want the app as appuser (uid 1000)", got)
	}
}

// TestEngineRefusesOld: Debian's Docker Engine 20.10 embeds BuildKit 0.8,
// which has no merge op: a build there is refused in one line naming the
// engine's version and what it lacks, before anything runs or is written.
func TestEngineRefusesOld(t *testing.T) {
	env := testenv.Get(t)
	old := testenv.StartOldEngine(t)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", "docker://"+old.Host, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "-o", "type=oci,dest="+filepath.Join(out, "image.oci.tar"))
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and one line", code, stdout, stderr)
	}
	for _, want := range []string{"docker engine 20.10.", old.Host, "BuildKit 0.8", "no merge op", "23.0"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	assertNoOutputs(t, out)
}

// TestEngineRefusesGraphDriver: a current engine whose images are in a
// graph driver store (an upgraded host, or the containerd snapshotter
// turned off) disables the merge and diff ops in its BuildKit: refused in
// one line naming the way out.
func TestEngineRefusesGraphDriver(t *testing.T) {
	env := testenv.Get(t)
	engine := testenv.StartEngine(t, "--feature", "containerd-snapshotter=false")
	out := t.TempDir()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", "docker://"+engine.Host, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "-o", "type=oci,dest="+filepath.Join(out, "image.oci.tar"))
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and one line", code, stdout, stderr)
	}
	for _, want := range []string{"graph driver store", "no merge and diff ops", "containerd image store"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	assertNoOutputs(t, out)
}

// TestLoadFromBuildkitd builds on the test's buildkitd and loads the image
// into an engine through the Engine API (a docker tarball): here Debian's
// 20.10, whose graph driver store names the image by its config's digest,
// which the read-back checks.
func TestLoadFromBuildkitd(t *testing.T) {
	env := testenv.Get(t)
	old := testenv.StartOldEngine(t)
	t.Setenv("DOCKER_HOST", old.Host)
	tag := "imagebuild-test/tracker:loaded"
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "--load", "-t", tag)
	if code != 0 {
		t.Fatalf("build with --load exited %d: %s", code, stderr)
	}
	img, err := old.API.ImageInspect(context.Background(), tag)
	if err != nil {
		t.Fatalf("the engine does not list %s: %v", tag, err)
	}
	if strings.TrimSpace(stdout) == "" || len(img.RootFS.Layers) == 0 {
		t.Errorf("stdout %q, loaded image %+v", stdout, img)
	}
	if got := old.Run(t, tag); strings.TrimSpace(got) != "incident-tracker as uid 1000" {
		t.Errorf("the container printed %q, want the app as appuser (uid 1000)", got)
	}
}

// TestLoadOfSeveralPlatformsRefused: an engine's image store holds an
// index only where the build runs on the engine and the store is
// containerd's; a load of two platforms from a buildkitd is refused before
// anything is built.
func TestLoadOfSeveralPlatformsRefused(t *testing.T) {
	env := testenv.Get(t)
	old := testenv.StartOldEngine(t)
	t.Setenv("DOCKER_HOST", old.Host)
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "--platform", "linux/amd64,linux/arm64", "--load", "-t", "imagebuild-test/two:platforms")
	if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--load: invalid output: a load of 2 platforms") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line refusing --load of 2 platforms", code, stdout, stderr)
	}
	if _, err := old.API.ImageInspect(context.Background(), "imagebuild-test/two:platforms"); err == nil {
		t.Error("the engine holds the image")
	}
}
