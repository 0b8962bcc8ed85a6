/* incident_severity: the incident tracker's severity score, a C extension
 * built from source in the image's builder stage. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* score(impact, urgency) -> int: the ITIL priority matrix, 1 (critical) to
 * 5 (planning), from impact and urgency each 1 (high) to 3 (low). */
static PyObject *score(PyObject *self, PyObject *args) {
    int impact, urgency;
    if (!PyArg_ParseTuple(args, "ii", &impact, &urgency)) {
        return NULL;
    }
    if (impact < 1 || impact > 3 || urgency < 1 || urgency > 3) {
        PyErr_SetString(PyExc_ValueError, "impact and urgency must be 1, 2 or 3");
        return NULL;
    }
    return PyLong_FromLong(impact + urgency - 1);
}

static PyMethodDef methods[] = {
    {"score", score, METH_VARARGS, "Priority 1-5 from impact and urgency (1-3 each)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "incident_severity", "Incident severity scores.", -1, methods,
};

PyMODINIT_FUNC PyInit_incident_severity(void) { return PyModule_Create(&module); }
