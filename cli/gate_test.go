package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/imagebuild/imagebuild/internal/testenv"
)

// These tests run the CI gate, examples/ci/gate.sh, as the workflow does:
// check pins, build once into an OCI layout, verify it, scan it with a real
// Trivy (the version scripts/trivy.sh pins) and push what was scanned to
// the test registry, on the tests' vulnerability database
// (testenv.Advisories).

// gate is what the gate tests share: imagebuild and Trivy binaries and the
// Trivy cache folder holding testenv.Advisories.
type gate struct {
	env        *testenv.Env
	imagebuild string
	trivy      string
	trivyCache string
}

func newGate(t *testing.T) *gate {
	t.Helper()
	env := testenv.Get(t)
	return &gate{env: env, imagebuild: testenv.BuildCLI(t), trivy: testenv.Trivy(t), trivyCache: testenv.TrivyDB(t, []byte(testenv.Advisories))}
}

// offlineFlags run Trivy on the test's database only: no download, no
// lookups on the network.
func (g *gate) offlineFlags() []string {
	return []string{"--cache-dir", g.trivyCache, "--skip-db-update", "--skip-java-db-update", "--offline-scan", "--skip-version-check", "--disable-telemetry"}
}

// gateRun is one run of gate.sh.
type gateRun struct {
	stdout, stderr string
	code           int
	out            string // the gate's OUT folder
}

// run runs gate.sh in dir (the repository root as CI sees it, where
// .trivyignore is read) to push image, with env added to its environment
// and buildFlags passed to imagebuild build.
func (g *gate) run(t *testing.T, dir, image string, env []string, buildFlags ...string) gateRun {
	t.Helper()
	r := gateRun{out: filepath.Join(t.TempDir(), "gate")}
	script, err := filepath.Abs(filepath.Join("..", "examples", "ci", "gate.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{script, image}, buildFlags...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"BUILDKIT_HOST="+g.env.Addr,
		"IMAGEBUILD="+g.imagebuild,
		"TRIVY="+g.trivy,
		"TRIVY_FLAGS="+strings.Join(g.offlineFlags(), " "),
		"OUT="+r.out,
		"BUILDKIT_PROGRESS=plain",
	)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

// gateContext writes a build context of the example service with
// requirements, and returns it as the repository root the gate runs in,
// with .trivyignore holding ignored when it is not empty.
func gateContext(t *testing.T, requirements string, ignored ...string) string {
	t.Helper()
	dir := testenv.ExampleContext(t, requirements)
	if len(ignored) > 0 {
		ignore := "# accepted risks\n" + strings.Join(ignored, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, ".trivyignore"), []byte(ignore), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// setuptoolsIndex serves Debian's setuptools 66.1.1 wheel (the one the test
// base's ensurepip carries) from a private index, and returns the path of
// a pip.conf that reaches it, for the pipconf secret.
func setuptoolsIndex(t *testing.T) string {
	t.Helper()
	whl, dt := testenv.BaseWheel(t, "setuptools")
	if !strings.HasPrefix(whl, "setuptools-66.") {
		t.Fatalf("test base wheel %s: the tests want setuptools 66, in CVE-2024-6345's range", whl)
	}
	const token = "gate-index-token"
	addr := testenv.PrivateIndex(t, token, map[string][]byte{whl: dt})
	conf := filepath.Join(t.TempDir(), "pip.conf")
	if err := os.WriteFile(conf, []byte("[global]\nindex-url = http://ci:"+token+"@"+addr+"/simple/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

// assertNotPushed checks that ref is not in the registry.
func assertNotPushed(t *testing.T, ref string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Head(r)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != 404 {
		t.Errorf("%s: want 404 (nothing pushed), got %v", ref, err)
	}
}

// assertPushedScanned checks that the gate pushed, under image, exactly the
// image of its OCI layout, whose digest the build reported.
func assertPushedScanned(t *testing.T, r gateRun, image string) {
	t.Helper()
	var md map[string]any
	readJSON(t, filepath.Join(r.out, "metadata.json"), &md)
	built, _ := md["containerimage.digest"].(string)
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	readJSON(t, filepath.Join(r.out, "image", "index.json"), &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("layout index.json names %d images, want 1", len(index.Manifests))
	}
	scanned := index.Manifests[0].Digest
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if got, want := lines[len(lines)-1], image+"@"+scanned; got != want {
		t.Errorf("gate printed %q, want %q", got, want)
	}
	if built != scanned {
		t.Errorf("build reported %s, the layout scanned holds %s", built, scanned)
	}
	ref, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", image, err)
	}
	if desc.Digest.String() != scanned {
		t.Errorf("registry has %s at %s, the gate scanned %s", desc.Digest, image, scanned)
	}
	raw, err := os.ReadFile(filepath.Join(r.out, "image", "blobs", "sha256", strings.TrimPrefix(scanned, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(desc.Manifest, raw) {
		t.Errorf("registry serves another manifest than the layout's")
	}
}

func TestGatePinsComeFirst(t *testing.T) {
	env := testenv.Get(t)
	// No Trivy: the gate must stop before it would scan.
	g := &gate{env: env, imagebuild: testenv.BuildCLI(t), trivy: "/nonexistent/trivy"}
	image := env.Registry + "/imagebuild-test/gate:pins"
	// The test registry, as docker.io's mirror, has none of the recipes' pins.
	r := g.run(t, gateContext(t, ""), image, []string{"PINS_FLAGS=--registry-mirror docker.io=" + env.Registry}, "--base", env.Base.String())
	// The pins check's own report, one row a recipe, comes before the gate's line.
	if r.code != 1 || !strings.Contains(r.stderr, "python-alpine") || !strings.Contains(r.stderr, "missing") ||
		!strings.Contains(r.stderr, "gate: a base image pin is stale, missing or unpinned") {
		t.Fatalf("gate with pins missing from the mirror: exit %d, want 1 naming the pins\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "gate: building") {
		t.Errorf("gate built after the pins check failed:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(r.out, "image")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("gate wrote %s after the pins check failed (%v)", filepath.Join(r.out, "image"), err)
	}
	assertNotPushed(t, image)
}

func TestGate(t *testing.T) {
	g := newGate(t)
	env := g.env
	// The recipes' pins are not what these builds use: they build on the
	// test base (--base), pinned by digest.
	noPins := []string{"CHECK_PINS=false"}
	build := []string{"--base", env.Base.String(), "--provenance", "mode=max"}

	t.Run("an image verify fails is neither scanned nor pushed", func(t *testing.T) {
		image := env.Registry + "/imagebuild-test/gate:netrc"
		dir := gateContext(t, "")
		if err := os.WriteFile(filepath.Join(dir, "app", ".netrc"), []byte("machine pypi.example.com login ci password tok\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := g.run(t, dir, image, noPins, build...)
		if r.code != 1 || !strings.Contains(r.stderr, "gate: imagebuild verify failed the image") || !strings.Contains(r.stderr, ".netrc") {
			t.Fatalf("gate exit %d, want 1 with verify naming .netrc\n%s", r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "gate: scanning") {
			t.Errorf("gate scanned an image verify failed:\n%s", r.stderr)
		}
		assertNotPushed(t, image)
	})

	t.Run("setuptools 66 in the venv fails naming CVE-2024-6345", func(t *testing.T) {
		image := env.Registry + "/imagebuild-test/gate:setuptools66"
		dir := gateContext(t, "setuptools==66.1.1\n")
		r := g.run(t, dir, image, noPins, append(build, "--secret", "id=pipconf,src="+setuptoolsIndex(t))...)
		if r.code != 1 {
			t.Fatalf("gate exit %d, want 1\n%s", r.code, r.stderr)
		}
		for _, want := range []string{"CVE-2024-6345", "setuptools", "66.1.1", "70.0", "gate: Trivy failed the image"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("gate's report does not name %q:\n%s", want, r.stderr)
			}
		}
		for _, notWant := range []string{"CVE-9999-0001", "CVE-9999-0002"} {
			if strings.Contains(r.stderr, notWant) {
				t.Errorf("gate reports %s (unfixed or below HIGH):\n%s", notWant, r.stderr)
			}
		}
		assertNotPushed(t, image)
	})

	t.Run("a finding in one platform only fails naming that platform", func(t *testing.T) {
		env.NeedArm64(t)
		image := env.Registry + "/imagebuild-test/gate:arm64-only"
		// setuptools 66 goes into the arm64 image alone.
		dir := gateContext(t, "setuptools==66.1.1 ; platform_machine == \"aarch64\"\n")
		r := g.run(t, dir, image, noPins, append(build, "--platform", "linux/amd64,linux/arm64", "--secret", "id=pipconf,src="+setuptoolsIndex(t))...)
		if r.code != 1 {
			t.Fatalf("gate exit %d, want 1\n%s", r.code, r.stderr)
		}
		for _, want := range []string{"gate: scanning linux/amd64", "gate: scanning linux/arm64", "CVE-2024-6345", "gate: Trivy failed the image of linux/arm64 ("} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("gate's report does not say %q:\n%s", want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "failed the image of linux/amd64") {
			t.Errorf("gate failed the amd64 image, which has no setuptools:\n%s", r.stderr)
		}
		assertNotPushed(t, image)
	})

	t.Run("an entry in .trivyignore is honoured", func(t *testing.T) {
		image := env.Registry + "/imagebuild-test/gate:setuptools66-accepted"
		dir := gateContext(t, "setuptools==66.1.1\n", "CVE-2024-6345")
		r := g.run(t, dir, image, noPins, append(build, "--secret", "id=pipconf,src="+setuptoolsIndex(t))...)
		if r.code != 0 {
			t.Fatalf("gate exit %d, want 0 with CVE-2024-6345 in .trivyignore\n%s", r.code, r.stderr)
		}
		assertPushedScanned(t, r, image)
	})

	t.Run("with --sbom and SIGN_KEY the SBOM is checked and the push signed", func(t *testing.T) {
		image := env.Registry + "/imagebuild-test/gate:signed"
		key, pub := testenv.CosignKeyPair(t, "gate password")
		r := g.run(t, gateContext(t, ""), image, append(noPins, "SIGN_KEY="+key, "COSIGN_PASSWORD=gate password"), append(build, "--sbom")...)
		if r.code != 0 {
			t.Fatalf("gate exit %d, want 0\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "pass SBOM lists what the image holds") {
			t.Errorf("the gate's verify did not check the SBOM:\n%s", r.stderr)
		}
		assertPushedScanned(t, r, image)
		stdout, stderr, code := cli(t, "verify", "--key", pub, image)
		if code != 0 || !strings.Contains(stdout, "pass signature") {
			t.Errorf("verify --key of what the gate pushed exited %d\n%s\n%s", code, stdout, stderr)
		}
	})

	t.Run("PUSH=false stops after the scan", func(t *testing.T) {
		image := env.Registry + "/imagebuild-test/gate:not-pushed"
		dir := gateContext(t, "setuptools==66.1.1\n", "CVE-2024-6345")
		r := g.run(t, dir, image, append(noPins, "PUSH=false"), append(build, "--secret", "id=pipconf,src="+setuptoolsIndex(t))...)
		if r.code != 0 {
			t.Fatalf("gate exit %d, want 0\n%s", r.code, r.stderr)
		}
		var md map[string]any
		readJSON(t, filepath.Join(r.out, "metadata.json"), &md)
		if got, want := strings.TrimSpace(r.stdout), md["containerimage.digest"]; got != want {
			t.Errorf("gate printed %q, want the scanned digest %q", got, want)
		}
		assertNotPushed(t, image)
	})

	t.Run("the recipe's image passes and what was scanned is pushed", func(t *testing.T) {
		image := env.Registry + "/imagebuild-test/gate:recipe"
		r := g.run(t, gateContext(t, ""), image, noPins, build...)
		if r.code != 0 {
			t.Fatalf("gate exit %d, want 0\n%s", r.code, r.stderr)
		}
		assertPushedScanned(t, r, image)

		// The gate's filters, not a blind scanner, let it pass: Trivy
		// without them finds the base's unfixed HIGH and fixed MEDIUM
		// advisories in the layout the gate scanned, and no setuptools.
		found := g.findings(t, filepath.Join(r.out, "image"))
		want := []string{"CVE-9999-0001 libc-bin HIGH affected", "CVE-9999-0001 libc6 HIGH affected", "CVE-9999-0002 zlib1g MEDIUM fixed"}
		if !slices.Equal(found, want) {
			t.Errorf("Trivy without the gate's filters found %q, want %q", found, want)
		}
	})
}

// findings runs Trivy on the layout at dir with every severity and status
// and returns its findings as "ID package severity status", sorted.
func (g *gate) findings(t *testing.T, dir string) []string {
	t.Helper()
	args := append([]string{"image", "--input", dir, "--scanners", "vuln", "--format", "json", "--quiet"}, g.offlineFlags()...)
	out, err := exec.Command(g.trivy, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("trivy: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var report struct {
		Results []struct {
			Vulnerabilities []struct {
				VulnerabilityID, PkgName, Severity, Status string
			}
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("trivy's JSON: %v\n%s", err, out)
	}
	var found []string
	for _, r := range report.Results {
		for _, v := range r.Vulnerabilities {
			found = append(found, strings.Join([]string{v.VulnerabilityID, v.PkgName, v.Severity, v.Status}, " "))
		}
	}
	slices.Sort(found)
	return found
}
