/* QueueReader
 * QueueAccessor.get in C: the consumer side of every message; queues/controller.py
 * `QueueAccessor.get` is its twin and documents the contract. */
#include "speedups.h"

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *take, *put_back, *closed, *empty;
} ReaderObject;


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
        int is_block = name == S.block || PyUnicode_Compare(name, S.block) == 0;
        int is_timeout = !is_block && (name == S.timeout || PyUnicode_Compare(name, S.timeout) == 0);
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
        int negative = PyObject_RichCompareBool(timeout, S.zero, Py_LT);
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

PyTypeObject ibkrws_ReaderType = {
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
