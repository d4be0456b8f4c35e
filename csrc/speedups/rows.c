/* MarketRow and merge in C: one conid's merged fields and the per-key-set stamps. */
#include "speedups.h"

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

/* MarketRow: one conid's merged fields (protocol/market_rows.py `MarketRowPy` is the twin; Python methods are added
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
    PyObject *history = Py_NewRef(self->history);  /* a fold (Python code) may swap it meanwhile */
    PyObject *items = PyDict_Items(PyTuple_GET_ITEM(history, 1));
    PyObject *times_copy = items ? PyDict_Copy(PyTuple_GET_ITEM(history, 0)) : NULL;
    Py_DECREF(history);
    if (times_copy == NULL) {
        Py_XDECREF(items);
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
            Py_DECREF(times_copy);
            return NULL;
        }
        Py_DECREF(item);
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

PyTypeObject ibkrws_RowType = {
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
        PyObject *history = Py_NewRef(row->history);  /* held while its key-set dict is used */
        PyObject *shapes = PyTuple_GET_ITEM(history, 1);
        int failed = stamp == NULL || PyDict_SetItem(shapes, row->cur_shape, stamp) < 0;
        Py_ssize_t count = PyDict_GET_SIZE(shapes);
        Py_DECREF(history);
        Py_XDECREF(stamp);
        if (failed) {
            Py_DECREF(shape);
            return -1;
        }
        if (count > max_shapes) {
            PyObject *folded = PyObject_CallMethodNoArgs((PyObject *)row, S.fold_attr);
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
PyObject *
ibkrws_merge_row(PyObject *row_obj, int is_new, PyObject *named, Py_ssize_t max_shapes)
{
    if (!PyObject_TypeCheck(row_obj, &ibkrws_RowType)) {
        PyErr_SetString(PyExc_TypeError, "merge needs rows made by ibkrws._speedups.MarketRow (or a subclass)");
        return NULL;
    }
    RowObject *row = (RowObject *)row_obj;
    PyObject *updated = PyDict_GetItemWithError(named, S.updated);
    if (updated == NULL && PyErr_Occurred()) {
        return NULL;
    }
    if (updated == NULL) {
        updated = Py_None;
    }
    if (!is_new && row->updates < 2) {  /* IBKR repeats the first message of a stream */
        PyObject *had = PyDict_GetItemWithError(row->values, S.updated);
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
PyObject *
ibkrws_merge(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
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
    PyObject *result = ibkrws_merge_row(row, is_new, named, max_shapes);
    Py_DECREF(row);
    return result;
}
