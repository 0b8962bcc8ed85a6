package cli

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/oci"
	"github.com/imagebuild/imagebuild/output"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ELF machine numbers (e_machine) of the test platforms.
var elfMachine = map[string]uint16{"amd64": 62, "arm64": 183}

// buildIndex builds the example for the test base's two platforms into an
// OCI tarball with extra flags and returns the tarball, the metadata file's
// contents and the index of the tarball.
func buildIndex(t *testing.T, env *testenv.Env, ctxDir string, extra ...string) (string, map[string]any, v1.ImageIndex) {
	t.Helper()
	ps := env.NeedArm64(t)
	var names []string
	for _, p := range ps {
		names = append(names, builder.PlatformID(p))
	}
	out := t.TempDir()
	tarball := filepath.Join(out, "image.oci.tar")
	args := append([]string{"build", "python-alpine", "--addr", env.Addr, "--context", ctxDir,
		"--base", env.Base.String(), "--progress", "quiet", "--source-date-epoch", "1700000000",
		"--platform", strings.Join(names, ","),
		"-o", "type=oci,dest=" + tarball, "--metadata-file", filepath.Join(out, "metadata.json")}, extra...)
	stdout, stderr, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("two-platform build exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var md map[string]any
	readJSON(t, filepath.Join(out, "metadata.json"), &md)
	idx, err := oci.OpenTarball(tarball, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return tarball, md, idx
}

// TestMultiPlatformBuild builds the example for linux/amd64 and linux/arm64
// (under emulation): one index, one image each, each from its own platform's
// base image, verified.
func TestMultiPlatformBuild(t *testing.T) {
	env := testenv.Get(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	tarball, md, idx := buildIndex(t, env, testenv.ExampleContext(t, "# offline\n"), "--verify", "-o", "type=local,dest="+rootfs)

	// The tarball's one index: two images and nothing else but attestations.
	ps, err := oci.Platforms(idx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ocispecs.Platform{testenv.Platform, testenv.Arm64}, ps); diff != "" {
		t.Fatalf("index platforms (-want +got):\n%s", diff)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || !im.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("index.json lists %d manifests, want the image index alone", len(im.Manifests))
	}
	if got := md["containerimage.digest"]; got != im.Manifests[0].Digest.String() {
		t.Errorf("metadata containerimage.digest = %v, want the index's %s", got, im.Manifests[0].Digest)
	}
	manifests, _ := md[output.MetadataManifests].(map[string]any)
	if len(manifests) != 2 {
		t.Errorf("metadata %s = %v, want a digest for each of two platforms", output.MetadataManifests, md[output.MetadataManifests])
	}

	epoch := time.Unix(1700000000, 0).UTC()
	for _, p := range ps {
		t.Run(p.Architecture, func(t *testing.T) {
			img, err := oci.Image(idx, p)
			if err != nil {
				t.Fatal(err)
			}
			d, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if got := manifests[builder.PlatformID(p)]; got != d.String() {
				t.Errorf("metadata names %v for %s, the index has %s", got, builder.PlatformID(p), d)
			}
			checkPlatformConfig(t, env, img, epoch, p.Architecture)
			files := testenv.Files(t, img)
			checkFilesystem(t, files)
			checkELFMachine(t, files, "usr/bin/", elfMachine[p.Architecture])
			checkPlatformBaseLayers(t, env, img, p)
		})
	}

	// The local output: one folder a platform, named as BuildKit names them.
	for _, dir := range []string{"linux_amd64", "linux_arm64"} {
		if _, err := os.Lstat(filepath.Join(rootfs, dir, "opt/venv/bin/python3")); err != nil {
			t.Errorf("local output: %v", err)
		}
	}

	// imagebuild verify checks every platform of the index.
	checkVerifiesPlatforms(t, tarball, "linux/amd64", "linux/arm64")
}

// checkELFMachine checks every ELF file under dir (of those small enough to
// be read whole) is for machine, and that there are some.
func checkELFMachine(t *testing.T, files map[string]testenv.File, dir string, machine uint16) {
	t.Helper()
	n := 0
	for path, f := range files {
		if !strings.HasPrefix(path, dir) || len(f.Data) < 20 || string(f.Data[:4]) != "\x7fELF" {
			continue
		}
		n++
		if got := binary.LittleEndian.Uint16(f.Data[18:20]); got != machine {
			t.Errorf("/%s is an ELF file for machine %d, want %d", path, got, machine)
		}
	}
	if n < 10 {
		t.Errorf("%d ELF files under /%s, want the base's many", n, dir)
	}
}

// checkPlatformBaseLayers checks the image's first layers are those of the
// base's image for p.
func checkPlatformBaseLayers(t *testing.T, env *testenv.Env, img v1.Image, p ocispecs.Platform) {
	t.Helper()
	base := testenv.RegistryPlatformImage(t, env.Base.String(), p)
	want, got := diffIDs(t, base), diffIDs(t, img)
	if len(got) <= len(want) {
		t.Fatalf("image has %d layers, base %d: want the base's and more", len(got), len(want))
	}
	if diff := cmp.Diff(want, got[:len(want)]); diff != "" {
		t.Errorf("first layers are not the %s base's (-want +got):\n%s", p.Architecture, diff)
	}
}

// TestMultiPlatformReproducible: two cold two-platform builds give one index.
func TestMultiPlatformReproducible(t *testing.T) {
	env := testenv.Get(t)
	ctxDir := testenv.ExampleContext(t, "# offline\n")
	var digests []any
	for range 2 {
		env.Prune(t)
		_, md, _ := buildIndex(t, env, ctxDir)
		digests = append(digests, md["containerimage.digest"])
	}
	if digests[0] != digests[1] {
		t.Errorf("two cold two-platform builds gave indexes %v and %v", digests[0], digests[1])
	}
}

// TestMultiPlatformDockerOutput: a docker tarball cannot hold an index; the
// build is refused before anything is built or written.
func TestMultiPlatformDockerOutput(t *testing.T) {
	env := testenv.Get(t)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "plain", "--platform", "linux/amd64,linux/arm64",
		"-o", "type=docker,dest="+filepath.Join(out, "image.tar"), "--metadata-file", filepath.Join(out, "metadata.json"))
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "type=oci") {
		t.Errorf("stdout %q, stderr %q; want one line on stderr pointing at type=oci", stdout, stderr)
	}
	assertNoOutputs(t, out)
}

// TestPlatformNotInBase: a platform the base's index lacks is refused
// before any step runs, naming the platforms it has.
func TestPlatformNotInBase(t *testing.T) {
	env := testenv.Get(t)
	out := t.TempDir()
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "plain", "--platform", "linux/s390x",
		"-o", "type=oci,dest="+filepath.Join(out, "image.tar"))
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "has no linux/s390x image; it has linux/amd64") {
		t.Errorf("last line %q, want it to say the base has no linux/s390x image and name its platforms", last)
	}
	if strings.Contains(stderr, "python3 -m venv") || strings.Contains(stderr, "apk") {
		t.Errorf("steps ran before the platform was refused:\n%s", stderr)
	}
	assertNoOutputs(t, out)
}

// TestMultiPlatformPush pushes a two-platform build with provenance and
// checks: the registry's index is the digest printed, and each platform's
// manifest there is the one verified, as the metadata file names it.
func TestMultiPlatformPush(t *testing.T) {
	env := testenv.Get(t)
	ps := env.NeedArm64(t)
	out := t.TempDir()
	ref := env.Registry + "/imagebuild-test/app:multi"
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "--platform", "linux/amd64,linux/arm64",
		"--verify", "--provenance", "mode=max", "-t", ref, "--push", "--metadata-file", filepath.Join(out, "metadata.json"))
	if code != 0 {
		t.Fatalf("build exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, p := range ps {
		if !strings.Contains(stdout, builder.PlatformID(p)+":\n") {
			t.Errorf("--verify's report does not name %s:\n%s", builder.PlatformID(p), stdout)
		}
	}
	var md map[string]any
	readJSON(t, filepath.Join(out, "metadata.json"), &md)
	idx := testenv.RegistryIndex(t, ref)
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if last := lines[len(lines)-1]; last != d.String() || md["containerimage.digest"] != d.String() {
		t.Errorf("registry has index %s; build printed %q, metadata says %v", d, last, md["containerimage.digest"])
	}
	manifests, _ := md[output.MetadataManifests].(map[string]any)
	pushed := testenv.PlatformManifests(t, idx)
	for _, p := range ps {
		if id := pushed[builder.PlatformID(p)]; id == "" || manifests[builder.PlatformID(p)] != id {
			t.Errorf("%s: registry has %q, metadata names %v", builder.PlatformID(p), id, manifests[builder.PlatformID(p)])
		}
	}
	// verify, with no --platform, checks both images in the registry.
	stdout, stderr, code = cli(t, "verify", ref)
	if code != 0 {
		t.Fatalf("verify exited %d: %s\n%s", code, stderr, stdout)
	}
	for _, p := range ps {
		if !strings.Contains(stdout, builder.PlatformID(p)+":\n") {
			t.Errorf("verify's report does not name %s:\n%s", builder.PlatformID(p), stdout)
		}
	}
}

// TestDefaultPlatformIsDaemons: without --platform the image is for the
// daemon's own platform.
func TestDefaultPlatformIsDaemons(t *testing.T) {
	env := testenv.Get(t)
	want, err := builder.DefaultPlatform(t.Context(), env.Client)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "image.tar")
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", appContext(t),
		"--base", env.Base.String(), "--progress", "quiet", "-o", "type=oci,dest="+dest)
	if code != 0 {
		t.Fatalf("build exited %d: %s", code, stderr)
	}
	cf, err := testenv.OCIImage(t, dest).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.OS + "/" + cf.Architecture; got != want.OS+"/"+want.Architecture {
		t.Errorf("image is for %s, want the daemon's %s/%s", got, want.OS, want.Architecture)
	}
	if _, err := os.Stat(dest); err != nil {
		t.Fatal(err)
	}
}

// checkVerifiesPlatforms runs `imagebuild verify --format json` on tarball
// and requires it to pass with one report for each of want, in order.
func checkVerifiesPlatforms(t *testing.T, tarball string, want ...string) {
	t.Helper()
	stdout, stderr, code := cli(t, "verify", "--format", "json", tarball)
	if code != 0 {
		t.Fatalf("verify exited %d: %s\n%s", code, stderr, stdout)
	}
	var reports []struct {
		Platform string `json:"platform"`
	}
	if err := json.Unmarshal([]byte(stdout), &reports); err != nil {
		t.Fatalf("verify --format json: %v\n%s", err, stdout)
	}
	var got []string
	for _, r := range reports {
		got = append(got, r.Platform)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verify's reports (-want +got):\n%s", diff)
	}
}
