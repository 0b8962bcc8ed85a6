package cli

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/verify"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// spdxDoc is what the tests read of an SPDX 2.3 JSON document.
type spdxDoc struct {
	SPDXVersion  string `json:"spdxVersion"`
	Namespace    string `json:"documentNamespace"`
	CreationInfo struct {
		Created string `json:"created"`
	} `json:"creationInfo"`
	Packages []struct {
		SPDXID       string `json:"SPDXID"`
		Name         string `json:"name"`
		Version      string `json:"versionInfo"`
		ExternalRefs []struct {
			Type    string `json:"referenceType"`
			Locator string `json:"referenceLocator"`
		} `json:"externalRefs"`
		Checksums []struct {
			Algorithm string `json:"algorithm"`
			Value     string `json:"checksumValue"`
		} `json:"checksums"`
	} `json:"packages"`
	Files []struct {
		Name      string `json:"fileName"`
		Checksums []struct {
			Algorithm string `json:"algorithm"`
			Value     string `json:"checksumValue"`
		} `json:"checksums"`
	} `json:"files"`
}

// purls lists the package URLs the document gives its packages.
func (d spdxDoc) purls() []string {
	var out []string
	for _, p := range d.Packages {
		for _, r := range p.ExternalRefs {
			if r.Type == "purl" {
				out = append(out, r.Locator)
			}
		}
	}
	return out
}

// TestSBOM builds the example on the Debian test base with a pure-Python
// distribution and Debian's setuptools 66.1.1 in the venv, with --sbom and
// --check-reproducible (which compares the two builds' SBOMs as well as
// their images), into an OCI tarball, and checks the SPDX document attached
// to the image: SPDX 2.3, dated by the epoch, the base's Debian packages
// with the distro in their purls, the venv's distributions with their files
// and SHA-1s, the base by digest; `imagebuild verify` checks it against the
// image; and the real Trivy, reading the document alone with the tests'
// vulnerability database, finds the advisories on the base's glibc and on
// setuptools.
func TestSBOM(t *testing.T) {
	env := testenv.Get(t)
	g := newGate(t)
	whl, setuptools := testenv.BaseWheel(t, "setuptools")
	version := strings.Split(whl, "-")[1]
	probe, probeWheel := testenv.Wheel(t, "imagebuild-probe", "1.0", map[string][]byte{"imagebuild_probe/__init__.py": []byte("VALUE = 1\n")})
	pipconf := testenv.PipConf(t, []byte("[global]\nindex-url = http://ci:sbom@"+
		testenv.PrivateIndex(t, "sbom", map[string][]byte{whl: setuptools, probe: probeWheel})+"/simple/\n"))
	ctxDir := testenv.ExampleContext(t, "imagebuild-probe==1.0\nsetuptools=="+version+"\n")
	dest := filepath.Join(t.TempDir(), "image.oci.tar")
	stdout, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir, "--base", env.Base.String(),
		"--secret", "id=pipconf,src="+pipconf, "--progress", "quiet", "--source-date-epoch", "1700000000",
		"--sbom", "--provenance", "mode=max", "--check-reproducible", "-o", "type=oci,dest="+dest)
	if code != 0 {
		t.Fatalf("build --sbom --check-reproducible exited %d: %s\n%s", code, stderr, stdout)
	}
	imgs, err := verify.Images(t.Context(), dest, ocispecs.Platform{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].SBOM == nil {
		t.Fatalf("want one image with an SBOM attached, have %d images (SBOM attached: %v)", len(imgs), len(imgs) == 1 && imgs[0].SBOM != nil)
	}
	var doc spdxDoc
	if err := json.Unmarshal(imgs[0].SBOM, &doc); err != nil {
		t.Fatalf("the SBOM is not JSON: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" {
		t.Errorf("spdxVersion %q, want SPDX-2.3", doc.SPDXVersion)
	}
	if doc.CreationInfo.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("created %q, want the epoch 1700000000, 2023-11-14T22:13:20Z", doc.CreationInfo.Created)
	}
	purls := strings.Join(doc.purls(), "\n")
	for _, want := range []string{"pkg:deb/debian/libc6@", "distro=debian-12", "pkg:pypi/imagebuild-probe@1.0", "pkg:pypi/setuptools@" + version} {
		if !strings.Contains(purls, want) {
			t.Errorf("no purl in the SBOM holds %q; purls:\n%s", want, purls)
		}
	}
	if !strings.Contains(string(imgs[0].SBOM), env.Base.Digest().String()) {
		t.Errorf("the SBOM does not name the base's digest %s", env.Base.Digest())
	}
	sum := sha1.Sum([]byte("VALUE = 1\n"))
	found := false
	for _, f := range doc.Files {
		if strings.HasSuffix(f.Name, "/site-packages/imagebuild_probe/__init__.py") && strings.HasPrefix(f.Name, "/opt/venv/") {
			for _, c := range f.Checksums {
				found = found || (c.Algorithm == "SHA1" && c.Value == hex.EncodeToString(sum[:]))
			}
		}
	}
	if !found {
		t.Errorf("the SBOM lists no file /opt/venv/.../imagebuild_probe/__init__.py with the SHA-1 of its content")
	}

	stdout, stderr, code = cli(t, "verify", dest)
	if code != 0 || !strings.Contains(stdout, "pass SBOM lists what the image holds") {
		t.Errorf("verify exited %d, want 0 with the SBOM check passed:\n%s\n%s", code, stdout, stderr)
	}

	// The real Trivy reads the document alone.
	file := filepath.Join(t.TempDir(), "sbom.spdx.json")
	if err := os.WriteFile(file, imgs[0].SBOM, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(g.trivy, append(append([]string{"sbom", "--format", "json", "--quiet"}, g.offlineFlags()...), file)...).Output()
	if err != nil {
		t.Fatalf("trivy sbom: %v\n%s", err, out)
	}
	var report struct {
		Results []struct {
			Vulnerabilities []struct {
				ID  string `json:"VulnerabilityID"`
				Pkg string `json:"PkgName"`
			} `json:"Vulnerabilities"`
		} `json:"Results"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("trivy's report: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, r := range report.Results {
		for _, v := range r.Vulnerabilities {
			got[v.ID+" "+v.Pkg] = true
		}
	}
	for _, want := range []string{"CVE-9999-0001 libc6", "CVE-2024-6345 setuptools"} {
		if !got[want] {
			t.Errorf("trivy sbom did not find %s; it found %v", want, got)
		}
	}
}
