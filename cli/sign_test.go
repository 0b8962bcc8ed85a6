package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/imagebuild/imagebuild/builder"
	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/verify"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestSignedTwoPlatformPush builds the example for linux/amd64 and
// linux/arm64 with --sbom and pushes it with --sign, with a key pair the
// real cosign v2 generated, then checks it from outside:
//   - cosign verifies the index and each platform's manifest;
//   - `imagebuild verify --key` checks the signature, then each
//     platform's image, its SBOM included;
//   - each platform's SBOM, read by Trivy (a third-party reader), lists
//     that platform's Debian packages (libc6 of its architecture) and
//     their count is the count dpkg's status database in that platform's
//     image holds;
//   - imagebuild verifies what cosign signed (a copy in another
//     repository, signed there by cosign alone);
//   - another image pushed to the signed tag fails `verify --key` in one
//     line, as it does cosign.
func TestSignedTwoPlatformPush(t *testing.T) {
	env := testenv.Get(t)
	ps := env.NeedArm64(t)
	g := newGate(t)
	cosign := testenv.NewCosignCLI(t)
	if _, err := cosign.Run(t, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v", err)
	}
	key, pub := filepath.Join(cosign.Dir, "cosign.key"), filepath.Join(cosign.Dir, "cosign.pub")
	t.Setenv("COSIGN_PASSWORD", testenv.CosignPassword)

	var ids []string
	for _, p := range ps {
		ids = append(ids, builder.PlatformID(p))
	}
	image := env.Registry + "/imagebuild-test/signed:v1"
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", testenv.ExampleContext(t, "# offline\n"),
		"--base", env.Base.String(), "--platform", strings.Join(ids, ","), "--progress", "quiet",
		"--sbom", "--sign", key, "-t", image, "--push")
	if code != 0 {
		t.Fatalf("build --sbom --sign --push exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	index := lines[len(lines)-1]
	if strings.Count(stderr, "signed: ") != 1+len(ps) {
		t.Errorf("stderr names %d signatures, want the index's and each platform's, %d:\n%s", strings.Count(stderr, "signed: "), 1+len(ps), stderr)
	}
	repo := env.Registry + "/imagebuild-test/signed"
	idx := testenv.RegistryIndex(t, image)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	digests := []string{index}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" {
			digests = append(digests, d.Digest.String())
		}
	}
	if len(digests) != 1+len(ps) {
		t.Fatalf("the pushed index lists %d platform images, want %d", len(digests)-1, len(ps))
	}
	for _, d := range digests {
		if _, err := cosign.Verify(t, pub, repo+"@"+d); err != nil {
			t.Errorf("cosign verify %s@%s: %v", repo, d, err)
		}
	}

	stdout, stderr, code = cli(t, "verify", "--key", pub, image)
	if code != 0 || !strings.Contains(stdout, "pass signature: "+repo+"@"+index) ||
		strings.Count(stdout, "pass SBOM lists what the image holds") != len(ps) {
		t.Errorf("verify --key exited %d, want 0 with the signature and each platform's SBOM passed\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// Each platform's SBOM, as Trivy reads it.
	imgs, err := verify.Images(t.Context(), image, ocispecs.Platform{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		if img.SBOM == nil {
			t.Errorf("%s: no SBOM attached", img.Platform.Architecture)
			continue
		}
		file := filepath.Join(t.TempDir(), "sbom.spdx.json")
		if err := os.WriteFile(file, img.SBOM, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(g.trivy, append(append([]string{"sbom", "--format", "json", "--quiet", "--list-all-pkgs"}, g.offlineFlags()...), file)...).Output()
		if err != nil {
			t.Fatalf("trivy sbom: %v\n%s", err, out)
		}
		var report struct {
			Results []struct {
				Class    string `json:"Class"`
				Packages []struct {
					Name       string `json:"Name"`
					Identifier struct {
						PURL string `json:"PURL"`
					} `json:"Identifier"`
				} `json:"Packages"`
			} `json:"Results"`
		}
		if err := json.Unmarshal(out, &report); err != nil {
			t.Fatalf("trivy's report: %v", err)
		}
		debs, libc := 0, ""
		for _, r := range report.Results {
			if r.Class != "os-pkgs" {
				continue
			}
			for _, p := range r.Packages {
				debs++
				if p.Name == "libc6" {
					libc = p.Identifier.PURL
				}
			}
		}
		if want := "arch=" + img.Platform.Architecture; !strings.Contains(libc, want) {
			t.Errorf("%s: Trivy reads libc6 as %q, want a purl with %s", img.Platform.Architecture, libc, want)
		}
		if want := installedDebs(t, img.Image); debs != want {
			t.Errorf("%s: Trivy reads %d Debian packages in the SBOM, dpkg's status in the image holds %d", img.Platform.Architecture, debs, want)
		}
	}

	// What cosign alone signed, imagebuild verifies.
	copyRef := env.Registry + "/imagebuild-test/signed-by-cosign:v1"
	copyIndex(t, image, copyRef)
	if _, err := cosign.Sign(t, key, env.Registry+"/imagebuild-test/signed-by-cosign@"+index); err != nil {
		t.Fatalf("cosign sign: %v", err)
	}
	if stdout, stderr, code := cli(t, "verify", "--key", pub, copyRef); code != 0 || !strings.Contains(stdout, "pass signature") {
		t.Errorf("verify --key of what cosign signed exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// Another image pushed to the signed tag.
	r, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	other, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, other); err != nil {
		t.Fatal(err)
	}
	otherDigest, _ := other.Digest()
	stdout, stderr, code = cli(t, "verify", "--key", pub, image)
	lines = strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if code != 1 || len(lines) != 1 || !strings.Contains(stderr, "no signature for "+otherDigest.String()) {
		t.Errorf("verify --key of the tag after another image was pushed to it: exit %d, want 1 with one line naming %s\nstdout:\n%s\nstderr:\n%s", code, otherDigest, stdout, stderr)
	}
	if _, err := cosign.Verify(t, pub, image); err == nil {
		t.Errorf("cosign verify of the tag after another image was pushed to it passed")
	}
}

// installedDebs counts the packages dpkg's status database in img holds
// as installed.
func installedDebs(t *testing.T, img v1.Image) int {
	t.Helper()
	status := testenv.Files(t, img)["var/lib/dpkg/status"].Data
	if len(status) == 0 {
		t.Fatal("the image has no dpkg status database")
	}
	n := 0
	for _, stanza := range strings.Split(string(status), "\n\n") {
		if strings.Contains(stanza, "\nStatus: install ok installed") || strings.HasPrefix(stanza, "Status: install ok installed") {
			n++
		}
	}
	return n
}

// copyIndex copies the index src to dst in the test registry.
func copyIndex(t *testing.T, src, dst string) {
	t.Helper()
	r, err := name.ParseReference(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, testenv.RegistryIndex(t, src)); err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}
