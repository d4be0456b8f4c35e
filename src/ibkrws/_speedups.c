/*
 * Optional C versions of the two per-message loops of the market-data path.
 *
 * Each function does exactly what its pure-Python twin does (market_data.py `unwrap_row_py`,
 * market_rows.py `merge_py`); tests/unit/test_speedups.py holds them equal on generated input. The package works without this module (set IBKRWS_NO_EXTENSIONS=1 to check).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

static PyObject *s_conid, *s_updated, *s_topic;
static PyObject *s_values_attr, *s_updates_attr, *s_history_attr, *s_fold_attr;

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

/* {"conid", "_updated", "topic", <names[k]: v for named k>} of `message` (a new reference). */
static PyObject *
unwrap_into(PyObject *names, PyObject *message, PyObject *conid)
{
    PyObject *result = _PyDict_NewPresized(PyDict_GET_SIZE(message) + 3);  /* no resize while filling */
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
    if (names != memo_names_dict) {
        memo_reset(names);
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    while (PyDict_Next(message, &pos, &key, &value)) {
        PyObject *name = name_of(names, key, i++);
        if (name == NULL) {
            if (PyErr_Occurred()) {
                goto fail;
            }
            continue;
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

/* unwrap_row(names, message, conid) -> dict: market_data.unwrap_row_py in C */
static PyObject *
unwrap_row(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "unwrap_row expects (names, message, conid), got %zd arguments", nargs);
        return NULL;
    }
    if (!PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "unwrap_row expects a dict of names and a dict message");
        return NULL;
    }
    return unwrap_into(args[0], args[1], args[2]);
}

/* True when every (key, value) of `named` is in `values` (`named.items() <= values.items()`). */
static int
items_within(PyObject *named, PyObject *values)
{
    if (PyDict_GET_SIZE(named) > PyDict_GET_SIZE(values)) {
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(named, &pos, &key, &value)) {
        PyObject *have = PyDict_GetItemWithError(values, key);
        if (have == NULL) {
            return PyErr_Occurred() ? -1 : 0;
        }
        Py_INCREF(have);
        Py_INCREF(value);
        int same = PyObject_RichCompareBool(have, value, Py_EQ);
        Py_DECREF(have);
        Py_DECREF(value);
        if (same <= 0) {
            return same;
        }
    }
    return 1;
}

/* values.update(named); shapes[tuple(named)] = (number, updated); -> len(shapes), or -1 on error */
static Py_ssize_t
stamp(PyObject *values, PyObject *shapes, PyObject *named, PyObject *number, PyObject *updated)
{
    if (PyDict_Update(values, named) < 0) {
        return -1;
    }
    Py_ssize_t n = PyDict_GET_SIZE(named), pos = 0, i = 0;
    PyObject *shape = PyTuple_New(n);
    if (shape == NULL) {
        return -1;
    }
    PyObject *key, *value;
    while (i < n && PyDict_Next(named, &pos, &key, &value)) {
        Py_INCREF(key);
        PyTuple_SET_ITEM(shape, i, key);
        i++;
    }
    PyObject *stamp_value = i == n ? PyTuple_Pack(2, number, updated) : NULL;
    if (stamp_value == NULL) {
        if (i != n) {
            PyErr_SetString(PyExc_RuntimeError, "named changed size while it was merged");
        }
        Py_DECREF(shape);
        return -1;
    }
    int failed = PyDict_SetItem(shapes, shape, stamp_value) < 0;
    Py_DECREF(shape);
    Py_DECREF(stamp_value);
    return failed ? -1 : PyDict_GET_SIZE(shapes);
}

/* The body of merge() once `row` is known (a new reference the caller releases). */
static PyObject *
merge_row(PyObject *row, int is_new, PyObject *named, Py_ssize_t max_shapes)
{
    PyObject *updated = PyDict_GetItemWithError(named, s_updated);
    if (updated == NULL && PyErr_Occurred()) {
        return NULL;
    }
    if (updated == NULL) {
        updated = Py_None;
    }
    PyObject *values = NULL, *history = NULL, *number = NULL, *result = NULL;
    PyObject *updates_obj = PyObject_GetAttr(row, s_updates_attr);
    if (updates_obj == NULL) {
        return NULL;
    }
    Py_ssize_t updates = PyLong_AsSsize_t(updates_obj);
    Py_DECREF(updates_obj);
    if (updates == -1 && PyErr_Occurred()) {
        return NULL;
    }
    values = PyObject_GetAttr(row, s_values_attr);
    if (values == NULL) {
        goto done;
    }
    if (!PyDict_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "row.values must be a dict");
        goto done;
    }
    if (!is_new && updates < 2) {  /* IBKR repeats the first message of a stream */
        PyObject *had = PyDict_GetItemWithError(values, s_updated);
        if (had == NULL && PyErr_Occurred()) {
            goto done;
        }
        int same = PyObject_RichCompareBool(had ? had : Py_None, updated, Py_EQ);
        if (same < 0) {
            goto done;
        }
        if (same) {
            same = items_within(named, values);
            if (same < 0) {
                goto done;
            }
            if (same) {
                result = Py_NewRef(Py_False);
                goto done;
            }
        }
    }
    number = PyLong_FromSsize_t(updates + 1);
    if (number == NULL || PyObject_SetAttr(row, s_updates_attr, number) < 0) {
        goto done;
    }
    history = PyObject_GetAttr(row, s_history_attr);
    if (history == NULL) {
        goto done;
    }
    if (!PyTuple_CheckExact(history) || PyTuple_GET_SIZE(history) != 2 || !PyDict_CheckExact(PyTuple_GET_ITEM(history, 1))) {
        PyErr_SetString(PyExc_TypeError, "row.history must be a (times, shapes) tuple of dicts");
        goto done;
    }
    Py_ssize_t count = stamp(values, PyTuple_GET_ITEM(history, 1), named, number, updated);
    if (count < 0) {
        goto done;
    }
    if (count > max_shapes) {
        PyObject *folded = PyObject_CallMethodNoArgs(row, s_fold_attr);
        if (folded == NULL) {
            goto done;
        }
        Py_DECREF(folded);
    }
    result = Py_NewRef(Py_True);
done:
    Py_XDECREF(values);
    Py_XDECREF(history);
    Py_XDECREF(number);
    return result;
}

/* merge(rows, conid, named, make_row, max_shapes) -> bool: market_rows.merge_py in C */
static PyObject *
merge(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "merge expects (rows, conid, named, make_row, max_shapes), got %zd arguments",
                     nargs);
        return NULL;
    }
    PyObject *rows = args[0], *conid = args[1], *named = args[2], *make_row = args[3];
    if (!PyDict_CheckExact(rows) || !PyDict_CheckExact(named)) {
        PyErr_SetString(PyExc_TypeError, "merge expects dicts for rows and named");
        return NULL;
    }
    Py_ssize_t max_shapes = PyLong_AsSsize_t(args[4]);
    if (max_shapes == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *row = PyDict_GetItemWithError(rows, conid);
    int is_new = row == NULL;
    if (is_new) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        row = PyObject_CallNoArgs(make_row);
        if (row == NULL) {
            return NULL;
        }
        if (PyDict_SetItem(rows, conid, row) < 0) {
            Py_DECREF(row);
            return NULL;
        }
    }
    else {
        Py_INCREF(row);
    }
    PyObject *result = merge_row(row, is_new, named, max_shapes);
    Py_DECREF(row);
    return result;
}

/* ------------------------------------------------------------------ MarketDataSink
 * The whole per-message market-data delivery in one C call; delivery.py `MarketDataSinkPy` is
 * its pure-Python twin (tests/unit/test_speedups.py feeds both the same messages). */

typedef struct {
    PyObject_HEAD
    PyObject *names, *market, *rows, *make_row, *fanouts, *key, *on_full;
    Py_ssize_t max_shapes, count, skipped;
    int unwrap;
} SinkObject;

static PyObject *s_duplicates_attr, *s_one;

static int
sink_traverse(SinkObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->names);
    Py_VISIT(self->market);
    Py_VISIT(self->rows);
    Py_VISIT(self->make_row);
    Py_VISIT(self->fanouts);
    Py_VISIT(self->key);
    Py_VISIT(self->on_full);
    return 0;
}

static int
sink_clear(SinkObject *self)
{
    Py_CLEAR(self->names);
    Py_CLEAR(self->market);
    Py_CLEAR(self->rows);
    Py_CLEAR(self->make_row);
    Py_CLEAR(self->fanouts);
    Py_CLEAR(self->key);
    Py_CLEAR(self->on_full);
    return 0;
}

static void
sink_dealloc(SinkObject *self)
{
    PyObject_GC_UnTrack(self);
    sink_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
sink_init(SinkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"names", "market", "make_row", "max_shapes", "fanouts", "key", "unwrap", "on_full", NULL};
    PyObject *names, *market, *make_row, *fanouts, *key, *on_full;
    Py_ssize_t max_shapes;
    int unwrap;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOnO!OpO:MarketDataSink", kwlist, &PyDict_Type, &names, &market,
                                     &make_row, &max_shapes, &PyDict_Type, &fanouts, &key, &unwrap, &on_full)) {
        return -1;
    }
    PyObject *rows = PyObject_GetAttrString(market, "rows");
    if (rows == NULL) {
        return -1;
    }
    if (!PyDict_CheckExact(rows)) {
        Py_DECREF(rows);
        PyErr_SetString(PyExc_TypeError, "market.rows must be a dict");
        return -1;
    }
    sink_clear(self);
    self->names = Py_NewRef(names);
    self->market = Py_NewRef(market);
    self->rows = rows;
    self->make_row = Py_NewRef(make_row);
    self->fanouts = Py_NewRef(fanouts);
    self->key = Py_NewRef(key);
    self->on_full = Py_NewRef(on_full);
    self->max_shapes = max_shapes;
    self->unwrap = unwrap;
    return 0;
}

/* Hand `item` to every consumer buffer of the sink's key: (size, append, maxsize, buffer) each. */
static int
fan_out(SinkObject *self, PyObject *item)
{
    PyObject *entries = PyDict_GetItemWithError(self->fanouts, self->key);
    if (entries == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    if (!PyTuple_CheckExact(entries)) {
        PyErr_SetString(PyExc_TypeError, "fan-out entries must be a tuple");
        return -1;
    }
    Py_INCREF(entries);  /* attach/detach may replace it while a callback runs */
    int status = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(entries) && status == 0; i++) {
        PyObject *entry = PyTuple_GET_ITEM(entries, i);
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4) {
            PyErr_SetString(PyExc_TypeError, "a fan-out entry must be (size, append, maxsize, buffer)");
            status = -1;
            break;
        }
        PyObject *size_obj = PyObject_CallNoArgs(PyTuple_GET_ITEM(entry, 0));
        if (size_obj == NULL) {
            status = -1;
            break;
        }
        int room = PyObject_RichCompareBool(size_obj, PyTuple_GET_ITEM(entry, 2), Py_LT);
        Py_DECREF(size_obj);
        PyObject *done = NULL;
        if (room > 0) {
            done = PyObject_CallOneArg(PyTuple_GET_ITEM(entry, 1), item);
        }
        else if (room == 0) {
            PyObject *call_args[3] = {self->key, PyTuple_GET_ITEM(entry, 3), item};
            done = PyObject_Vectorcall(self->on_full, call_args, 3, NULL);
        }
        if (done == NULL) {
            status = -1;
        }
        Py_XDECREF(done);
    }
    Py_DECREF(entries);
    return status;
}

static PyObject *
sink_call(SinkObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *message;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "MarketDataSink takes one positional argument, the message");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "MarketDataSink", 1, 1, &message)) {
        return NULL;
    }
    if (!PyDict_CheckExact(message)) {
        PyErr_SetString(PyExc_TypeError, "MarketDataSink expects a dict message");
        return NULL;
    }
    self->count++;
    PyObject *conid = PyDict_GetItemWithError(message, s_conid);
    if (conid == NULL || conid == Py_None) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        self->skipped++;  /* IBKR sometimes sends an empty update: nothing to deliver */
        Py_RETURN_NONE;
    }
    Py_INCREF(conid);
    PyObject *item = NULL, *result = NULL;
    PyObject *named = unwrap_into(self->names, message, conid);
    if (named == NULL) {
        goto done;
    }
    PyObject *row = PyDict_GetItemWithError(self->rows, conid);
    int is_new = row == NULL;
    if (is_new) {
        if (PyErr_Occurred()) {
            goto done;
        }
        row = PyObject_CallNoArgs(self->make_row);
        if (row == NULL || PyDict_SetItem(self->rows, conid, row) < 0) {
            Py_XDECREF(row);
            goto done;
        }
    }
    else {
        Py_INCREF(row);
    }
    PyObject *merged = merge_row(row, is_new, named, self->max_shapes);
    Py_DECREF(row);
    if (merged == NULL) {
        goto done;
    }
    if (merged == Py_False) {  /* a repeated first message: counted, still delivered as IBind does */
        PyObject *before = PyObject_GetAttr(self->market, s_duplicates_attr);
        PyObject *after = before ? PyNumber_Add(before, s_one) : NULL;
        int failed = after == NULL || PyObject_SetAttr(self->market, s_duplicates_attr, after) < 0;
        Py_XDECREF(before);
        Py_XDECREF(after);
        if (failed) {
            Py_DECREF(merged);
            goto done;
        }
    }
    Py_DECREF(merged);
    item = PyDict_New();
    if (item == NULL || PyDict_SetItem(item, conid, self->unwrap ? named : message) < 0) {
        goto done;
    }
    if (fan_out(self, item) == 0) {
        result = Py_NewRef(Py_None);
    }
done:
    Py_DECREF(conid);
    Py_XDECREF(named);
    Py_XDECREF(item);
    return result;
}

static PyMemberDef sink_members[] = {
    {"count", T_PYSSIZET, offsetof(SinkObject, count), 0, "market-data messages received"},
    {"skipped", T_PYSSIZET, offsetof(SinkObject, skipped), 0, "messages without a conid (nothing delivered)"},
    {NULL},
};

static PyTypeObject SinkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ibkrws._speedups.MarketDataSink",
    .tp_doc = "MarketDataSink(names, market, make_row, max_shapes, fanouts, key, unwrap, on_full): "
              "call with each smd message to unwrap, merge and fan it out (delivery.MarketDataSinkPy in C).",
    .tp_basicsize = sizeof(SinkObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)sink_init,
    .tp_dealloc = (destructor)sink_dealloc,
    .tp_traverse = (traverseproc)sink_traverse,
    .tp_clear = (inquiry)sink_clear,
    .tp_call = (ternaryfunc)sink_call,
    .tp_members = sink_members,
};

static PyMethodDef methods[] = {
    {"unwrap_row", (PyCFunction)(void (*)(void))unwrap_row, METH_FASTCALL,
     "unwrap_row(names, message, conid) -> dict: the named fields of one smd message."},
    {"merge", (PyCFunction)(void (*)(void))merge, METH_FASTCALL,
     "merge(rows, conid, named, make_row, max_shapes) -> bool: market_rows.merge_py in C."},
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
    s_values_attr = PyUnicode_InternFromString("values");
    s_updates_attr = PyUnicode_InternFromString("updates");
    s_history_attr = PyUnicode_InternFromString("history");
    s_fold_attr = PyUnicode_InternFromString("fold");
    if (s_conid == NULL || s_updated == NULL || s_topic == NULL || s_values_attr == NULL || s_updates_attr == NULL
        || s_history_attr == NULL || s_fold_attr == NULL) {
        return NULL;
    }
    s_duplicates_attr = PyUnicode_InternFromString("duplicates");
    s_one = PyLong_FromLong(1);
    if (s_duplicates_attr == NULL || s_one == NULL || PyType_Ready(&SinkType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "MarketDataSink", (PyObject *)&SinkType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
