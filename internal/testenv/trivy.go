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
