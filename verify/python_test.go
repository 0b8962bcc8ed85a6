package verify

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/imagebuild/imagebuild/internal/testenv"
)

// debianPython is a Debian-like runtime's Python, version (3.11, say):
// /usr/bin/python3 -> python3.11, with its standard library, reached
// through /bin -> usr/bin as well.
func debianPython(t *testing.T, version string) v1.Layer {
	return testenv.Layer(t,
		file{Path: "/usr/bin", Dir: true},
		file{Path: "/usr/bin/python3", Link: "python" + version},
		file{Path: "/usr/bin/python" + version, Body: []byte("python"), Mode: 0o755},
		file{Path: "/usr/lib/python" + version, Dir: true},
		file{Path: "/usr/lib/python" + version + "/os.py", Body: []byte("# os\n")},
		file{Path: "/bin", Link: "usr/bin"},
	)
}

// venv is a venv for Python version whose bin/python leads to
// interpreter, made as Python's venv makes it (python -> python3 ->
// interpreter), with a pyvenv.cfg of that version and the files extra
// under its site-packages.
func venv(t *testing.T, version, interpreter string, extra ...file) v1.Layer {
	site := "/opt/venv/lib/python" + version + "/site-packages"
	files := []file{
		{Path: "/opt", Dir: true},
		owned(file{Path: "/opt/venv", Dir: true}),
		owned(file{Path: "/opt/venv/pyvenv.cfg", Body: []byte("home = /usr/bin\ninclude-system-site-packages = false\nversion = " + version + ".2\n")}),
		owned(file{Path: "/opt/venv/bin", Dir: true}),
		owned(file{Path: "/opt/venv/bin/python", Link: "python3"}),
		owned(file{Path: "/opt/venv/bin/python3", Link: interpreter}),
		owned(file{Path: "/opt/venv/lib", Dir: true}),
		owned(file{Path: "/opt/venv/lib/python" + version, Dir: true}),
		owned(file{Path: site, Dir: true}),
		owned(file{Path: "/app", Dir: true}),
		owned(file{Path: "/app/main.py", Body: []byte("print('hi')\n")}),
	}
	for _, f := range extra {
		f.Path = site + "/" + f.Path
		files = append(files, owned(f))
	}
	return testenv.Layer(t, files...)
}

// hiredis is a distribution's files with the extension module so, listed
// in its RECORD, and, when tag is not "", a WHEEL file with that tag.
func hiredis(so, tag string) []file {
	files := []file{
		{Path: "hiredis", Dir: true},
		{Path: "hiredis/__init__.py", Body: []byte("")},
		{Path: "hiredis/" + so, Body: []byte("\x7fELF"), Mode: 0o755},
		{Path: "hiredis-2.3.2.dist-info", Dir: true},
		{Path: "hiredis-2.3.2.dist-info/METADATA", Body: []byte("Metadata-Version: 2.1\nName: hiredis\nVersion: 2.3.2\n")},
		{Path: "hiredis-2.3.2.dist-info/RECORD", Body: []byte("hiredis/__init__.py,,\nhiredis/" + so + ",,\nhiredis-2.3.2.dist-info/METADATA,,\nhiredis-2.3.2.dist-info/RECORD,,\n")},
	}
	if tag != "" {
		files = append(files, file{Path: "hiredis-2.3.2.dist-info/WHEEL", Body: []byte("Wheel-Version: 1.0\nGenerator: setuptools\nRoot-Is-Purelib: false\nTag: " + tag + "\n")})
	}
	return files
}

// TestPythonABI: the venv's Python (its lib/pythonX.Y, its pyvenv.cfg)
// and its extension modules' ABI tags must be the Python its bin/python
// leads to in the image; a mismatch fails the check in one line naming
// both versions and what says so.
func TestPythonABI(t *testing.T) {
	muslLoader := testenv.Layer(t, file{Path: "/lib/ld-musl-x86_64.so.1", Body: []byte("\x7fELF"), Mode: 0o755})
	for _, tc := range []struct {
		name     string
		layers   func(t *testing.T) []v1.Layer
		status   string
		evidence string
	}{
		{"a venv for 3.11 on a runtime with 3.12",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{debianPython(t, "3.12"), venv(t, "3.11", "/usr/bin/python3", hiredis("hiredis.cpython-311-x86_64-linux-gnu.so", "cp311-cp311-manylinux_2_17_x86_64")...)}
			},
			Fail, "/opt/venv is built for Python 3.11 (lib/python3.11, hiredis/hiredis.cpython-311-x86_64-linux-gnu.so, pyvenv.cfg version 3.11.2) but its interpreter /usr/bin/python3 is Python 3.12"},
		{"the matching venv",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{debianPython(t, "3.11"), venv(t, "3.11", "/usr/bin/python3", hiredis("hiredis.cpython-311-x86_64-linux-gnu.so", "")...)}
			},
			Pass, "/opt/venv is built for Python 3.11 (lib/python3.11, hiredis/hiredis.cpython-311-x86_64-linux-gnu.so, pyvenv.cfg version 3.11.2, 1 extension modules) and its interpreter /usr/bin/python3 is Python 3.11 (/usr/bin/python3.11)"},
		{"the interpreter through /bin and a relative link",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{debianPython(t, "3.11"), venv(t, "3.11", "../../../bin/python3")}
			},
			Pass, "its interpreter /bin/python3 is Python 3.11 (/usr/bin/python3.11)"},
		{"python3 named without its version: the standard library beside it",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{testenv.Layer(t,
					file{Path: "/usr/bin", Dir: true},
					file{Path: "/usr/bin/python3", Body: []byte("python"), Mode: 0o755},
					file{Path: "/usr/lib/python3.12/os.py", Body: []byte("# os\n")},
				), venv(t, "3.11", "/usr/bin/python3")}
			},
			Fail, "but its interpreter /usr/bin/python3 is Python 3.12"},
		{"an abi3 extension",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{venv(t, "3.12", "/usr/local/bin/python3", hiredis("hiredis.abi3.so", "cp38-abi3-manylinux_2_17_x86_64")...)}
			},
			Pass, "/opt/venv is built for Python 3.12 (lib/python3.12, pyvenv.cfg version 3.12.2, 1 extension modules) and its interpreter /usr/local/bin/python3 is Python 3.12"},
		{"an abi3 extension whose wheel says nothing",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{venv(t, "3.12", "/usr/local/bin/python3", hiredis("hiredis.abi3.so", "")...)}
			},
			Pass, "1 extension modules"},
		{"an abi3 extension for a later Python",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{venv(t, "3.12", "/usr/local/bin/python3", hiredis("hiredis.abi3.so", "cp313-abi3-manylinux_2_17_x86_64")...)}
			},
			Fail, "/opt/venv's hiredis/hiredis.abi3.so needs Python 3.13 or later but its interpreter /usr/local/bin/python3 is Python 3.12"},
		{"a free-threaded module on the default build",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{venv(t, "3.12", "/usr/local/bin/python3", hiredis("hiredis.cpython-312t-x86_64-linux-gnu.so", "")...)}
			},
			Fail, "/opt/venv is built for Python 3.12t (hiredis/hiredis.cpython-312t-x86_64-linux-gnu.so) but its interpreter /usr/local/bin/python3 is Python 3.12"},
		{"a glibc module on musl",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{muslLoader, venv(t, "3.12", "/usr/local/bin/python3", hiredis("hiredis.cpython-312-x86_64-linux-gnu.so", "")...)}
			},
			Fail, "/opt/venv's hiredis/hiredis.cpython-312-x86_64-linux-gnu.so is built for x86_64-linux-gnu but the image's C library is musl"},
		{"an interpreter not in the image",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{venv(t, "3.12", "/usr/bin/python3")}
			},
			Fail, "/opt/venv's interpreter /usr/bin/python3 is not in the image"},
		{"a venv without bin/python",
			func(t *testing.T) []v1.Layer {
				return []v1.Layer{testenv.Layer(t, file{Path: "/opt", Dir: true}, owned(file{Path: "/opt/venv", Dir: true}),
					owned(file{Path: "/app", Dir: true}), owned(file{Path: "/app/main.py", Body: []byte("x")}))}
			},
			Skip, "/opt/venv has no bin/python"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, testenv.Image(t, "appuser", append([]v1.Layer{baseLayer(t)}, tc.layers(t)...)...))
			res := result(r, "python abi")
			var text strings.Builder
			r.WriteText(&text)
			if res.Status != tc.status || !strings.Contains(strings.Join(res.Evidence, "\n"), tc.evidence) {
				t.Fatalf("python abi check: %s %q, want %s with %q:\n%s", res.Status, res.Evidence, tc.status, tc.evidence, text.String())
			}
			if tc.status == Fail && len(res.Evidence) != 1 {
				t.Errorf("evidence %q, want one line", res.Evidence)
			}
			if want := tc.status + " python abi: "; !strings.Contains(text.String(), "\n"+want) && !strings.HasPrefix(text.String(), want) {
				t.Errorf("the text report does not show %q:\n%s", want, text.String())
			}
			if tc.status == Fail && !strings.Contains(strings.Join(r.Failures(), "; "), "python abi") {
				t.Errorf("failures %q do not name the python abi check", r.Failures())
			}
		})
	}
}
