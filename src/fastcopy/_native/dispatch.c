/* dispatch.c -- deepcopy_list_c, deepcopy_dict_c, deepcopy_tuple_c.
 *
 * The design report that started fastcopy replaced the bodies of
 * copy._deepcopy_list/_dict/_tuple with C functions while the stdlib's
 * Python deepcopy() stayed in charge of everything else.  These are those
 * functions, with the stdlib's exact behaviour (live list iteration, the
 * dict iterator's errors, value-before-key evaluation, the recursive-tuple
 * memo check); patch(mode="dispatch") installs them so the benchmark tool
 * can measure that integration beside fastcopy's own.
 */
#include "dispatch.h"
#include "dictiter.h"

/* Parse (x, memo, deepcopy=None); *deepcopy defaults to the stdlib's. */
static int
dispatch_args(FcState *st, const char *name, PyObject *const *args, Py_ssize_t nargs,
              PyObject *kwnames, PyObject **x, PyObject **memo, PyObject **deepcopy)
{
    PyObject *slots[3] = {NULL, NULL, NULL};
    static const char *names[3] = {"x", "memo", "deepcopy"};
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError, "%s() takes from 2 to 3 positional arguments but %zd were given",
                     name, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        slots[i] = args[i];
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int found = 0;
        for (int j = 0; j < 3; j++) {
            if (PyUnicode_CompareWithASCIIString(key, names[j]) == 0) {
                if (slots[j] != NULL) {
                    PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                                 name, names[j]);
                    return -1;
                }
                slots[j] = args[nargs + k];
                found = 1;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", name, key);
            return -1;
        }
    }
    if (slots[0] == NULL || slots[1] == NULL) {
        PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", name,
                     slots[0] == NULL ? "x" : "memo");
        return -1;
    }
    *x = slots[0];
    *memo = slots[1];
    *deepcopy = slots[2] ? slots[2] : st->fn_stdlib_deepcopy;
    return 0;
}

/* deepcopy(a, memo): new reference or NULL */
static inline PyObject *
dispatch_call(PyObject *deepcopy, PyObject *a, PyObject *memo)
{
    PyObject *argv[2] = {a, memo};
    return PyObject_Vectorcall(deepcopy, argv, 2, NULL);
}

/* memo[id(x)] = y */
static int
dispatch_memo_put(PyObject *memo, PyObject *x, PyObject *y)
{
    PyObject *key = PyLong_FromVoidPtr(x);
    if (key == NULL) {
        return -1;
    }
    int rc = PyObject_SetItem(memo, key, y);
    Py_DECREF(key);
    return rc;
}

PyObject *
dispatch_list(FcState *st, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *x, *memo, *deepcopy;
    if (dispatch_args(st, "deepcopy_list_c", args, nargs, kwnames, &x, &memo, &deepcopy) < 0) {
        return NULL;
    }
    if (!PyList_Check(x)) {
        PyErr_SetString(PyExc_TypeError, "deepcopy_list_c() expects a list");
        return NULL;
    }
    /* y = []; memo[id(x)] = y; for a in x: y.append(deepcopy(a, memo)) */
    PyObject *y = PyList_New(0);
    if (y == NULL || dispatch_memo_put(memo, x, y) < 0) {
        Py_XDECREF(y);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(x); i++) {
#ifdef Py_GIL_DISABLED
        PyObject *a = PyList_GetItemRef(x, i);   /* strong, or gone */
        if (a == NULL) {
            PyErr_Clear();
            break;                               /* `for a in x` ends */
        }
#else
        PyObject *a = Py_NewRef(PyList_GET_ITEM(x, i));
#endif
        PyObject *c = dispatch_call(deepcopy, a, memo);
        Py_DECREF(a);
        if (c == NULL || PyList_Append(y, c) < 0) {
            Py_XDECREF(c);
            Py_DECREF(y);
            return NULL;
        }
        Py_DECREF(c);
    }
    return y;
}

PyObject *
dispatch_dict(FcState *st, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *x, *memo, *deepcopy;
    if (dispatch_args(st, "deepcopy_dict_c", args, nargs, kwnames, &x, &memo, &deepcopy) < 0) {
        return NULL;
    }
    if (!PyDict_Check(x)) {
        PyErr_SetString(PyExc_TypeError, "deepcopy_dict_c() expects a dict");
        return NULL;
    }
    /* y = {}; memo[id(x)] = y
     * for key, value in x.items(): y[deepcopy(key, memo)] = deepcopy(value, memo) */
    PyObject *y = PyDict_New();
    if (y == NULL || dispatch_memo_put(memo, x, y) < 0) {
        Py_XDECREF(y);
        return NULL;
    }
    Py_ssize_t pos = 0, used = PyDict_GET_SIZE(x), left = used;
    PyObject *key, *value, *hold_key = NULL, *hold_value = NULL;
    for (;;) {
        /* (free-threaded: key and value held strongly, see dictiter.h) */
        int more = FC_DICT_NEXT(x, &pos, used, &left, &key, &value, &hold_key, &hold_value);
        if (more <= 0) {
            if (more < 0) {
                goto error;
            }
            break;
        }
        Py_INCREF(key);
        Py_INCREF(value);
        PyObject *cv = dispatch_call(deepcopy, value, memo);
        PyObject *ck = cv ? dispatch_call(deepcopy, key, memo) : NULL;
        Py_DECREF(key);
        Py_DECREF(value);
        int rc = ck ? PyDict_SetItem(y, ck, cv) : -1;
        Py_XDECREF(ck);
        Py_XDECREF(cv);
        if (rc < 0) {
            goto error;
        }
    }
    Py_XDECREF(hold_key);      /* NULL on GIL builds */
    Py_XDECREF(hold_value);
    return y;
error:
    Py_XDECREF(hold_key);
    Py_XDECREF(hold_value);
    Py_DECREF(y);
    return NULL;
}

PyObject *
dispatch_tuple(FcState *st, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *x, *memo, *deepcopy;
    if (dispatch_args(st, "deepcopy_tuple_c", args, nargs, kwnames, &x, &memo, &deepcopy) < 0) {
        return NULL;
    }
    if (!PyTuple_Check(x)) {
        PyErr_SetString(PyExc_TypeError, "deepcopy_tuple_c() expects a tuple");
        return NULL;
    }
    /* y = [deepcopy(a, memo) for a in x] */
    Py_ssize_t n = PyTuple_GET_SIZE(x);
    PyObject *y = PyTuple_New(n);
    if (y == NULL) {
        return NULL;
    }
    if (n > 0) {
        PyObject_GC_UnTrack(y);     /* NULL items until the loop ends: see visit_tuple */
    }
    int changed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PyTuple_GET_ITEM(x, i);
        PyObject *c = dispatch_call(deepcopy, a, memo);
        if (c == NULL) {
            Py_DECREF(y);
            return NULL;
        }
        changed |= (c != a);
        PyTuple_SET_ITEM(y, i, c);
    }
    /* try: return memo[id(x)]  except KeyError: pass */
    PyObject *key = PyLong_FromVoidPtr(x);
    if (key == NULL) {
        Py_DECREF(y);
        return NULL;
    }
    PyObject *hit = PyObject_GetItem(memo, key);
    Py_DECREF(key);
    if (hit != NULL) {
        Py_DECREF(y);
        return hit;
    }
    if (!PyErr_ExceptionMatches(PyExc_KeyError)) {
        Py_DECREF(y);
        return NULL;
    }
    PyErr_Clear();
    if (!changed) {
        Py_DECREF(y);
        return Py_NewRef(x);
    }
    PyObject_GC_Track(y);
    return y;
}
