package testenv

import (
	"strings"
	"testing"
)

// EditShape makes the distributions of a requirements edit of a shape
// services make (bench's BenchmarkEditShape adds them), by file name: the
// wheel imagebuild-edit-top, which requires (>=1.0) the sdist imagebuild-edit-ext
// (a C extension built with setuptools from the index), which requires the
// wheels imagebuild-edit-a and imagebuild-edit-b.
func EditShape(t testing.TB) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, w := range []struct {
		name     string
		requires []string
	}{
		{"imagebuild-edit-top", []string{"imagebuild-edit-ext>=1.0"}},
		{"imagebuild-edit-a", nil},
		{"imagebuild-edit-b", nil},
	} {
		mod := strings.ReplaceAll(w.name, "-", "_")
		name, data := WheelRequiring(t, w.name, "1.0", w.requires, map[string][]byte{mod + "/__init__.py": []byte("VALUE = 1\n")})
		files[name] = data
	}
	name, data := Sdist(t, t.TempDir(), "imagebuild-edit-ext", "1.0", map[string]string{
		"pyproject.toml": "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n",
		"setup.py": `from setuptools import Extension, setup

setup(
    name="imagebuild-edit-ext",
    version="1.0",
    install_requires=["imagebuild-edit-a>=1.0", "imagebuild-edit-b"],
    ext_modules=[Extension("imagebuild_edit_ext", sources=["ext.c"])],
)
`,
		"ext.c": `#include <Python.h>

static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }

static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "imagebuild_edit_ext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_imagebuild_edit_ext(void) { return PyModule_Create(&module); }
`,
	})
	files[name] = data
	return files
}
