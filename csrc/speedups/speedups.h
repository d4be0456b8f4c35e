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

/* flat_json.c */
#define FLAT_MAX 64        /* keys per frame the flat decoder takes */
#define FLAT_DECLINED (-1) /* not in the decoder's subset: decode with orjson */
#define FLAT_FAILED (-2)   /* a Python error is set */
enum { FLAT_TOPIC = 1, FLAT_CONID = 2, FLAT_UPDATED = 4, FLAT_ERROR = 8 };
typedef struct {
    PyObject *key, *value;  /* owned */
    int flags;              /* FLAT_* of the key */
} FlatPair;
int ibkrws_flat_parse(const char *text, Py_ssize_t size, FlatPair *pairs);
void ibkrws_flat_release(FlatPair *pairs, int n);
PyObject *ibkrws_flat_dict(const FlatPair *pairs, int n);
PyObject *ibkrws_decode_flat(PyObject *module, PyObject *payload);

/* unwrap.c */
PyObject *ibkrws_unwrap_into(PyObject *names, PyObject *message, PyObject *conid);
PyObject *ibkrws_unwrap_pairs(PyObject *names, const FlatPair *pairs, int n, PyObject *conid, PyObject *updated,
                              PyObject *topic);
PyObject *ibkrws_unwrap_row(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* rows.c */
PyObject *ibkrws_merge_row(PyObject *row, int is_new, PyObject *named, Py_ssize_t max_shapes);
PyObject *ibkrws_merge(PyObject *module, PyObject *const *args, Py_ssize_t nargs);


/* sink.c: deliver a decoded frame's pairs (unique keys) to a MarketDataSink, as calling it with their dict would
 * (any check the sink's call makes must be made there too) */
PyObject *ibkrws_sink_pairs(PyObject *sink, const FlatPair *pairs, int n);

#endif
