/* MarketDataSink
 * The whole per-message market-data delivery in one C call; client/market_sink.py
 * `MarketDataSinkPy` is its pure-Python twin (tests/unit/test_speedups.py feeds both the same messages). */
#include "speedups.h"

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *names, *market, *rows, *make_row, *fanouts, *key, *on_full;
    Py_ssize_t max_shapes, count, skipped;
    int unwrap;
} SinkObject;


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

/* Merge `named` (a new reference, NULL on failure: then only released) into the live state and
 * fan out {conid: named}, or {conid: raw} when the sink does not unwrap. */
static PyObject *
deliver(SinkObject *self, PyObject *conid, PyObject *named, PyObject *raw)
{
    PyObject *item = NULL, *result = NULL;
    if (named == NULL) {
        return NULL;
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
    PyObject *merged = ibkrws_merge_row(row, is_new, named, self->max_shapes);
    Py_DECREF(row);
    if (merged == NULL) {
        goto done;
    }
    if (merged == Py_False) {  /* a repeated first message: counted, still delivered as IBind does */
        PyObject *before = PyObject_GetAttr(self->market, S.duplicates_attr);
        PyObject *after = before ? PyNumber_Add(before, S.one) : NULL;
        int failed = after == NULL || PyObject_SetAttr(self->market, S.duplicates_attr, after) < 0;
        Py_XDECREF(before);
        Py_XDECREF(after);
        if (failed) {
            Py_DECREF(merged);
            goto done;
        }
    }
    Py_DECREF(merged);
    item = PyDict_New();
    if (item == NULL || PyDict_SetItem(item, conid, self->unwrap ? named : raw) < 0) {
        goto done;
    }
    if (fan_out(self, item) == 0) {
        result = Py_NewRef(Py_None);
    }
done:
    Py_DECREF(named);
    Py_XDECREF(item);
    return result;
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
    PyObject *conid = PyDict_GetItemWithError(message, S.conid);
    if (conid == NULL || conid == Py_None) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        self->skipped++;  /* IBKR sometimes sends an empty update: nothing to deliver */
        Py_RETURN_NONE;
    }
    Py_INCREF(conid);  /* `message` is the caller's: held while it is used */
    PyObject *result = deliver(self, conid, ibkrws_unwrap_into(self->names, message, conid), message);
    Py_DECREF(conid);
    return result;
}

PyObject *
ibkrws_sink_pairs(PyObject *sink, const FlatPair *pairs, int n)
{
    SinkObject *self = (SinkObject *)sink;
    if (self->names == NULL) {  /* calling it would fail the same way: it has no vectorcall yet */
        PyErr_SetString(PyExc_TypeError, "MarketDataSink was not initialised (its __init__ did not run)");
        return NULL;
    }
    self->count++;
    PyObject *conid = NULL, *updated = NULL, *topic = NULL;
    for (int i = 0; i < n; i++) {
        switch (pairs[i].flags) {
        case FLAT_CONID:
            conid = pairs[i].value;
            break;
        case FLAT_UPDATED:
            updated = pairs[i].value;
            break;
        case FLAT_TOPIC:
            topic = pairs[i].value;
            break;
        }
    }
    if (conid == NULL || conid == Py_None) {
        self->skipped++;
        Py_RETURN_NONE;
    }
    PyObject *raw = NULL;
    if (!self->unwrap && (raw = ibkrws_flat_dict(pairs, n)) == NULL) {
        return NULL;
    }
    PyObject *result = deliver(self, conid, ibkrws_unwrap_pairs(self->names, pairs, n, conid, updated, topic), raw);
    Py_XDECREF(raw);
    return result;
}

static PyMemberDef sink_members[] = {
    {"count", T_PYSSIZET, offsetof(SinkObject, count), 0, "market-data messages received"},
    {"skipped", T_PYSSIZET, offsetof(SinkObject, skipped), 0, "messages without a conid (nothing delivered)"},
    {NULL},
};

PyTypeObject ibkrws_SinkType = {
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
