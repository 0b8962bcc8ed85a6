package testenv

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// ExampleContext copies the example service's code (examples/incident-tracker,
// without its requirements) to a temporary build context and writes
// requirements as its requirements file.
func ExampleContext(t testing.TB, requirements string) string {
	t.Helper()
	src := filepath.Join(repoRoot(), "examples", "incident-tracker")
	dir := t.TempDir()
	for _, f := range []string{"app/__init__.py", "app/__main__.py", ".dockerignore"} {
		dt, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), dt, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte(requirements), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// SeverityIndex serves the example's C extension, incident-severity 1.0, as
// a source distribution from a private index on loopback, with the
// setuptools and wheel that pip's isolated build of it needs, and returns
// the pip.conf that reaches it (the token in the index URL). With libpq, it
// serves version 1.1 instead, which also links libpq, a library the runtime
// lacks unless it installs it. (A new version, since pip's step is cached by
// the requirements file, not by what the index serves.) extra are more files
// the index serves, by file name.
func SeverityIndex(t testing.TB, libpq bool, extra ...map[string][]byte) []byte {
	t.Helper()
	var replace map[string]string
	version := "1.0"
	if libpq {
		version = "1.1"
		replace = map[string]string{
			"setup.py": `from setuptools import Extension, setup

setup(
    name="incident-severity",
    version="1.1",
    ext_modules=[Extension("incident_severity", sources=["severity.c", "pq.c"], libraries=["pq"])],
)
`,
			"pq.c": "/* Links libpq, so the module needs libpq.so.5 at run time. */\nextern int PQlibVersion(void);\nint incident_severity_pq_version(void) { return PQlibVersion(); }\n",
		}
	}
	name, sdist := Sdist(t, filepath.Join(repoRoot(), "examples", "incident-tracker", "native"), "incident-severity", version, replace)
	files := BuildBackend(t)
	files[name] = sdist
	for _, m := range extra {
		maps.Copy(files, m)
	}
	const token = "example-index-token"
	addr := PrivateIndex(t, token, files)
	return []byte("[global]\nindex-url = http://ci:" + token + "@" + addr + "/simple/\n")
}

// PipConf writes dt, a pip.conf, to a file of its own (mode 0600, as a
// secret is kept) and returns its path, for the pipconf build secret.
func PipConf(t testing.TB, dt []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pip.conf")
	if err := os.WriteFile(p, dt, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
