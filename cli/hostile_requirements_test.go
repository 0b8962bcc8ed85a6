package cli

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
)

// These tests build requirements files as an attacker writes them: a wrong
// hash beside a line without one, and an sdist whose build requirements a
// public index would serve under the internal index's names.

// TestWrongHashWithAnUnhashedLine builds a requirements file whose one
// line has a wrong hash and whose other has none, which pip refuses whole
// (any --hash turns its hash-checking mode on): the build exits 2 naming the
// unhashed line, and writes nothing.
func TestWrongHashWithAnUnhashedLine(t *testing.T) {
	env := testenv.Get(t)
	files := map[string][]byte{}
	for _, name := range []string{"smalldep", "otherdep"} {
		whl, dt := testenv.Wheel(t, name, "1.0", map[string][]byte{name + "/__init__.py": []byte("VALUE = 1\n")})
		files[whl] = dt
	}
	pipconf := testenv.PipConf(t, []byte("[global]\nindex-url = http://ci:hashes@"+testenv.PrivateIndex(t, "hashes", files)+"/simple/\n"))
	ctxDir := testenv.ExampleContext(t, "smalldep==1.0 --hash=sha256:"+strings.Repeat("0", 64)+"\notherdep==1.0\n")
	dest := filepath.Join(t.TempDir(), "image.oci.tar")
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir, "--base", env.Base.String(),
		"--secret", "id=pipconf,src="+pipconf, "--progress", "quiet", "-o", "type=oci,dest="+dest)
	want := "imagebuild: recipe python-alpine: Requirements: requirements.txt: line 1 gives a --hash, which has pip check every requirement's hashes: line 2 (otherdep==1.0) is not pinned with == and hashed"
	if code != 2 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("a wrong hash beside an unhashed line: exit %d, want 2 and the one line %q...:\n%s", code, want, stderr)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("the refused build wrote %s", dest)
	}
}

// TestHashCheckingRefusedBeforeTheDaemon: a requirements file pip's
// hash-checking mode refuses, or an index URL with a token, is refused in
// one line, exit 2, before a daemon is contacted (the address is a
// tripwire), by build and llb alike.
func TestHashCheckingRefusedBeforeTheDaemon(t *testing.T) {
	zero := strings.Repeat("0", 64)
	for _, tt := range []struct {
		name, requirements, want string
	}{
		{"unhashed lines", "smalldep==1.0 --hash=sha256:" + zero + "\nflask\n-r more.txt\n",
			"line 1 gives a --hash, which has pip check every requirement's hashes: line 2 (flask), line 3 (-r more.txt) are not pinned with == and hashed"},
		{"a hash not sha256", "smalldep==1.0 --hash=sha512:" + zero + "\n", "line 1: --hash=sha512:" + zero + " is not sha256:<64 hex digits>"},
		{"a token in an index URL", "--extra-index-url https://glpat-s3cr3t@git.example.com/api/v4/projects/1/packages/pypi/simple\nflask\n",
			"line 1: --extra-index-url https://xxxxx@git.example.com/api/v4/projects/1/packages/pypi/simple holds user info (a token): give a private index in pip's config file as the pipconf secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctxDir := testenv.ExampleContext(t, tt.requirements)
			for _, args := range [][]string{
				{"build", "python-alpine", "--addr", "{addr}", "--context", ctxDir, "-o", "type=oci,dest=" + filepath.Join(t.TempDir(), "image.oci.tar")},
				{"llb", "python-alpine", "--context", ctxDir, "--platform", "linux/amd64"},
			} {
				stdout, stderr, code := cliNoDaemon(t, args...)
				if code != 2 || !strings.Contains(stderr, "Requirements: requirements.txt: "+tt.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
					t.Errorf("%s: exit %d, want 2 and one line with %q:\n%s", args[0], code, tt.want, stderr)
				}
				if strings.Contains(stderr, "s3cr3t") {
					t.Errorf("%s: the error shows the token: %s", args[0], stderr)
				}
			}
		})
	}
}

// acmeSetup is the setup.py of a project that build-requires
// acme-buildtools and records, in its package, the MARK of the
// acme-buildtools it was built with.
const acmeSetup = `import os

import acme_buildtools
from setuptools import setup

os.makedirs("%[1]s", exist_ok=True)
with open("%[1]s/__init__.py", "w") as f:
    f.write("BUILT_WITH = %%r\n" %% acme_buildtools.MARK)
setup(name="%[2]s", version="1.0", packages=["%[1]s"])
`

// acmePyproject build-requires acme-buildtools.
const acmePyproject = "[build-system]\nrequires = [\"setuptools>=40.8.0\", \"wheel\", \"acme-buildtools\"]\nbuild-backend = \"setuptools.build_meta\"\n"

// TestBuildRequirementsFromTheFileIndex builds an internal sdist and a
// local project that build-require acme-buildtools, the requirements file
// naming the internal index with --index-url, while pip's config (the
// pipconf secret) names a public one where an attacker registered
// acme-buildtools at a higher version: both are built with the internal
// index's acme-buildtools, as pip's own isolated builds take the file's
// index, and the build says once that build requirements float (its
// quiet progress shows warnings alone).
func TestBuildRequirementsFromTheFileIndex(t *testing.T) {
	env := testenv.Get(t)
	backend := testenv.BuildBackend(t)
	mark := func(version, mark string) map[string][]byte {
		name, dt := testenv.Wheel(t, "acme-buildtools", version, map[string][]byte{"acme_buildtools/__init__.py": []byte("MARK = " + fmt.Sprintf("%q", mark) + "\n")})
		return map[string][]byte{name: dt}
	}
	public := maps.Clone(backend)
	maps.Copy(public, mark("9.9", "public"))
	pipconf := testenv.PipConf(t, []byte("[global]\nindex-url = http://ci:public@"+testenv.PrivateIndex(t, "public", public)+"/simple/\n"))

	internal := maps.Clone(backend)
	maps.Copy(internal, mark("1.0", "internal"))
	sdist, dt := testenv.Sdist(t, t.TempDir(), "acme-internal", "1.0", map[string]string{
		"setup.py": fmt.Sprintf(acmeSetup, "acme_internal", "acme-internal"), "pyproject.toml": acmePyproject,
	})
	internal[sdist] = dt
	index := testenv.OpenIndex(t, internal)

	ctxDir := testenv.ExampleContext(t, "--index-url "+index+"\nacme-internal==1.0\n./tool\n")
	if err := os.MkdirAll(filepath.Join(ctxDir, "tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"setup.py": fmt.Sprintf(acmeSetup, "acme_tool", "acme-tool"), "pyproject.toml": acmePyproject} {
		if err := os.WriteFile(filepath.Join(ctxDir, "tool", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dest := filepath.Join(t.TempDir(), "image.oci.tar")
	_, stderr, code := cli(t, "build", "python-alpine", "--addr", env.Addr, "--context", ctxDir, "--base", env.Base.String(),
		"--secret", "id=pipconf,src="+pipconf, "--progress", "quiet", "--no-cache", "-o", "type=oci,dest="+dest)
	if code != 0 {
		t.Fatalf("build exited %d:\n%s", code, stderr)
	}
	files := testenv.Files(t, testenv.OCIImage(t, dest))
	for _, pkg := range []string{"acme_internal", "acme_tool"} {
		var built string
		for name, f := range files {
			if strings.HasPrefix(name, "opt/venv/lib/") && strings.HasSuffix(name, "/site-packages/"+pkg+"/__init__.py") {
				built = string(f.Data)
			}
		}
		if want := "BUILT_WITH = 'internal'\n"; built != want {
			t.Errorf("%s's __init__.py is %q, want %q: its build requirements came from pip's config's index, not the requirements file's", pkg, built, want)
		}
	}
	const warning = "imagebuild: warning: sdists are compiled with build requirements installed unhashed from the index at build time (setuptools, wheel, Cython, ...): their versions float"
	// Two steps said it (the sdist's and the project's); the build says it once.
	if strings.Count(stderr, warning+"\n") != 1 {
		t.Errorf("the build compiled sdists, and said %q %d times, want once:\n%s", warning, strings.Count(stderr, warning), stderr)
	}
}
