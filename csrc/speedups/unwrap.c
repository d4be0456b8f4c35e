/* unwrap_row in C: field ids to IBind names, with a per-position memo of names. */
#include "speedups.h"

/* What the key at each position of the previous message was named. orjson hands out the same key
 * objects for the same key text, so consecutive messages of one shape skip every lookup in
 * `names`. The memo holds references to its keys and names, so a remembered address can never be
 * reused by another object while it is remembered; it is only valid for the `names` it was
 * filled from. All of it runs with the GIL held. */
#define MEMO_SIZE 64
static PyObject *memo_names_dict;
static PyObject *memo_key[MEMO_SIZE];
static PyObject *memo_name[MEMO_SIZE];  /* NULL: the key has no name */

static void
memo_reset(PyObject *names)
{
    for (int i = 0; i < MEMO_SIZE; i++) {
        Py_CLEAR(memo_key[i]);
        Py_CLEAR(memo_name[i]);
    }
    Py_INCREF(names);
    Py_XSETREF(memo_names_dict, names);
}

/* The name of `key` at position `i` (borrowed, NULL for none; NULL with an error set on failure). */
static PyObject *
name_of(PyObject *names, PyObject *key, Py_ssize_t i)
{
    if (i < MEMO_SIZE && memo_key[i] == key) {
        return memo_name[i];
    }
    PyObject *name = PyDict_GetItemWithError(names, key);
    if (name == NULL && PyErr_Occurred()) {
        return NULL;
    }
    if (name == Py_None) {
        name = NULL;  /* dict.get(...) is None: the Python loop skips it too */
    }
    if (i < MEMO_SIZE) {
        Py_INCREF(key);
        Py_XSETREF(memo_key[i], key);
        Py_XINCREF(name);
        Py_XSETREF(memo_name[i], name);
    }
    return name;
}

/* A new dict {"conid", "_updated", "topic"} with room for `size` entries, the memo set for `names`. */
static PyObject *
named_start(PyObject *names, Py_ssize_t size, PyObject *conid, PyObject *updated, PyObject *topic)
{
    PyObject *result = _PyDict_NewPresized(size);  /* no resize while filling */
    if (result == NULL) {
        return NULL;
    }
    if (PyDict_SetItem(result, S.conid, conid) < 0 || PyDict_SetItem(result, S.updated, updated ? updated : Py_None) < 0
        || PyDict_SetItem(result, S.topic, topic ? topic : Py_None) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    if (names != memo_names_dict) {
        memo_reset(names);
    }
    return result;
}

/* result[names[key]] = value when `key` (at position i) has a name; -1 on failure. */
static inline int
add_named(PyObject *result, PyObject *names, PyObject *key, PyObject *value, Py_ssize_t i)
{
    PyObject *name = name_of(names, key, i);
    if (name == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return PyDict_SetItem(result, name, value);
}

/* {"conid", "_updated", "topic", <names[k]: v for named k>} of `message` (a new reference). */
PyObject *
ibkrws_unwrap_into(PyObject *names, PyObject *message, PyObject *conid)
{
    PyObject *updated = PyDict_GetItemWithError(message, S.updated);
    if (updated == NULL && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *topic = PyDict_GetItemWithError(message, S.topic);
    if (topic == NULL && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *result = named_start(names, PyDict_GET_SIZE(message) + 3, conid, updated, topic);
    if (result == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    while (PyDict_Next(message, &pos, &key, &value)) {
        if (add_named(result, names, key, value, i++) < 0) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

/* The same from a decoded frame's pairs, whose keys are distinct (flat_json.c). */
PyObject *
ibkrws_unwrap_pairs(PyObject *names, const FlatPair *pairs, int n, PyObject *conid, PyObject *updated,
                    PyObject *topic)
{
    PyObject *result = named_start(names, n + 3, conid, updated, topic);
    if (result == NULL) {
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (add_named(result, names, pairs[i].key, pairs[i].value, i) < 0) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

/* unwrap_row(names, message, conid) -> dict: market_data.unwrap_row_py in C */
PyObject *
ibkrws_unwrap_row(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "unwrap_row expects (names, message, conid), got %zd arguments", nargs);
        return NULL;
    }
    if (!PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "unwrap_row expects a dict of names and a dict message");
        return NULL;
    }
    return ibkrws_unwrap_into(args[0], args[1], args[2]);
}
