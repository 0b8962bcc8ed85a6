package sbom_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/imagebuild/imagebuild/internal/testenv"
	"github.com/imagebuild/imagebuild/sbom"
)

// trivyFindings is what Trivy reports of an SPDX document: its OS, and
// the class and installed version of each "CVE PACKAGE" it found.
type trivyFindings struct {
	os    string
	vulns map[string]string
}

// scanSPDX writes doc to a file and scans it with trivy sbom, offline, on
// testenv.Advisories.
func scanSPDX(t *testing.T, doc []byte) trivyFindings {
	t.Helper()
	trivy := testenv.Trivy(t)
	cache := testenv.TrivyDB(t, []byte(testenv.Advisories))
	file := filepath.Join(t.TempDir(), "image.spdx.json")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(trivy, "sbom", "--format", "json", "--cache-dir", cache,
		"--skip-db-update", "--skip-java-db-update", "--offline-scan", "--skip-version-check", "--disable-telemetry", file)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("trivy sbom: %v\n%s", err, stderr.String())
	}
	var report struct {
		Metadata struct {
			OS *struct{ Family, Name string }
		}
		Results []struct {
			Class           string
			Vulnerabilities []struct {
				VulnerabilityID, PkgName, InstalledVersion string
			}
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("trivy's report: %v\n%s", err, out)
	}
	f := trivyFindings{vulns: map[string]string{}}
	if report.Metadata.OS != nil {
		f.os = report.Metadata.OS.Family + " " + report.Metadata.OS.Name
	}
	for _, r := range report.Results {
		for _, v := range r.Vulnerabilities {
			f.vulns[v.VulnerabilityID+" "+v.PkgName] = r.Class + " " + v.InstalledVersion
		}
	}
	t.Logf("trivy found: OS %q, %v", f.os, f.vulns)
	return f
}

// testbaseRootfs returns the Debian test base's root filesystem, made
// (once per machine) by scripts/testbase-rootfs.sh.
func testbaseRootfs(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(filepath.Dir(file), "..", "scripts", "testbase-rootfs.sh"))
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		testenv.Unavailable(t, "test base rootfs: %v: %s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// overlay is a filesystem whose upper files hide and add to lower's.
type overlay struct {
	upper fstest.MapFS
	lower fs.FS
}

func (o overlay) Open(name string) (fs.File, error) {
	if info, err := fs.Stat(o.upper, name); err == nil && !info.IsDir() {
		return o.upper.Open(name)
	}
	if f, err := o.lower.Open(name); err == nil {
		return f, nil
	}
	return o.upper.Open(name)
}

func (o overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	up, upErr := fs.ReadDir(o.upper, name)
	low, lowErr := fs.ReadDir(o.lower, name)
	if upErr != nil && lowErr != nil {
		return nil, lowErr
	}
	byName := map[string]fs.DirEntry{}
	for _, e := range low {
		byName[e.Name()] = e
	}
	for _, e := range up {
		byName[e.Name()] = e
	}
	var out []fs.DirEntry
	for _, e := range byName {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// TestTrivy scans the SPDX document of the Debian test base, with
// setuptools 65.0.0 installed in /opt/venv, with the real Trivy: it must
// match libc6 to the glibc advisory through the OS package and libc6's
// source package, and setuptools to CVE-2024-6345 through its pypi
// package URL.
func TestTrivy(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	rootfs := testbaseRootfs(t)

	site := "opt/venv/lib/python3.11/site-packages"
	dist := site + "/setuptools-65.0.0.dist-info"
	fsys := overlay{lower: os.DirFS(rootfs), upper: fstest.MapFS{
		dist + "/METADATA":               {Data: []byte("Metadata-Version: 2.1\nName: setuptools\nVersion: 65.0.0\nLicense: UNKNOWN\n")},
		dist + "/RECORD":                 {Data: []byte("setuptools/__init__.py,sha256=x,10\nsetuptools-65.0.0.dist-info/METADATA,,\nsetuptools-65.0.0.dist-info/RECORD,,\n")},
		site + "/setuptools/__init__.py": {Data: []byte("# setuptools\n")},
	}}
	inv, err := sbom.Catalog(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if inv.OS.ID != "debian" || inv.OS.VersionID != "12" {
		t.Fatalf("OS = %+v, want debian 12", inv.OS)
	}
	var libc6, setuptools *sbom.Package
	for i, p := range inv.Packages {
		switch p.Name {
		case "libc6":
			libc6 = &inv.Packages[i]
		case "setuptools":
			setuptools = &inv.Packages[i]
		}
	}
	if libc6 == nil || libc6.SourceName != "glibc" || setuptools == nil || len(setuptools.Files) != 3 {
		t.Fatalf("Catalog of the test base: libc6 %+v, setuptools %+v", libc6, setuptools)
	}
	doc, err := sbom.SPDX(fsys, inv, sbom.Subject{
		Name:     "testbase",
		Platform: "linux/amd64",
		Base:     "docker.io/library/debian:bookworm@sha256:" + strings.Repeat("0", 64),
		Created:  time.Unix(1700000000, 0),
	})
	if err != nil {
		t.Fatal(err)
	}

	found := scanSPDX(t, doc)
	if found.os != "debian 12" {
		t.Errorf("trivy's OS = %q, want debian 12", found.os)
	}
	want := map[string]string{
		"CVE-9999-0001 libc6":      "os-pkgs " + libc6.Version,
		"CVE-2024-6345 setuptools": "lang-pkgs 65.0.0",
	}
	for k, v := range want {
		if found.vulns[k] != v {
			t.Errorf("trivy: %s: got %q, want %q", k, found.vulns[k], v)
		}
	}
}

// TestTrivyAlpine scans the SPDX document of an Alpine tree with the real
// Trivy: it must take the OS from the document and match libcrypto3 to
// the advisory on its origin, openssl, through the apk package URL.
func TestTrivyAlpine(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	fsys := alpineFS()
	inv, err := sbom.Catalog(fsys)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sbom.SPDX(fsys, inv, sbom.Subject{
		Name:     "alpine-app",
		Platform: "linux/amd64",
		Base:     "docker.io/library/alpine:3.20@sha256:" + strings.Repeat("1", 64),
		Created:  time.Unix(1700000000, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	found := scanSPDX(t, doc)
	if found.os != "alpine 3.20.3" {
		t.Errorf("trivy's OS = %q, want alpine 3.20.3", found.os)
	}
	if got, want := found.vulns["CVE-9999-0003 libcrypto3"], "os-pkgs 3.3.2-r0"; got != want {
		t.Errorf("trivy: CVE-9999-0003 libcrypto3: got %q, want %q", got, want)
	}
	if len(found.vulns) != 1 {
		t.Errorf("trivy found %v, want CVE-9999-0003 in libcrypto3 alone", found.vulns)
	}
}
