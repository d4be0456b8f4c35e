/* FramePath
 * The receive path's common case in one call; engine/fast_path.py `frame_path_py` is its twin. */
#include "speedups.h"

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *fast, *loads, *handled;
    int flat;  /* decode the common frame with flat_json.c (when `loads` is orjson.loads) */
} FramePathObject;


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

/* Stamp the subscription of a fast-table `entry` with `now` and hand it the message: to a
 * MarketDataSink as the frame's pairs, to any other handler as a dict (`message`, or made from the
 * pairs). `handled` on success. */
static PyObject *
hand_off(FramePathObject *self, PyObject *entry, PyObject *now, PyObject *message, const FlatPair *pairs, int n)
{
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2) {
        PyErr_SetString(PyExc_TypeError, "a fast-path entry must be (subscription, handler)");
        return NULL;
    }
    Py_INCREF(entry);  /* the handler may change the table */
    PyObject *result = NULL, *done = NULL, *handler = PyTuple_GET_ITEM(entry, 1);
    if (PyObject_SetAttr(PyTuple_GET_ITEM(entry, 0), S.last_message_at, now) == 0) {
        if (message != NULL) {
            done = PyObject_CallOneArg(handler, message);
        }
        else if (Py_IS_TYPE(handler, &ibkrws_SinkType)) {
            done = ibkrws_sink_pairs(handler, pairs, n);
        }
        else if ((message = ibkrws_flat_dict(pairs, n)) != NULL) {
            done = PyObject_CallOneArg(handler, message);
            Py_DECREF(message);
        }
    }
    if (done != NULL) {
        Py_DECREF(done);
        result = Py_NewRef(self->handled);
    }
    Py_DECREF(entry);
    return result;
}

/* The common frame, decoded by flat_json.c: its subscription's handler gets it when the topic is in
 * the fast table and it is no error; otherwise it comes back as a dict. */
static PyObject *
flat_frame(FramePathObject *self, const FlatPair *pairs, int n, PyObject *now)
{
    PyObject *topic = NULL;
    int has_error = 0;
    for (int i = 0; i < n; i++) {
        if (pairs[i].flags == FLAT_TOPIC) {
            topic = pairs[i].value;
        }
        else if (pairs[i].flags == FLAT_ERROR) {
            has_error = 1;
        }
    }
    if (topic != NULL && PyUnicode_CheckExact(topic) && !has_error) {
        PyObject *entry = PyDict_GetItemWithError(self->fast, topic);
        if (entry != NULL) {
            return hand_off(self, entry, now, NULL, pairs, n);
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    return ibkrws_flat_dict(pairs, n);
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
    PyObject *payload = args[0];
    if (self->flat && PyBytes_CheckExact(payload)) {
        FlatPair pairs[FLAT_MAX];
        int n = ibkrws_flat_parse(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), pairs);
        if (n >= 0) {
            PyObject *result = flat_frame(self, pairs, n, args[1]);
            ibkrws_flat_release(pairs, n);
            return result;
        }
        if (n == FLAT_FAILED) {
            return NULL;
        }
    }
    PyObject *message = PyObject_CallOneArg(self->loads, payload);
    if (message == NULL || !PyDict_CheckExact(message)) {
        return message;
    }
    PyObject *topic = PyDict_GetItemWithError(message, S.topic);
    if (topic == NULL || !PyUnicode_CheckExact(topic)) {
        return PyErr_Occurred() ? (Py_DECREF(message), NULL) : message;
    }
    PyObject *entry = PyDict_GetItemWithError(self->fast, topic);
    if (entry == NULL) {
        return PyErr_Occurred() ? (Py_DECREF(message), NULL) : message;
    }
    int has_error = PyDict_Contains(message, S.error);
    if (has_error != 0) {
        return has_error < 0 ? (Py_DECREF(message), NULL) : message;
    }
    PyObject *result = hand_off(self, entry, args[1], message, NULL, 0);
    Py_DECREF(message);
    return result;
}

static int
frame_init(FramePathObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fast", "loads", "handled", "flat", NULL};
    PyObject *fast, *loads, *handled;
    int flat = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OO|$p:FramePath", kwlist, &PyDict_Type, &fast, &loads, &handled,
                                     &flat)) {
        return -1;
    }
    frame_clear(self);
    self->vectorcall = frame_vectorcall;
    self->fast = Py_NewRef(fast);
    self->loads = Py_NewRef(loads);
    self->handled = Py_NewRef(handled);
    self->flat = flat;
    return 0;
}

PyTypeObject ibkrws_FramePathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ibkrws._speedups.FramePath",
    .tp_doc = "FramePath(fast, loads, handled, *, flat=False): call with (payload, now); `handled` when an "
              "active subscription's handler took it, else the decoded message (engine.fast_path.frame_path_py in "
              "C). `flat`: decode flat ASCII JSON objects in C (results equal to orjson.loads), others with `loads`.",
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
