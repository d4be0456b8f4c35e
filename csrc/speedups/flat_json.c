/* A decoder for the frames that make up the stream: one flat JSON object whose strings are plain
 * ASCII. It gives what orjson.loads gives (tests/unit/test_flat_json.py compares the two on
 * generated documents) as a list of (key, value) pairs, so that a market-data message can be
 * unwrapped without first building the whole message as a dict. Anything outside that subset
 * (nesting, escapes, non-ASCII, duplicate keys, long numbers, more than FLAT_MAX keys, invalid
 * JSON) is declined, and the caller decodes the frame with orjson as before.
 *
 * Keys are remembered per position: a frame with the same keys as the previous one reuses their
 * (interned) objects, and so does a string value equal to the previous value at its position. */
#include "speedups.h"

#include <string.h>

#define VALUE_MEMO_MAX 32  /* longest string value remembered */

static struct {
    PyObject *key;    /* interned str */
    int flags;        /* FLAT_* of the key */
    PyObject *value;  /* the previous string value at this position, or NULL */
} memo[FLAT_MAX];
static int memo_valid;  /* memo[0 .. memo_valid-1] are one frame's keys, all distinct */

static inline const char *
skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
    }
    return p;
}

/* The end of the plain string that starts after the opening quote at `p` (pointing at the closing
 * quote), or NULL when it has an escape, a control character or a non-ASCII byte, or no end. */
static inline const char *
plain_string_end(const char *p, const char *end)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            return p;
        }
        if (c == '\\' || c < 0x20 || c >= 0x80) {
            return NULL;
        }
    }
    return NULL;
}

static inline int
same_text(PyObject *str, const char *p, Py_ssize_t len)
{
    return PyUnicode_GET_LENGTH(str) == len && memcmp(PyUnicode_1BYTE_DATA(str), p, (size_t)len) == 0;
}

static PyObject *
ascii_str(const char *p, Py_ssize_t len)
{
    PyObject *s = PyUnicode_New(len, 127);
    if (s != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)len);
    }
    return s;
}

static int
flags_of(PyObject *key)
{
    if (key == S.topic) {
        return FLAT_TOPIC;
    }
    if (key == S.conid) {
        return FLAT_CONID;
    }
    if (key == S.updated) {
        return FLAT_UPDATED;
    }
    return key == S.error ? FLAT_ERROR : 0;
}

/* A JSON number at `*pp`: a new int (up to 18 digits) or float (up to 15 digits, exponent up to 22),
 * NULL with no error set when it is outside that subset or not a JSON number. */
static PyObject *
number(const char **pp, const char *end)
{
    const char *start = *pp, *p = start;
    int negative = p < end && *p == '-';
    p += negative;
    if (p >= end || *p < '0' || *p > '9') {
        return NULL;
    }
    long long whole = 0;
    int digits = 0;
    if (*p == '0') {
        p++;  /* digits after a leading zero are not JSON: the caller finds no ',' or '}' after it */
        digits = 1;
    }
    else {
        while (p < end && *p >= '0' && *p <= '9') {
            if (++digits > 18) {
                return NULL;
            }
            whole = whole * 10 + (*p++ - '0');
        }
    }
    int is_float = 0;
    if (p < end && *p == '.') {
        is_float = 1;
        p++;
        const char *frac = p;
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
        if (p == frac) {
            return NULL;
        }
        digits += (int)(p - frac);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_float = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        const char *exp = p;
        int exponent = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            exponent = exponent * 10 + (*p++ - '0');
            if (p - exp > 2) {
                return NULL;
            }
        }
        if (p == exp || exponent > 22) {
            return NULL;
        }
    }
    *pp = p;
    if (!is_float) {
        return PyLong_FromLongLong(negative ? -whole : whole);
    }
    if (digits > 15) {
        return NULL;
    }
    char text[64];
    size_t len = (size_t)(p - start);
    if (len >= sizeof(text)) {
        return NULL;
    }
    memcpy(text, start, len);
    text[len] = '\0';
    double value = PyOS_string_to_double(text, NULL, NULL);
    if (value == -1.0 && PyErr_Occurred()) {
        return NULL;  /* the caller sees the error */
    }
    return PyFloat_FromDouble(value);
}

/* The value at `*pp` (a new reference), NULL when declined (an error set only for a Python failure). */
static PyObject *
value_at(const char **pp, const char *end, int position)
{
    const char *p = *pp;
    if (p >= end) {
        return NULL;
    }
    switch (*p) {
    case '"': {
        const char *close = plain_string_end(p + 1, end);
        if (close == NULL) {
            return NULL;
        }
        Py_ssize_t len = close - (p + 1);
        *pp = close + 1;
        PyObject *last = memo[position].value;
        if (last != NULL && same_text(last, p + 1, len)) {
            return Py_NewRef(last);
        }
        PyObject *s = ascii_str(p + 1, len);
        if (s != NULL && len <= VALUE_MEMO_MAX) {
            Py_XSETREF(memo[position].value, Py_NewRef(s));
        }
        return s;
    }
    case 't':
        if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
            *pp = p + 4;
            Py_RETURN_TRUE;
        }
        return NULL;
    case 'f':
        if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
            *pp = p + 5;
            Py_RETURN_FALSE;
        }
        return NULL;
    case 'n':
        if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            *pp = p + 4;
            Py_RETURN_NONE;
        }
        return NULL;
    default:
        return number(pp, end);
    }
}

/* The key of `len` bytes at `p` for position `i` (a new reference), remembered for the next frame.
 * `*fresh` says the memo did not vouch for it, so the caller must check it against earlier keys. */
static PyObject *
key_at(const char *p, Py_ssize_t len, int i, int *fresh, int *flags)
{
    PyObject *known = memo[i].key;
    if (!*fresh && i < memo_valid && same_text(known, p, len)) {
        *flags = memo[i].flags;
        return Py_NewRef(known);
    }
    *fresh = 1;
    if (known != NULL && same_text(known, p, len)) {
        *flags = memo[i].flags;
        return Py_NewRef(known);
    }
    PyObject *key = ascii_str(p, len);
    if (key == NULL) {
        return NULL;
    }
    PyUnicode_InternInPlace(&key);  /* one object per text, so that duplicates compare by identity */
    if (!PyUnicode_CHECK_INTERNED(key)) {
        Py_DECREF(key);
        PyErr_NoMemory();  /* interning swallows its error; an uninterned key would defeat both checks */
        return NULL;
    }
    memo_valid = i < memo_valid ? i : memo_valid;  /* memo[i] changes: it vouches for nothing from here */
    Py_XSETREF(memo[i].key, Py_NewRef(key));
    Py_CLEAR(memo[i].value);
    memo[i].flags = *flags = flags_of(key);
    return key;
}

void
ibkrws_flat_release(FlatPair *pairs, int n)
{
    for (int i = 0; i < n; i++) {
        Py_DECREF(pairs[i].key);
        Py_DECREF(pairs[i].value);
    }
}

int
ibkrws_flat_parse(const char *p, Py_ssize_t size, FlatPair *pairs)
{
    const char *end = p + size;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') {
        return FLAT_DECLINED;
    }
    p = skip_ws(p + 1, end);
    int n = 0, fresh = 0;
    if (p < end && *p == '}') {
        p++;
    }
    else {
        for (;;) {
            if (n == FLAT_MAX || p >= end || *p != '"') {
                goto declined;
            }
            const char *close = plain_string_end(p + 1, end);
            if (close == NULL) {
                goto declined;
            }
            int flags = 0;
            PyObject *key = key_at(p + 1, close - (p + 1), n, &fresh, &flags);
            if (key == NULL) {
                goto failed;
            }
            if (fresh) {
                for (int j = 0; j < n; j++) {
                    if (pairs[j].key == key) {
                        Py_DECREF(key);
                        goto declined;  /* a repeated key: orjson keeps the last value at the first place */
                    }
                }
            }
            p = skip_ws(close + 1, end);
            if (p >= end || *p != ':') {
                Py_DECREF(key);
                goto declined;
            }
            p = skip_ws(p + 1, end);
            PyObject *value = value_at(&p, end, n);
            if (value == NULL) {
                Py_DECREF(key);
                if (PyErr_Occurred()) {
                    goto failed;
                }
                goto declined;
            }
            pairs[n].key = key;
            pairs[n].value = value;
            pairs[n].flags = flags;
            n++;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            goto declined;
        }
    }
    if (skip_ws(p, end) != end) {
        goto declined;
    }
    if (fresh) {
        memo_valid = n;  /* memo[0 .. n-1] now hold this frame's keys, checked distinct */
    }
    return n;
declined:
    ibkrws_flat_release(pairs, n);
    return FLAT_DECLINED;
failed:
    ibkrws_flat_release(pairs, n);
    return FLAT_FAILED;
}

PyObject *
ibkrws_flat_dict(const FlatPair *pairs, int n)
{
    PyObject *message = _PyDict_NewPresized(n);
    if (message == NULL) {
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (PyDict_SetItem(message, pairs[i].key, pairs[i].value) < 0) {
            Py_DECREF(message);
            return NULL;
        }
    }
    return message;
}

/* decode_flat(payload) -> dict | None: the frame as orjson.loads decodes it, or None when declined */
PyObject *
ibkrws_decode_flat(PyObject *module, PyObject *payload)
{
    if (!PyBytes_Check(payload)) {
        PyErr_Format(PyExc_TypeError, "decode_flat expects bytes, got %.100s", Py_TYPE(payload)->tp_name);
        return NULL;
    }
    FlatPair pairs[FLAT_MAX];
    int n = ibkrws_flat_parse(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), pairs);
    if (n == FLAT_FAILED) {
        return NULL;
    }
    if (n == FLAT_DECLINED) {
        Py_RETURN_NONE;
    }
    PyObject *message = ibkrws_flat_dict(pairs, n);
    ibkrws_flat_release(pairs, n);
    return message;
}
