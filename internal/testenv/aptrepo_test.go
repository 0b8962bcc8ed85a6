package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagebuild/imagebuild/builder"
)

// get fetches path from the repository and returns the status and body.
func get(t *testing.T, r *AptRepo, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + r.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// stanzas parses a Packages index into its stanzas' fields.
func stanzas(dt []byte) []map[string]string {
	var out []map[string]string
	for _, s := range strings.Split(strings.TrimSpace(string(dt)), "\n\n") {
		if s == "" {
			continue
		}
		m := map[string]string{}
		for _, line := range strings.Split(s, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			m[k] = v
		}
		out = append(out, m)
	}
	return out
}

// TestAptRepoServes checks what the stand-in mirror serves: the Packages
// index apt reads from a flat repository (asked for as /./Packages), with
// each .deb's Filename, Size and SHA256 matching the file served there,
// a real package dpkg-deb reads back, and the index following Add and
// Remove.
func TestAptRepoServes(t *testing.T) {
	r := NewAptRepo(t)
	sum1 := r.Add("imagebuild-test-a", "1", "amd64", []byte("a one\n"))

	code, idx := get(t, r, "/./Packages")
	if code != http.StatusOK {
		t.Fatalf("GET /./Packages: %d", code)
	}
	got := stanzas(idx)
	want := []map[string]string{{
		"Package":      "imagebuild-test-a",
		"Version":      "1",
		"Architecture": "amd64",
		"Maintainer":   "imagebuild tests <tests@imagebuild.invalid>",
		"Description":  "imagebuild test package imagebuild-test-a",
		"Filename":     "pool/imagebuild-test-a_1_amd64.deb",
		"Size":         got[0]["Size"],
		"SHA256":       sum1,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Packages (-want +got):\n%s", diff)
	}
	code, deb := get(t, r, "/"+got[0]["Filename"])
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", got[0]["Filename"], code)
	}
	if sum := sha256.Sum256(deb); hex.EncodeToString(sum[:]) != sum1 || got[0]["Size"] != strconv.Itoa(len(deb)) {
		t.Fatalf("served .deb: sha256 %x, %d bytes; Packages says %s, %s", sum, len(deb), sum1, got[0]["Size"])
	}
	checkDeb(t, deb, "imagebuild-test-a", "a one\n")
	for _, p := range []string{"/./InRelease", "/./Release", "/./Packages.gz", "/pool/nothing.deb"} {
		if code, _ := get(t, r, p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}

	r.Remove("imagebuild-test-a", "1")
	sum2 := r.Add("imagebuild-test-a", "2", "amd64", []byte("a two\n"))
	if sum2 == sum1 {
		t.Fatal("versions 1 and 2 have the same sha256")
	}
	_, idx = get(t, r, "/./Packages")
	got = stanzas(idx)
	if len(got) != 1 || got[0]["Version"] != "2" || got[0]["SHA256"] != sum2 || got[0]["Filename"] != "pool/imagebuild-test-a_2_amd64.deb" {
		t.Fatalf("Packages after the bump lists %v, want version 2 alone with sha256 %s", got, sum2)
	}
	if code, _ := get(t, r, "/pool/imagebuild-test-a_1_amd64.deb"); code != http.StatusNotFound {
		t.Errorf("removed .deb: %d, want 404", code)
	}
	if again := NewAptRepo(t).Add("imagebuild-test-a", "2", "amd64", []byte("a two\n")); again != sum2 {
		t.Errorf("the same package built twice: sha256 %s then %s", sum2, again)
	}
}

// checkDeb reads deb with dpkg-deb and checks it is package name, installing
// content at AptPackageFile(name), owned by root and readable by all.
func checkDeb(t *testing.T, deb []byte, name, content string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.deb")
	if err := os.WriteFile(path, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dpkg-deb", "--field", path, "Package").Output()
	if err != nil || strings.TrimSpace(string(out)) != name {
		t.Fatalf("dpkg-deb --field Package: %q, %v; want %s", out, err, name)
	}
	fsys, err := exec.Command("dpkg-deb", "--fsys-tarfile", path).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --fsys-tarfile: %v", err)
	}
	tr := tar.NewReader(bytes.NewReader(fsys))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("the package does not install %s", AptPackageFile(name))
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, ".") != AptPackageFile(name) {
			continue
		}
		body, _ := io.ReadAll(tr)
		if string(body) != content || h.Uid != 0 || h.Gid != 0 || h.Mode&0o777 != 0o644 {
			t.Fatalf("%s: %q, owner %d:%d, mode %o; want %q, 0:0, 644", h.Name, body, h.Uid, h.Gid, h.Mode, content)
		}
		return
	}
}

// TestAptRepoInstall installs from the stand-in mirror with apt-get in a
// build on the base whose only apt source it is, then bumps the package
// (version 1 removed, version 2 added) and checks that apt-get now finds
// version 2 alone, with the sha256 Add returned.
func TestAptRepoInstall(t *testing.T) {
	e := Get(t)
	ctx := context.Background()
	r := NewAptRepo(t)
	arch := Platform.Architecture
	sum1 := r.Add("imagebuild-test-a", "1", arch, []byte("a one\n"))
	base := e.AptBase(t, r)
	if len(e.Platforms) > 1 {
		ps := PlatformManifests(t, RegistryIndex(t, base.String()))
		for _, p := range e.Platforms {
			if _, ok := ps[builder.PlatformID(p)]; !ok {
				t.Errorf("apt base %s has no %s image: %v", base, builder.PlatformID(p), ps)
			}
		}
	}
	file := AptPackageFile("imagebuild-test-a")
	run := func(script string) string {
		t.Helper()
		out, err := e.Run(ctx, base.String(), "sh", "-c", script)
		if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		return out
	}

	out := run(`set -e
echo "sources: $(cat /etc/apt/sources.list) ($(ls -A /etc/apt/sources.list.d | wc -l) in sources.list.d)"
apt-get update
apt-get install -y imagebuild-test-a=1
echo "installed: $(cat ` + file + `)"
apt-cache show imagebuild-test-a=1`)
	for _, want := range []string{
		"sources: " + r.SourcesLine() + " (0 in sources.list.d)",
		"installed: a one",
		"SHA256: " + sum1,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("version 1: output lacks %q:\n%s", want, out)
		}
	}

	r.Remove("imagebuild-test-a", "1")
	sum2 := r.Add("imagebuild-test-a", "2", arch, []byte("a two\n"))
	out = run(`set -e
apt-get update
apt-get install -y imagebuild-test-a=1 || echo "install of version 1: exit $?"`)
	for _, want := range []string{"Version '1' for 'imagebuild-test-a' was not found", "install of version 1: exit 100"} {
		if !strings.Contains(out, want) {
			t.Errorf("version 1 after its removal: output lacks %q:\n%s", want, out)
		}
	}
	out = run(`set -e
apt-get update
apt-get install -y imagebuild-test-a=2
echo "installed: $(cat ` + file + `)"
apt-cache show imagebuild-test-a=2`)
	for _, want := range []string{"installed: a two", "SHA256: " + sum2} {
		if !strings.Contains(out, want) {
			t.Errorf("version 2: output lacks %q:\n%s", want, out)
		}
	}
}
