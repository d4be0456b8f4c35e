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
static PyObject *s_fold_attr;

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

/* ------------------------------------------------------------------ MarketRow
 * One conid's merged fields (market_rows.py `MarketRowPy` is the twin; Python methods are added
 * by a subclass there). The latest message's key set and stamp wait in `cur_*` and go into the
 * key-set dict only when a message with another key set arrives, so a stream of one shape costs
 * no tuple, hash or dict store per message. */

typedef struct {
    PyObject_HEAD
    PyObject *values;       /* dict: field -> latest value */
    PyObject *history;      /* (times, shapes): folded per-field times, key set -> (number, updated) */
    PyObject *cur_shape;    /* tuple of the latest message's keys, or NULL */
    PyObject *cur_updated;  /* its `_updated` */
    Py_ssize_t cur_number, updates;
} RowObject;

static PyTypeObject RowType;

static int
row_traverse(RowObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->values);
    Py_VISIT(self->history);
    Py_VISIT(self->cur_shape);
    Py_VISIT(self->cur_updated);
    return 0;
}

static int
row_clear(RowObject *self)
{
    Py_CLEAR(self->values);
    Py_CLEAR(self->history);
    Py_CLEAR(self->cur_shape);
    Py_CLEAR(self->cur_updated);
    return 0;
}

static void
row_dealloc(RowObject *self)
{
    PyObject_GC_UnTrack(self);
    row_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
row_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    RowObject *self = (RowObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    PyObject *times = PyDict_New(), *shapes = PyDict_New();
    self->values = PyDict_New();
    self->history = (times && shapes) ? PyTuple_Pack(2, times, shapes) : NULL;
    Py_XDECREF(times);
    Py_XDECREF(shapes);
    if (self->values == NULL || self->history == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
check_history(PyObject *history)
{
    if (!PyTuple_CheckExact(history) || PyTuple_GET_SIZE(history) != 2 || !PyDict_CheckExact(PyTuple_GET_ITEM(history, 0))
        || !PyDict_CheckExact(PyTuple_GET_ITEM(history, 1))) {
        PyErr_SetString(PyExc_TypeError, "history must be a (times, shapes) tuple of dicts");
        return -1;
    }
    return 0;
}

static int
row_set_history(RowObject *self, PyObject *value, void *closure)
{
    if (value == NULL || check_history(value) < 0) {
        if (value == NULL) {
            PyErr_SetString(PyExc_TypeError, "history cannot be deleted");
        }
        return -1;
    }
    Py_INCREF(value);
    Py_SETREF(self->history, value);
    return 0;
}

static PyObject *
row_get_history(RowObject *self, void *closure)
{
    return Py_NewRef(self->history);
}

/* stamps() -> (times, [(shape, (number, updated)), ...]): a consistent copy of every stamp */
static PyObject *
row_stamps(RowObject *self, PyObject *unused)
{
    PyObject *times = PyTuple_GET_ITEM(self->history, 0), *shapes = PyTuple_GET_ITEM(self->history, 1);
    PyObject *items = PyDict_Items(shapes);
    if (items == NULL) {
        return NULL;
    }
    if (self->cur_shape != NULL) {
        PyObject *number = PyLong_FromSsize_t(self->cur_number);
        PyObject *stamp = number ? PyTuple_Pack(2, number, self->cur_updated) : NULL;
        PyObject *item = stamp ? PyTuple_Pack(2, self->cur_shape, stamp) : NULL;
        Py_XDECREF(number);
        Py_XDECREF(stamp);
        if (item == NULL || PyList_Append(items, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(items);
            return NULL;
        }
        Py_DECREF(item);
    }
    PyObject *times_copy = PyDict_Copy(times);
    if (times_copy == NULL) {
        Py_DECREF(items);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, times_copy, items);
    Py_DECREF(times_copy);
    Py_DECREF(items);
    return result;
}

static PyMemberDef row_members[] = {
    {"values", T_OBJECT_EX, offsetof(RowObject, values), READONLY, "field -> latest value"},
    {"updates", T_PYSSIZET, offsetof(RowObject, updates), READONLY, "messages merged"},
    {NULL},
};

static PyGetSetDef row_getset[] = {
    {"history", (getter)row_get_history, (setter)row_set_history,
     "(times, shapes): folded per-field times, and key set -> (update number, _updated) since", NULL},
    {NULL},
};

static PyMethodDef row_methods[] = {
    {"stamps", (PyCFunction)row_stamps, METH_NOARGS,
     "stamps() -> (times, [(key set, (update number, _updated)), ...]), copied in one step."},
    {NULL},
};

static PyTypeObject RowType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ibkrws._speedups.MarketRow",
    .tp_doc = "One conid's merged market data (market_rows.MarketRowPy in C; subclassed in market_rows.py).",
    .tp_basicsize = sizeof(RowObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .tp_new = row_new,
    .tp_dealloc = (destructor)row_dealloc,
    .tp_traverse = (traverseproc)row_traverse,
    .tp_clear = (inquiry)row_clear,
    .tp_members = row_members,
    .tp_getset = row_getset,
    .tp_methods = row_methods,
};

/* Whether the keys of `named` are, in order, the very objects of `shape`. */
static int
same_keys(PyObject *named, PyObject *shape)
{
    Py_ssize_t n = PyTuple_GET_SIZE(shape);
    if (PyDict_GET_SIZE(named) != n) {
        return 0;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    while (PyDict_Next(named, &pos, &key, &value)) {
        if (i >= n || PyTuple_GET_ITEM(shape, i) != key) {
            return 0;
        }
        i++;
    }
    return i == n;
}

/* tuple(named) */
static PyObject *
keys_of(PyObject *named)
{
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
    if (i != n) {
        Py_DECREF(shape);
        PyErr_SetString(PyExc_RuntimeError, "named changed size while it was merged");
        return NULL;
    }
    return shape;
}

/* Stamp the row with `named`'s key set: the same as the pending one replaces its stamp; another
 * one commits the pending stamp to the key-set dict (folding it when it grows past max_shapes). */
static int
stamp_row(RowObject *row, PyObject *named, Py_ssize_t number, PyObject *updated, Py_ssize_t max_shapes)
{
    if (row->cur_shape != NULL && same_keys(named, row->cur_shape)) {
        row->cur_number = number;
        Py_INCREF(updated);
        Py_SETREF(row->cur_updated, updated);
        return 0;
    }
    PyObject *shape = keys_of(named);
    if (shape == NULL) {
        return -1;
    }
    if (row->cur_shape != NULL) {
        PyObject *number_obj = PyLong_FromSsize_t(row->cur_number);
        PyObject *stamp = number_obj ? PyTuple_Pack(2, number_obj, row->cur_updated) : NULL;
        Py_XDECREF(number_obj);
        PyObject *shapes = PyTuple_GET_ITEM(row->history, 1);
        if (stamp == NULL || PyDict_SetItem(shapes, row->cur_shape, stamp) < 0) {
            Py_XDECREF(stamp);
            Py_DECREF(shape);
            return -1;
        }
        Py_DECREF(stamp);
        if (PyDict_GET_SIZE(shapes) > max_shapes) {
            PyObject *folded = PyObject_CallMethodNoArgs((PyObject *)row, s_fold_attr);
            if (folded == NULL) {
                Py_DECREF(shape);
                return -1;
            }
            Py_DECREF(folded);
        }
    }
    Py_XSETREF(row->cur_shape, shape);
    row->cur_number = number;
    Py_INCREF(updated);
    Py_XSETREF(row->cur_updated, updated);
    return 0;
}

/* The body of merge() once `row` is known: True merged, False a repeated first message. */
static PyObject *
merge_row(PyObject *row_obj, int is_new, PyObject *named, Py_ssize_t max_shapes)
{
    if (!PyObject_TypeCheck(row_obj, &RowType)) {
        PyErr_SetString(PyExc_TypeError, "merge needs rows made by ibkrws._speedups.MarketRow (or a subclass)");
        return NULL;
    }
    RowObject *row = (RowObject *)row_obj;
    PyObject *updated = PyDict_GetItemWithError(named, s_updated);
    if (updated == NULL && PyErr_Occurred()) {
        return NULL;
    }
    if (updated == NULL) {
        updated = Py_None;
    }
    if (!is_new && row->updates < 2) {  /* IBKR repeats the first message of a stream */
        PyObject *had = PyDict_GetItemWithError(row->values, s_updated);
        if (had == NULL && PyErr_Occurred()) {
            return NULL;
        }
        int same = PyObject_RichCompareBool(had ? had : Py_None, updated, Py_EQ);
        if (same > 0) {
            same = items_within(named, row->values);
        }
        if (same < 0) {
            return NULL;
        }
        if (same) {
            Py_RETURN_FALSE;
        }
    }
    Py_ssize_t number = row->updates + 1;
    row->updates = number;
    Py_INCREF(updated);  /* `named` may be changed by a fold's Python code */
    int failed = PyDict_Update(row->values, named) < 0 || stamp_row(row, named, number, updated, max_shapes) < 0;
    Py_DECREF(updated);
    if (failed) {
        return NULL;
    }
    Py_RETURN_TRUE;
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
    vectorcallfunc vectorcall;
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

static PyObject *sink_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames);

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
    self->vectorcall = sink_vectorcall;
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
sink_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    SinkObject *self = (SinkObject *)callable;
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "MarketDataSink takes one positional argument, the message");
        return NULL;
    }
    PyObject *message = args[0];
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
    .tp_vectorcall_offset = offsetof(SinkObject, vectorcall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)sink_init,
    .tp_dealloc = (destructor)sink_dealloc,
    .tp_traverse = (traverseproc)sink_traverse,
    .tp_clear = (inquiry)sink_clear,
    .tp_call = PyVectorcall_Call,
    .tp_members = sink_members,
};

/* ------------------------------------------------------------------ FramePath
 * The receive path's common case in one call; engine/fast_path.py `frame_path_py` is its twin. */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *fast, *loads, *handled;
} FramePathObject;

static PyObject *s_error, *s_last_message_at;

static int
frame_traverse(FramePathObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fast);
    Py_VISIT(self->loads);
    Py_VISIT(self->handled);
    return 0;
}

static int
frame_clear(FramePathObject *self)
{
    Py_CLEAR(self->fast);
    Py_CLEAR(self->loads);
    Py_CLEAR(self->handled);
    return 0;
}

static void
frame_dealloc(FramePathObject *self)
{
    PyObject_GC_UnTrack(self);
    frame_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* frame_path(payload, now): HANDLED when the frame was an active subscription's data and went to
 * its handler; otherwise the decoded message for the slow path. Decoding errors propagate. */
static PyObject *
frame_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    FramePathObject *self = (FramePathObject *)callable;
    if (PyVectorcall_NARGS(nargsf) != 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "FramePath takes two positional arguments, the payload and the time");
        return NULL;
    }
    PyObject *message = PyObject_CallOneArg(self->loads, args[0]);
    if (message == NULL || !PyDict_CheckExact(message)) {
        return message;
    }
    PyObject *topic = PyDict_GetItemWithError(message, s_topic);
    if (topic == NULL || !PyUnicode_CheckExact(topic)) {
        return PyErr_Occurred() ? (Py_DECREF(message), NULL) : message;
    }
    PyObject *entry = PyDict_GetItemWithError(self->fast, topic);
    if (entry == NULL) {
        return PyErr_Occurred() ? (Py_DECREF(message), NULL) : message;
    }
    int has_error = PyDict_Contains(message, s_error);
    if (has_error != 0) {
        return has_error < 0 ? (Py_DECREF(message), NULL) : message;
    }
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2) {
        Py_DECREF(message);
        PyErr_SetString(PyExc_TypeError, "a fast-path entry must be (subscription, handler)");
        return NULL;
    }
    Py_INCREF(entry);  /* the handler may change the table */
    PyObject *result = NULL;
    if (PyObject_SetAttr(PyTuple_GET_ITEM(entry, 0), s_last_message_at, args[1]) == 0) {
        PyObject *done = PyObject_CallOneArg(PyTuple_GET_ITEM(entry, 1), message);
        if (done != NULL) {
            Py_DECREF(done);
            result = Py_NewRef(self->handled);
        }
    }
    Py_DECREF(entry);
    Py_DECREF(message);
    return result;
}

static int
frame_init(FramePathObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fast", "loads", "handled", NULL};
    PyObject *fast, *loads, *handled;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OO:FramePath", kwlist, &PyDict_Type, &fast, &loads, &handled)) {
        return -1;
    }
    frame_clear(self);
    self->vectorcall = frame_vectorcall;
    self->fast = Py_NewRef(fast);
    self->loads = Py_NewRef(loads);
    self->handled = Py_NewRef(handled);
    return 0;
}

static PyTypeObject FramePathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ibkrws._speedups.FramePath",
    .tp_doc = "FramePath(fast, loads, handled): call with (payload, now); `handled` when an active "
              "subscription's handler took it, else the decoded message (engine.fast_path.frame_path_py in C).",
    .tp_basicsize = sizeof(FramePathObject),
    .tp_vectorcall_offset = offsetof(FramePathObject, vectorcall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)frame_init,
    .tp_dealloc = (destructor)frame_dealloc,
    .tp_traverse = (traverseproc)frame_traverse,
    .tp_clear = (inquiry)frame_clear,
    .tp_call = PyVectorcall_Call,
};

/* ------------------------------------------------------------------ QueueReader
 * QueueAccessor.get in C: the consumer side of every message; queues/controller.py
 * `QueueAccessor.get` is its twin and documents the contract. */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *take, *put_back, *closed, *empty;
} ReaderObject;

static PyObject *s_block, *s_timeout, *s_zero;

static int
reader_traverse(ReaderObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->take);
    Py_VISIT(self->put_back);
    Py_VISIT(self->closed);
    Py_VISIT(self->empty);
    return 0;
}

static int
reader_clear(ReaderObject *self)
{
    Py_CLEAR(self->take);
    Py_CLEAR(self->put_back);
    Py_CLEAR(self->closed);
    Py_CLEAR(self->empty);
    return 0;
}

static void
reader_dealloc(ReaderObject *self)
{
    PyObject_GC_UnTrack(self);
    reader_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* get(block=False, timeout=None) */
static PyObject *
reader_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    ReaderObject *self = (ReaderObject *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *block = Py_False, *timeout = Py_None;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "QueueAccessor.get() takes at most 2 arguments (block, timeout), got %zd", nargs);
        return NULL;
    }
    if (nargs > 0) {
        block = args[0];
    }
    if (nargs > 1) {
        timeout = args[1];
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        int is_block = name == s_block || PyUnicode_Compare(name, s_block) == 0;
        int is_timeout = !is_block && (name == s_timeout || PyUnicode_Compare(name, s_timeout) == 0);
        if ((is_block && nargs > 0) || (is_timeout && nargs > 1)) {
            PyErr_Format(PyExc_TypeError, "QueueAccessor.get() got multiple values for argument '%U'", name);
            return NULL;
        }
        if (is_block) {
            block = args[nargs + i];
        }
        else if (is_timeout) {
            timeout = args[nargs + i];
        }
        else {
            PyErr_Format(PyExc_TypeError, "QueueAccessor.get() got an unexpected keyword argument '%U'; accepted: block, timeout",
                         name);
            return NULL;
        }
    }
    if (timeout != Py_None) {
        int negative = PyObject_RichCompareBool(timeout, s_zero, Py_LT);
        if (negative < 0) {
            return NULL;
        }
        if (negative) {
            PyObject *shown = PyObject_Repr(timeout);
            if (shown != NULL) {
                PyErr_Format(PyExc_ValueError, "timeout must be None or a non-negative number of seconds, got %U",
                             shown);
                Py_DECREF(shown);
            }
            return NULL;
        }
    }
    PyObject *take_args[2] = {block, timeout};
    PyObject *item = PyObject_Vectorcall(self->take, take_args, 2, NULL);
    if (item == NULL) {
        if (PyErr_ExceptionMatches(self->empty)) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        return NULL;
    }
    if (item == self->closed) {  /* keep waking later readers */
        PyObject *done = PyObject_CallOneArg(self->put_back, item);
        Py_DECREF(item);
        if (done == NULL) {
            return NULL;
        }
        Py_DECREF(done);
        Py_RETURN_NONE;
    }
    return item;
}

static int
reader_init(ReaderObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"take", "put_back", "closed", "empty", NULL};
    PyObject *take, *put_back, *closed, *empty;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO:QueueReader", kwlist, &take, &put_back, &closed, &empty)) {
        return -1;
    }
    reader_clear(self);
    self->vectorcall = reader_vectorcall;
    self->take = Py_NewRef(take);
    self->put_back = Py_NewRef(put_back);
    self->closed = Py_NewRef(closed);
    self->empty = Py_NewRef(empty);
    return 0;
}

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ibkrws._speedups.QueueReader",
    .tp_doc = "QueueReader(take, put_back, closed, empty): QueueAccessor.get(block=False, timeout=None) in C.",
    .tp_basicsize = sizeof(ReaderObject),
    .tp_vectorcall_offset = offsetof(ReaderObject, vectorcall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)reader_init,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_traverse = (traverseproc)reader_traverse,
    .tp_clear = (inquiry)reader_clear,
    .tp_call = PyVectorcall_Call,
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
    s_fold_attr = PyUnicode_InternFromString("fold");
    if (s_conid == NULL || s_updated == NULL || s_topic == NULL || s_fold_attr == NULL) {
        return NULL;
    }
    s_duplicates_attr = PyUnicode_InternFromString("duplicates");
    s_one = PyLong_FromLong(1);
    s_error = PyUnicode_InternFromString("error");
    s_last_message_at = PyUnicode_InternFromString("last_message_at");
    s_block = PyUnicode_InternFromString("block");
    s_timeout = PyUnicode_InternFromString("timeout");
    s_zero = PyLong_FromLong(0);
    if (s_block == NULL || s_timeout == NULL || s_zero == NULL || PyType_Ready(&ReaderType) < 0) {
        return NULL;
    }
    if (s_duplicates_attr == NULL || s_one == NULL || s_error == NULL || s_last_message_at == NULL
        || PyType_Ready(&SinkType) < 0 || PyType_Ready(&FramePathType) < 0 || PyType_Ready(&RowType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "MarketDataSink", (PyObject *)&SinkType) < 0
        || PyModule_AddObjectRef(module, "FramePath", (PyObject *)&FramePathType) < 0
        || PyModule_AddObjectRef(module, "QueueReader", (PyObject *)&ReaderType) < 0
        || PyModule_AddObjectRef(module, "MarketRow", (PyObject *)&RowType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
