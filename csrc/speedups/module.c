/*
 * ibkrws._speedups: optional C versions of the per-message steps of the market-data path.
 *
 * Each piece does exactly what its pure-Python twin does; tests/unit/test_speedups.py runs both on
 * the same inputs. The package works without this module (IBKRWS_NO_EXTENSIONS=1 to check):
 *   flat_json.c     decode_flat         orjson.loads, for flat ASCII objects (FramePath's decoder)
 *   unwrap.c        unwrap_row          protocol/market_data.py  unwrap_row_py
 *   rows.c          MarketRow, merge    protocol/market_rows.py  MarketRowPy, merge_py
 *   sink.c          MarketDataSink      client/market_sink.py    MarketDataSinkPy
 *   frame_path.c    FramePath           engine/fast_path.py      frame_path_py
 *   queue_reader.c  QueueReader         queues/controller.py     QueueAccessor.get
 * Everything runs with the GIL held.
 */
#include "speedups.h"

IbkrwsStrings S;

static PyMethodDef methods[] = {
    {"unwrap_row", (PyCFunction)(void (*)(void))ibkrws_unwrap_row, METH_FASTCALL,
     "unwrap_row(names, message, conid) -> dict: the named fields of one smd message."},
    {"decode_flat", (PyCFunction)ibkrws_decode_flat, METH_O,
     "decode_flat(payload: bytes) -> dict | None: a flat JSON object as orjson.loads decodes it, None when declined."},
    {"merge", (PyCFunction)(void (*)(void))ibkrws_merge, METH_FASTCALL,
     "merge(rows, conid, named, make_row, max_shapes) -> bool: market_rows.merge_py in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_speedups", "C versions of the per-message steps of the market-data path (optional).", -1,
    methods,
};

static PyObject *
intern(const char *text)
{
    return PyUnicode_InternFromString(text);
}

PyMODINIT_FUNC
PyInit__speedups(void)
{
    S.conid = intern("conid");
    S.updated = intern("_updated");
    S.topic = intern("topic");
    S.fold_attr = intern("fold");
    S.duplicates_attr = intern("duplicates");
    S.error = intern("error");
    S.last_message_at = intern("last_message_at");
    S.block = intern("block");
    S.timeout = intern("timeout");
    S.one = PyLong_FromLong(1);
    S.zero = PyLong_FromLong(0);
    if (S.conid == NULL || S.updated == NULL || S.topic == NULL || S.fold_attr == NULL || S.duplicates_attr == NULL
        || S.error == NULL || S.last_message_at == NULL || S.block == NULL || S.timeout == NULL || S.one == NULL
        || S.zero == NULL) {
        return NULL;
    }
    if (PyType_Ready(&ibkrws_RowType) < 0 || PyType_Ready(&ibkrws_SinkType) < 0
        || PyType_Ready(&ibkrws_FramePathType) < 0 || PyType_Ready(&ibkrws_ReaderType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "MarketRow", (PyObject *)&ibkrws_RowType) < 0
        || PyModule_AddObjectRef(module, "MarketDataSink", (PyObject *)&ibkrws_SinkType) < 0
        || PyModule_AddObjectRef(module, "FramePath", (PyObject *)&ibkrws_FramePathType) < 0
        || PyModule_AddObjectRef(module, "QueueReader", (PyObject *)&ibkrws_ReaderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
