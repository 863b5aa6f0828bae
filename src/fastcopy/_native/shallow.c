/* shallow.c -- copy.copy (one level, no memo) and copy.replace.
 *
 * copy(x) follows Lib/copy.py:
 *   _copy_dispatch[cls] (immutables returned as is; list/dict/set/bytearray
 *   copied natively) -> classes returned as is -> cls.__copy__(x) ->
 *   copyreg.dispatch_table / __reduce_ex__(4) / __reduce__ ->
 *   _reconstruct(x, None, *rv), natively for well-formed values.
 */
#include "shallow.h"
#include "reduce.h"

static inline int
shallow_is_atomic(const FcState *st, PyTypeObject *tp)
{
    for (int i = 0; i < st->n_shallow_atomic; i++) {
        if (st->shallow_atomic[i] == tp) {
            return 1;
        }
    }
    return 0;
}

PyObject *
fc_copy(FcState *st, PyObject *x)
{
    if (fc_state_sync(st) < 0) {
        return NULL;
    }
    PyTypeObject *tp = Py_TYPE(x);
    int in_dispatch = 1;

    /* copier = _copy_dispatch.get(cls); if copier: return copier(x) */
    PyObject *overrides = FC_LOAD(st->shallow_overrides);   /* one snapshot */
    if (overrides != NULL) {
        PyObject *copier;
        int rc = fc_dict_getitem(overrides, (PyObject *)tp, &copier);
        if (rc < 0) {
            return NULL;
        }
        if (rc > 0) {
            in_dispatch = 0;
            int truth = PyObject_IsTrue(copier);
            PyObject *y = NULL;
            if (truth > 0) {
                y = PyObject_CallOneArg(copier, x);
            }
            Py_DECREF(copier);
            if (truth != 0) {
                return y;     /* the copy, or NULL on error */
            }
        }
    }
    if (in_dispatch) {
        if (tp == &PyList_Type) {
            return PyList_GetSlice(x, 0, PyList_GET_SIZE(x));
        }
        if (tp == &PyDict_Type) {
            return PyDict_Copy(x);
        }
        if (shallow_is_atomic(st, tp)) {
            return Py_NewRef(x);
        }
        if (tp == &PySet_Type) {
            return PySet_New(x);
        }
        if (tp == &PyByteArray_Type) {
            return fc_bytearray_copy(x);
        }
    }

    /* if issubclass(cls, type): return x */
    if (PyType_Check(x)) {
        return Py_NewRef(x);
    }

    /* copier = getattr(cls, "__copy__", None) */
    PyObject *copier;
    int rc = fc_lookup_attr((PyObject *)tp, st->s_copy, &copier);
    if (rc < 0) {
        return NULL;
    }
    if (rc > 0) {
        if (copier != Py_None) {
            PyObject *y = PyObject_CallOneArg(copier, x);
            Py_DECREF(copier);
            return y;
        }
        Py_DECREF(copier);
    }

    PyObject *rv = reduce_get(st, x, 0);
    if (rv == NULL) {
        return NULL;
    }
    PyObject *y = reduce_shallow(st, x, rv);
    Py_DECREF(rv);
    return y;
}

PyObject *
fc_replace(FcState *st, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames)
{
    if (nargs != 1) {
        if (nargs == 0) {
            PyErr_SetString(PyExc_TypeError,
                            "replace() missing 1 required positional argument: 'obj'");
        }
        else {
            PyErr_Format(PyExc_TypeError,
                         "replace() takes 1 positional argument but %zd were given",
                         nargs);
        }
        return NULL;
    }
    /* cls = obj.__class__; func = getattr(cls, '__replace__', None) */
    PyObject *cls = PyObject_GetAttr(args[0], st->s_class);
    if (cls == NULL) {
        return NULL;
    }
    PyObject *func;
    int rc = fc_lookup_attr(cls, st->s_replace, &func);
    if (rc < 0) {
        Py_DECREF(cls);
        return NULL;
    }
    if (rc == 0 || func == Py_None) {
        Py_XDECREF(func);
        PyObject *name = PyObject_GetAttr(cls, st->s_name);
        Py_DECREF(cls);
        if (name == NULL) {
            return NULL;
        }
        PyErr_Format(PyExc_TypeError, "replace() does not support %S objects", name);
        Py_DECREF(name);
        return NULL;
    }
    Py_DECREF(cls);
    /* return func(obj, **changes) */
    PyObject *y = PyObject_Vectorcall(func, args, 1, kwnames);
    Py_DECREF(func);
    return y;
}
