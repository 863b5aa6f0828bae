/* dictiter.h -- walking a dict the way the stdlib's `for k, v in
 * x.items()` does, with the dict iterator's two RuntimeErrors. */
#ifndef FASTCOPY_DICTITER_H
#define FASTCOPY_DICTITER_H

#include "compat.h"

/* Next item of `dict` from *pos, as dictiter_iternextitem would give it:
 * `used` is the dict's size when the iteration started, *left the number of
 * items still expected.  Returns 1 with borrowed references in *key and *value, 0 at the end,
 * -1 with RuntimeError set when the dict changed under the iteration. */
static inline int
fc_dict_next(PyObject *dict, Py_ssize_t *pos, Py_ssize_t used, Py_ssize_t *left,
             PyObject **key, PyObject **value)
{
    if (PyDict_GET_SIZE(dict) != used) {
        PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
        return -1;
    }
    if (!fc_dict_next_fast(dict, pos, key, value)) {
        return 0;
    }
    if (*left == 0) {
        PyErr_SetString(PyExc_RuntimeError, "dictionary keys changed during iteration");
        return -1;
    }
    (*left)--;
    return 1;
}

/* FC_DICT_NEXT: fc_dict_next, for a dict other threads may change.
 * Free-threaded builds: the size check and PyDict_Next run under the
 * dict's critical section, and the key and value are made strong there,
 * in *hold_key and *hold_value (which release what they held before):
 * *key and *value stay valid while the holders keep them (a frame's slots
 * or the caller's locals, released by the caller).  GIL builds: exactly
 * fc_dict_next (the holders are not touched). */
#ifdef Py_GIL_DISABLED
static inline int
fc_dict_next_held(PyObject *dict, Py_ssize_t *pos, Py_ssize_t used, Py_ssize_t *left,
                  PyObject **key, PyObject **value, PyObject **hold_key,
                  PyObject **hold_value)
{
    int rc;
    Py_BEGIN_CRITICAL_SECTION(dict);
    rc = fc_dict_next(dict, pos, used, left, key, value);
    if (rc > 0) {
        Py_INCREF(*key);
        Py_INCREF(*value);
    }
    Py_END_CRITICAL_SECTION();
    /* released outside the lock: a __del__ may run */
    Py_XSETREF(*hold_key, rc > 0 ? *key : NULL);
    Py_XSETREF(*hold_value, rc > 0 ? *value : NULL);
    return rc;
}
#define FC_DICT_NEXT(dict, pos, used, left, key, value, hold_key, hold_value) \
    fc_dict_next_held(dict, pos, used, left, key, value, hold_key, hold_value)
#else
#define FC_DICT_NEXT(dict, pos, used, left, key, value, hold_key, hold_value) \
    ((void)(hold_key), (void)(hold_value), fc_dict_next(dict, pos, used, left, key, value))
#endif

#endif
