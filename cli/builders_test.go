package cli

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/moby/buildkit/client"
)

// TestBuilderPerPlatform builds linux/arm64 on a second daemon started by
// the test (under emulation here; natively on an arm64 machine) and
// linux/amd64 on the test daemon, and checks the index assembled: both
// platforms, each verified, each the same image a one-daemon build of the
// same inputs gives, written to a tarball and pushed as one index.
func TestBuilderPerPlatform(t *testing.T) {
	env := testenv.Get(t)
	env.NeedArm64(t)
	second := testenv.StartTLSDaemon(t)
	ctxDir := testenv.ExampleContext(t, "# offline\n")
	_, _, want := buildIndex(t, env, ctxDir)

	out := t.TempDir()
	tarball := filepath.Join(out, "image.oci.tar")
	ref := env.Registry + "/imagebuild-test/builders:split"
	started := time.Now()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "quiet", "--source-date-epoch", "1700000000",
		"--platform", "linux/amd64,linux/arm64", "--builder", "linux/arm64=unix://"+second.Socket,
		"--verify", "-o", "type=oci,dest="+tarball, "-o", "type=oci,tar=false,dest="+filepath.Join(out, "layout"), "-t", ref, "--push",
		"--metadata-file", filepath.Join(out, "metadata.json"))
	if code != 0 {
		t.Fatalf("build with --builder exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	got, err := oci.OpenTarball(tarball, t.TempDir())
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
	if !strings.Contains(stdout, indexDigest.String()) {
		t.Errorf("stdout = %q, want the index's digest %s", stdout, indexDigest)
	}
	var md map[string]any
	readJSON(t, filepath.Join(out, "metadata.json"), &md)
	if md["containerimage.digest"] != indexDigest.String() {
		t.Errorf("metadata containerimage.digest = %v, want the index's %s", md["containerimage.digest"], indexDigest)
	}

	if lidx, err := layout.ImageIndexFromPath(filepath.Join(out, "layout")); err != nil {
		t.Fatal(err)
	} else if lm, err := lidx.IndexManifest(); err != nil {
		t.Fatal(err)
	} else if len(lm.Manifests) != 1 || lm.Manifests[0].Digest != indexDigest {
		t.Errorf("layout output's index.json lists %v, want the tarball's index %s alone", lm.Manifests, indexDigest)
	}

	// Each platform's image is the one-daemon build's, byte for byte.
	manifests := func(idx v1.ImageIndex) map[string]string {
		ps, err := oci.Platforms(idx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, p := range ps {
			img, err := oci.Image(idx, p)
			if err != nil {
				t.Fatal(err)
			}
			d, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			m[builder.PlatformID(p)] = d.String()
		}
		return m
	}
	wantM, gotM := manifests(want), manifests(got)
	if len(wantM) != 2 {
		t.Fatalf("one-daemon build has %v, want two platforms", wantM)
	}
	if diff := cmp.Diff(wantM, gotM); diff != "" {
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
	if diff := cmp.Diff(wantM, manifests(pushed)); diff != "" {
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

	// imagebuild verify passes on both platforms of the index.
	checkVerifiesPlatforms(t, tarball, "linux/amd64", "linux/arm64")
}

// TestBuilderUsage checks --builder's usage errors: exit 2, one line, before
// any daemon is contacted (--addr and the builders' addresses are tripwires).
func TestBuilderUsage(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "image.oci.tar")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"platform not named", []string{"--platform", "linux/amd64", "--builder", "linux/arm64={addr}"}, "--platform does not name linux/arm64"},
		{"no platform", []string{"--builder", "linux/arm64={addr}"}, "--platform does not name linux/arm64"},
		{"not PLATFORM=ADDR", []string{"--platform", "linux/arm64", "--builder", "linux/arm64"}, "want PLATFORM=ADDR"},
		{"unknown scheme", []string{"--platform", "linux/arm64", "--builder", "linux/arm64=http://host"}, "--builder"},
		{"twice", []string{"--platform", "linux/arm64", "--builder", "linux/arm64={addr}", "--builder", "linux/arm64={addr}"}, "linux/arm64 named twice"},
		{"docker output", []string{"--platform", "linux/arm64", "--builder", "linux/arm64={addr}", "-o", "type=docker,dest=" + dest}, "type=oci"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"build", "python-alpine", "--addr", "{addr}", "--context", appContext(t)}, tc.args...)
			if !slices.Contains(tc.args, "-o") {
				args = append(args, "-o", "type=oci,dest="+dest)
			}
			stdout, stderr, code := cliNoDaemon(t, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstderr:\n%s", code, stderr)
			}
			if stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stdout %q, stderr %q; want one line saying %q", stdout, stderr, tc.want)
			}
		})
	}
}
