/*
 * Optional C versions of the two per-message loops of the market-data path.
 *
 * Each function does exactly what its pure-Python twin does (market_data.py `unwrap_row_py`,
 * market_rows.py `MarketRows.merge`'s stamping); tests/unit/test_speedups.py holds them equal on
 * generated input. The package works without this module (set IBKRWS_NO_EXTENSIONS=1 to check).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *s_conid, *s_updated, *s_topic;

/* unwrap_row(names, message, conid) -> {"conid", "_updated", "topic", <names[k]: v for named k>} */
static PyObject *
unwrap_row(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "unwrap_row expects (names, message, conid), got %zd arguments", nargs);
        return NULL;
    }
    PyObject *names = args[0], *message = args[1], *conid = args[2];
    if (!PyDict_CheckExact(message) || !PyDict_CheckExact(names)) {
        PyErr_SetString(PyExc_TypeError, "unwrap_row expects a dict message and a dict of names");
        return NULL;
    }
    PyObject *result = PyDict_New();
    if (result == NULL) {
        return NULL;
    }
    PyObject *updated = PyDict_GetItemWithError(message, s_updated);
    if (updated == NULL && PyErr_Occurred()) {
        goto fail;
    }
    PyObject *topic = PyDict_GetItemWithError(message, s_topic);
    if (topic == NULL && PyErr_Occurred()) {
        goto fail;
    }
    if (PyDict_SetItem(result, s_conid, conid) < 0
        || PyDict_SetItem(result, s_updated, updated ? updated : Py_None) < 0
        || PyDict_SetItem(result, s_topic, topic ? topic : Py_None) < 0) {
        goto fail;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(message, &pos, &key, &value)) {
        PyObject *name = PyDict_GetItemWithError(names, key);
        if (name == NULL) {
            if (PyErr_Occurred()) {
                goto fail;
            }
            continue;
        }
        if (name == Py_None) {
            continue;  /* dict.get(...) is None: the Python loop skips it too */
        }
        if (PyDict_SetItem(result, name, value) < 0) {
            goto fail;
        }
    }
    return result;
fail:
    Py_DECREF(result);
    return NULL;
}

/* stamp(values, shapes, named, number, updated) -> len(shapes)
 * values.update(named); shapes[tuple(named)] = (number, updated) */
static PyObject *
stamp(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "stamp expects (values, shapes, named, number, updated), got %zd arguments",
                     nargs);
        return NULL;
    }
    PyObject *values = args[0], *shapes = args[1], *named = args[2];
    if (!PyDict_CheckExact(values) || !PyDict_CheckExact(shapes) || !PyDict_CheckExact(named)) {
        PyErr_SetString(PyExc_TypeError, "stamp expects dicts for values, shapes and named");
        return NULL;
    }
    if (PyDict_Update(values, named) < 0) {
        return NULL;
    }
    Py_ssize_t n = PyDict_GET_SIZE(named), pos = 0, i = 0;
    PyObject *shape = PyTuple_New(n);
    if (shape == NULL) {
        return NULL;
    }
    PyObject *key, *value;
    while (i < n && PyDict_Next(named, &pos, &key, &value)) {
        Py_INCREF(key);
        PyTuple_SET_ITEM(shape, i, key);
        i++;
    }
    if (i != n) {  /* cannot happen for an exact dict nobody else touches meanwhile */
        Py_DECREF(shape);
        PyErr_SetString(PyExc_RuntimeError, "named changed size while it was stamped");
        return NULL;
    }
    PyObject *stamp_value = PyTuple_Pack(2, args[3], args[4]);
    if (stamp_value == NULL) {
        Py_DECREF(shape);
        return NULL;
    }
    int failed = PyDict_SetItem(shapes, shape, stamp_value) < 0;
    Py_DECREF(shape);
    Py_DECREF(stamp_value);
    if (failed) {
        return NULL;
    }
    return PyLong_FromSsize_t(PyDict_GET_SIZE(shapes));
}

static PyMethodDef methods[] = {
    {"unwrap_row", (PyCFunction)(void (*)(void))unwrap_row, METH_FASTCALL,
     "unwrap_row(names, message, conid) -> dict: the named fields of one smd message."},
    {"stamp", (PyCFunction)(void (*)(void))stamp, METH_FASTCALL,
     "stamp(values, shapes, named, number, updated) -> int: merge named into values, stamp its key set."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_speedups", "C versions of the market-data loops (optional).", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    s_conid = PyUnicode_InternFromString("conid");
    s_updated = PyUnicode_InternFromString("_updated");
    s_topic = PyUnicode_InternFromString("topic");
    if (s_conid == NULL || s_updated == NULL || s_topic == NULL) {
        return NULL;
    }
    return PyModule_Create(&module_def);
}
