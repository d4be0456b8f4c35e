/* Shared by the sources of ibkrws._speedups (see module.c). */
#ifndef IBKRWS_SPEEDUPS_H
#define IBKRWS_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* Interned strings and constants, made once by the module's init. */
typedef struct {
    PyObject *conid, *updated, *topic, *fold_attr, *duplicates_attr, *one, *error, *last_message_at, *block,
        *timeout, *zero;
} IbkrwsStrings;
extern IbkrwsStrings S;

extern PyTypeObject ibkrws_RowType, ibkrws_SinkType, ibkrws_FramePathType, ibkrws_ReaderType;

/* unwrap.c */
PyObject *ibkrws_unwrap_into(PyObject *names, PyObject *message, PyObject *conid);
PyObject *ibkrws_unwrap_row(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* rows.c */
PyObject *ibkrws_merge_row(PyObject *row, int is_new, PyObject *named, Py_ssize_t max_shapes);
PyObject *ibkrws_merge(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
