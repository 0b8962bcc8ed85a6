package verify

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/imagebuild/imagebuild/sbom"
)

// TestSBOMCheck checks the SBOM check against an image with two Debian
// packages and one distribution in the venv: a document made from the
// image passes; one made before a package was added to the image, or after
// one was removed, fails naming the package; an image with no document
// skips the check.
func TestSBOMCheck(t *testing.T) {
	status := func(pkgs ...string) string {
		var b strings.Builder
		for _, p := range pkgs {
			b.WriteString("Package: " + p + "\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n")
		}
		return b.String()
	}
	osRelease := "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
	site := "opt/venv/lib/python3.11/site-packages/"
	dist := map[string]string{
		site + "probe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: probe\nVersion: 1.0\n",
		site + "probe-1.0.dist-info/RECORD":   "probe/__init__.py,,\nprobe-1.0.dist-info/METADATA,,\nprobe-1.0.dist-info/RECORD,,\n",
		site + "probe/__init__.py":            "VALUE = 1\n",
	}
	// doc is the SBOM of a filesystem with the Debian packages pkgs and
	// the venv.
	doc := func(pkgs ...string) []byte {
		m := fstest.MapFS{
			"etc/os-release":      {Data: []byte(osRelease)},
			"var/lib/dpkg/status": {Data: []byte(status(pkgs...))},
		}
		for p, body := range dist {
			m[p] = &fstest.MapFile{Data: []byte(body)}
		}
		inv, err := sbom.Catalog(m)
		if err != nil {
			t.Fatal(err)
		}
		dt, err := sbom.SPDX(m, inv, sbom.Subject{Name: "test", Platform: "linux/amd64", Base: "example.com/base@sha256:" + strings.Repeat("a", 64), Created: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		return dt
	}
	files := []file{
		{path: "/etc/os-release", body: []byte(osRelease)},
		{path: "/var", dir: true}, {path: "/var/lib", dir: true}, {path: "/var/lib/dpkg", dir: true},
		{path: "/var/lib/dpkg/status", body: []byte(status("libc6", "zlib1g"))},
	}
	for p, body := range dist {
		files = append(files, file{path: "/" + p, body: []byte(body), uid: 1000, gid: 1000})
	}
	img := image(t, "appuser", baseLayer(t), appLayer(t), layer(t, files...))
	check := func(doc []byte) Result {
		t.Helper()
		r, err := Image(context.Background(), img, Options{SBOM: doc})
		if err != nil {
			t.Fatal(err)
		}
		return result(r, "SBOM")
	}

	if res := check(doc("libc6", "zlib1g")); res.Status != Pass {
		t.Errorf("the image's own SBOM: %s %v, want pass", res.Status, res.Evidence)
	} else if !strings.Contains(strings.Join(res.Evidence, "\n"), "3 packages") {
		t.Errorf("evidence %q does not count the 3 packages", res.Evidence)
	}
	res := check(doc("libc6"))
	if res.Status != Fail || !slices.ContainsFunc(res.Evidence, func(e string) bool { return strings.Contains(e, "not in the SBOM") && strings.Contains(e, "zlib1g") }) {
		t.Errorf("an SBOM without zlib1g: %s %v, want fail naming zlib1g as not in the SBOM", res.Status, res.Evidence)
	}
	res = check(doc("libc6", "zlib1g", "openssl"))
	if res.Status != Fail || !slices.ContainsFunc(res.Evidence, func(e string) bool { return strings.Contains(e, "not in the image") && strings.Contains(e, "openssl") }) {
		t.Errorf("an SBOM with openssl too: %s %v, want fail naming openssl as not in the image", res.Status, res.Evidence)
	}
	if res := check(nil); res.Status != Skip {
		t.Errorf("no SBOM: %s, want skip", res.Status)
	}
	if res := check([]byte("{not json")); res.Status != Fail {
		t.Errorf("an unreadable SBOM: %s, want fail", res.Status)
	}
}
