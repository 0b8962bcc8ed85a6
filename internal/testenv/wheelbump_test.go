package testenv

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// debianPython is Debian's python3, whose pip Debian's python3-pip gives.
const debianPython = "/usr/bin/python3"

// pipPython returns a python3 that has pip (Debian's, or the one on PATH);
// without one the test ends as [Unavailable] says.
func pipPython(t *testing.T) string {
	t.Helper()
	python := debianPython
	if _, err := os.Stat(python); err != nil {
		if python, err = exec.LookPath("python3"); err != nil {
			Unavailable(t, "no %s and no python3 on PATH (apt-get install python3-pip)", debianPython)
		}
	}
	if out, err := exec.Command(python, "-m", "pip", "--version").CombinedOutput(); err != nil {
		Unavailable(t, "%s -m pip: %v: %s (apt-get install python3-pip)", python, err, bytes.TrimSpace(out))
	}
	return python
}

// pip runs python -m pip with args, reading no pip config but conf (none
// if ""), and returns its output and error.
func pip(python, conf string, args ...string) (string, error) {
	cmd := exec.Command(python, append([]string{"-m", "pip"}, args...)...)
	if conf == "" {
		conf = os.DevNull
	}
	cmd.Env = append(os.Environ(), "PIP_CONFIG_FILE="+conf, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// realWheel reads a wheel of RealSdistsDir.
func realWheel(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RealSdistsDir(), name))
	if err != nil {
		Unavailable(t, "real sdists: %v (the folder shared/real-sdists beside the repository holds them)", err)
	}
	return data
}

// verifyRecord checks a wheel's RECORD with Python's zipfile, csv and
// hashlib: every file but RECORD is listed with the hash and size of its
// content, and RECORD's own line has neither.
const verifyRecord = `import base64, csv, hashlib, io, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
record = sys.argv[2] + "RECORD"
rows = list(csv.reader(io.TextIOWrapper(z.open(record), encoding="utf-8")))
listed = set()
for path, h, size in rows:
    listed.add(path)
    if path == record:
        assert (h, size) == ("", ""), "RECORD's own line has %r" % ((h, size),)
        continue
    algo, _, want = h.partition("=")
    data = z.read(path)
    got = base64.urlsafe_b64encode(hashlib.new(algo, data).digest()).rstrip(b"=").decode()
    assert got == want, "%s: %s=%s, RECORD says %s" % (path, algo, got, want)
    assert int(size) == len(data), "%s: %d bytes, RECORD says %s" % (path, len(data), size)
unlisted = {n for n in z.namelist() if not n.endswith("/")} - listed
assert not unlisted, "not in RECORD: %s" % sorted(unlisted)
print("RECORD verifies: %d files" % len(rows))
`

// TestBumpWheel bumps setuptools 78.1.1 to 78.1.2 and checks the new
// release: its RECORD verifies (Python reads it), pip installs it from a
// folder and reports 78.1.2, its METADATA differs in Version alone, and
// every file outside .dist-info keeps its bytes; the Cython and wheel
// wheels' bumps verify too.
func TestBumpWheel(t *testing.T) {
	python := pipPython(t)
	const from = "setuptools-78.1.1-py3-none-any.whl"
	data := realWheel(t, from)
	name, bumped := BumpWheel(t, from, data, "78.1.2")
	if want := "setuptools-78.1.2-py3-none-any.whl"; name != want {
		t.Fatalf("file name %s, want %s", name, want)
	}

	dir := t.TempDir()
	wheel := filepath.Join(dir, name)
	if err := os.WriteFile(wheel, bumped, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "-c", verifyRecord, wheel, "setuptools-78.1.2.dist-info/").CombinedOutput()
	if err != nil {
		t.Fatalf("RECORD of %s: %v\n%s", name, err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))

	target := t.TempDir()
	if out, err := pip(python, "", "install", "--no-index", "--find-links", dir, "--no-deps", "--target", target, "setuptools==78.1.2"); err != nil {
		t.Fatalf("pip install setuptools==78.1.2 from %s: %v\n%s", dir, err, out)
	}
	out2, err := pip(python, "", "list", "--path", target, "--format", "json")
	if err != nil {
		t.Fatalf("pip list: %v\n%s", err, out2)
	}
	var listed []struct{ Name, Version string }
	if err := json.Unmarshal([]byte(out2), &listed); err != nil {
		t.Fatalf("pip list: %v: %s", err, out2)
	}
	if len(listed) != 1 || listed[0].Name != "setuptools" || listed[0].Version != "78.1.2" {
		t.Fatalf("pip list of the install: %+v, want setuptools 78.1.2", listed)
	}

	orig, bump := zipFiles(t, data), zipFiles(t, bumped)
	if len(orig) != len(bump) {
		t.Fatalf("%d files, the original %d", len(bump), len(orig))
	}
	for n, b := range orig {
		if strings.HasPrefix(n, "setuptools-78.1.1.dist-info/") {
			continue
		}
		if !bytes.Equal(bump[n], b) {
			t.Errorf("%s changed", n)
		}
	}
	meta := orig["setuptools-78.1.1.dist-info/METADATA"]
	want := bytes.Replace(meta, []byte("\nVersion: 78.1.1\n"), []byte("\nVersion: 78.1.2\n"), 1)
	if bytes.Equal(want, meta) || !bytes.Equal(bump["setuptools-78.1.2.dist-info/METADATA"], want) {
		t.Errorf("METADATA is not the original with Version 78.1.2")
	}

	for _, w := range []struct{ from, version, name, info string }{
		{"cython-3.1.6-py3-none-any.whl", "3.1.7", "cython-3.1.7-py3-none-any.whl", "cython-3.1.7.dist-info/"},
		{"wheel-0.38.4-py3-none-any.whl", "0.38.5", "wheel-0.38.5-py3-none-any.whl", "wheel-0.38.5.dist-info/"},
	} {
		name, bumped := BumpWheel(t, w.from, realWheel(t, w.from), w.version)
		wheel := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(wheel, bumped, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(python, "-c", verifyRecord, wheel, w.info).CombinedOutput(); name != w.name || err != nil {
			t.Errorf("bump of %s: %s; RECORD of %s: %v\n%s", w.from, name, w.info, err, out)
		}
	}
}

// zipFiles returns the content of each file of a zip by name.
func zipFiles(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, f := range zr.File {
		m[f.Name] = mustRead(t, f)
	}
	return m
}

// TestServeRealIndexAdd checks that a file added to the real index while
// it runs is served to pip through the index's pip.conf: setuptools
// 78.1.2 cannot be downloaded before BumpWheel's release is added and can
// after, and requests without the token are refused.
func TestServeRealIndexAdd(t *testing.T) {
	python := pipPython(t)
	s := ServeRealIndex(t)
	conf := filepath.Join(t.TempDir(), "pip.conf")
	if err := os.WriteFile(conf, s.PipConf(), 0o600); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^\[global\]\nindex-url = (http://)ci:real-index-token@(127\.0\.0\.1:\d+/simple/)\n$`).FindSubmatch(s.PipConf())
	if m == nil {
		t.Fatalf("pip.conf: %q", s.PipConf())
	}
	resp, err := http.Get(string(m[1]) + string(m[2]) + "setuptools/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", resp.StatusCode)
	}

	dest := t.TempDir()
	download := func() (string, error) {
		return pip(python, conf, "download", "--no-deps", "--dest", dest, "setuptools==78.1.2")
	}
	if out, err := download(); err == nil || !strings.Contains(out, "No matching distribution found for setuptools==78.1.2") {
		t.Fatalf("pip download setuptools==78.1.2 before the release is added: %v\n%s", err, out)
	}
	name, bumped := BumpWheel(t, "setuptools-78.1.1-py3-none-any.whl", s.File("setuptools-78.1.1-py3-none-any.whl"), "78.1.2")
	s.Add(name, bumped)
	if out, err := download(); err != nil {
		t.Fatalf("pip download setuptools==78.1.2 after the release is added: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dest, name))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(bumped) {
		t.Errorf("pip downloaded a %s other than the one added", name)
	}
}
