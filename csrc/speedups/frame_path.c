/* FramePath
 * The receive path's common case in one call; engine/fast_path.py `frame_path_py` is its twin. */
#include "speedups.h"

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *fast, *loads, *handled;
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
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2) {
        Py_DECREF(message);
        PyErr_SetString(PyExc_TypeError, "a fast-path entry must be (subscription, handler)");
        return NULL;
    }
    Py_INCREF(entry);  /* the handler may change the table */
    PyObject *result = NULL;
    if (PyObject_SetAttr(PyTuple_GET_ITEM(entry, 0), S.last_message_at, args[1]) == 0) {
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

PyTypeObject ibkrws_FramePathType = {
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
