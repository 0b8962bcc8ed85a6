package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Trivy returns the path of the Trivy that the CI gate pins, built once by
// scripts/trivy.sh from the Go module proxy and cached. Without it the test
// is skipped with the reason, or failed where integration tests are [Required].
func Trivy(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, err := script(ctx, "trivy.sh")
	if err != nil {
		Unavailable(t, "trivy not available: %v", err)
	}
	return bin
}

// Advisories is the vulnerability database the tests scan with, as
// [TrivyDB] reads it (Trivy's own database cannot be reached here):
//   - CVE-2024-6345 on setuptools before 70.0 (pip), HIGH, fixed in 70.0;
//   - CVE-9999-0001 (made up) on glibc, the source of the Debian test base's
//     libc6 and libc-bin, HIGH and unfixed in Debian 12;
//   - CVE-9999-0002 (made up) on zlib, the test base's zlib1g, MEDIUM,
//     fixed in a version newer than the base's;
//   - CVE-9999-0003 (made up) on Alpine 3.20's openssl (libcrypto3),
//     MEDIUM, fixed in 3.3.3-r0.
const Advisories = `{
  "advisories": [
    {"source": "pip::GitHub Security Advisory pip", "package": "setuptools", "id": "CVE-2024-6345",
     "advisory": {"VulnerableVersions": ["<70.0"], "PatchedVersions": ["70.0"]}},
    {"source": "debian 12", "package": "glibc", "id": "CVE-9999-0001", "advisory": {"Status": 2}},
    {"source": "debian 12", "package": "zlib", "id": "CVE-9999-0002", "advisory": {"FixedVersion": "99:1.0-1"}},
    {"source": "alpine 3.20", "package": "openssl", "id": "CVE-9999-0003", "advisory": {"FixedVersion": "3.3.3-r0"}}
  ],
  "vulnerabilities": {
    "CVE-2024-6345": {"Title": "pypa/setuptools: remote code execution via download functions in the package_index module",
                      "Severity": "HIGH", "VendorSeverity": {"ghsa": 3, "nvd": 3}},
    "CVE-9999-0001": {"Title": "glibc: a made-up unfixed flaw", "Severity": "HIGH", "VendorSeverity": {"debian": 3, "nvd": 3}},
    "CVE-9999-0002": {"Title": "zlib: a made-up fixed flaw", "Severity": "MEDIUM", "VendorSeverity": {"debian": 2, "nvd": 2}},
    "CVE-9999-0003": {"Title": "openssl: a made-up fixed flaw", "Severity": "MEDIUM", "VendorSeverity": {"alpine": 2, "nvd": 2}}
  },
  "dataSources": {
    "pip::GitHub Security Advisory pip": {"ID": "ghsa", "Name": "GitHub Security Advisory pip"},
    "debian 12": {"ID": "debian", "Name": "Debian Security Tracker"},
    "alpine 3.20": {"ID": "alpine", "Name": "Alpine Secdb"}
  }
}`

// TrivyDB writes a Trivy vulnerability database from description (the JSON
// tools/trivydb reads: advisories, vulnerabilities, data sources) with
// Trivy's own database packages, and returns a Trivy cache folder holding
// it, for trivy --cache-dir DIR --skip-db-update.
func TrivyDB(t testing.TB, description []byte) string {
	t.Helper()
	cache := t.TempDir()
	cmd := exec.Command("go", "run", ".", filepath.Join(cache, "db"))
	cmd.Dir = filepath.Join(repoRoot(), "tools", "trivydb")
	cmd.Stdin = bytes.NewReader(description)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make the Trivy database: %v\n%s", err, out)
	}
	return cache
}

// BaseWheel returns the wheel of a Python distribution that the test base
// carries in /usr/share/python-wheels (Debian's ensurepip wheels: pip and
// setuptools), as its file name and content, for a private index to serve.
func BaseWheel(t testing.TB, distribution string) (string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	rootfs, err := script(ctx, "testbase-rootfs.sh")
	if err != nil {
		t.Fatalf("test base rootfs: %v", err)
	}
	matches, err := filepath.Glob(filepath.Join(rootfs, "usr", "share", "python-wheels", distribution+"-*.whl"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("test base: want one %s wheel in /usr/share/python-wheels, found %v (%v)", distribution, matches, err)
	}
	dt, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(matches[0]), dt
}
