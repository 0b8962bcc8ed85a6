package recipes_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/imagebuild/imagebuild/internal/testenv"
)

// debianPython is the interpreter the pip step's own tests run with where
// it exists: Debian's, with its python3-pip and python3-setuptools
// (scripts/deps.sh installs them).
const debianPython = "/usr/bin/python3"

// TestPipScript runs the pip step's own tests (pip/test_*.py, Python's
// unittest): the script's resolve, fetch, build and install against a
// PEP 503 index they serve on 127.0.0.1, and each of its uses of pip's and
// Python's internals against the installed pip, setuptools and Python. It
// fails with their output when they fail. Without a python3 that has pip,
// venv and setuptools it skips, or fails where integration tests are
// required (CI, make test).
func TestPipScript(t *testing.T) {
	python, err := pipPython()
	if err != nil {
		testenv.Unavailable(t, "the pip step's tests need python3 with pip: %v", err)
	}
	cmd := exec.Command(python, "-m", "unittest", "discover", "--start-directory", "pip", "--top-level-directory", "pip")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -m unittest discover (recipes/pip): %v\n%s", python, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("%s: %s", python, strings.Join(lines[max(0, len(lines)-3):], " "))
}

// pipPython returns debianPython, or where there is none the python3 on
// PATH, once it has the modules the pip step's tests need.
func pipPython() (string, error) {
	python := debianPython
	if _, err := os.Stat(python); err != nil {
		if python, err = exec.LookPath("python3"); err != nil {
			return "", errors.New("no " + debianPython + " and no python3 on PATH")
		}
	}
	var stderr bytes.Buffer
	cmd := exec.Command(python, "-c", `import importlib.util, sys
missing = [m for m in ("pip", "venv", "setuptools") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit("missing modules: " + ", ".join(missing))`)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s (apt-get install python3-pip python3-setuptools)",
			python, err, strings.TrimSpace(stderr.String()))
	}
	return python, nil
}
