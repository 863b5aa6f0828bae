/* shallow.c -- copy.copy (one level, no memo) and copy.replace.
 *
 * copy(x) follows Lib/copy.py:
 *   _copy_dispatch[cls] (immutables returned as is; list/dict/set/bytearray
 *   copied natively) -> classes returned as is -> cls.__copy__(x) ->
 *   copyreg.dispatch_table / __reduce_ex__(4) / __reduce__ ->
 *   _reconstruct(x, None, *rv), natively for well-formed values.
 * 3.14+ has no _copy_dispatch: `cls in _copy_atomic_types` returns x, and
 * `cls in _copy_builtin_containers` returns cls.copy(x) (fc_copy_sets).
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

/* 3.14+:
 *     if cls in _copy_atomic_types: return x
 *     if cls in _copy_builtin_containers: return cls.copy(x)
 * 1 with the result (or NULL and an exception) in *y; 0 when cls is in
 * neither set. */
static int
fc_copy_sets(FcState *st, PyObject *x, PyObject **y)
{
    PyTypeObject *tp = Py_TYPE(x);
    if (shallow_is_atomic(st, tp)) {
        *y = Py_NewRef(x);
        return 1;
    }
    if (tp == &PyList_Type && st->cont_list) {
        *y = PyList_GetSlice(x, 0, PyList_GET_SIZE(x));
        return 1;
    }
    if (tp == &PyDict_Type && st->cont_dict) {
        *y = PyDict_Copy(x);
        return 1;
    }
    if (tp == &PySet_Type && st->cont_set) {
        *y = PySet_New(x);
        return 1;
    }
    if (tp == &PyByteArray_Type && st->cont_bytearray) {
        *y = fc_bytearray_copy(x);
        return 1;
    }
    for (int i = 0; i < st->n_shallow_containers; i++) {
        if (st->shallow_containers[i] == tp) {
            /* a type somebody added to the set: cls.copy(x) */
            PyObject *name = PyUnicode_InternFromString("copy");
            PyObject *fn = name ? PyObject_GetAttr((PyObject *)tp, name) : NULL;
            Py_XDECREF(name);
            *y = fn ? PyObject_CallOneArg(fn, x) : NULL;
            Py_XDECREF(fn);
            return 1;
        }
    }
    return 0;
}

PyObject *
fc_copy(FcState *st, PyObject *x)
{
    if (fc_state_sync_shallow(st) < 0) {
        return NULL;
    }
    PyTypeObject *tp = Py_TYPE(x);
    int in_dispatch = 1;
    if (st->atomic_first) {
        PyObject *y;
        if (fc_copy_sets(st, x, &y)) {
            return y;
        }
        in_dispatch = 0;
    }

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
