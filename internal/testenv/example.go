package testenv

import (
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
// a source distribution from a private index on loopback, and returns the
// pip.conf that reaches it (the token in the index URL; build isolation off,
// since the index serves no setuptools). With libpq, it serves version 1.1
// instead, which also links libpq, a library the runtime lacks unless it
// installs it. (A new version, since pip's step is cached by the
// requirements file, not by what the index serves.)
func SeverityIndex(t testing.TB, libpq bool) []byte {
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
	const token = "example-index-token"
	addr := PrivateIndex(t, token, map[string][]byte{name: sdist})
	return []byte("[global]\nindex-url = http://ci:" + token + "@" + addr + "/simple/\nno-build-isolation = false\n")
}
