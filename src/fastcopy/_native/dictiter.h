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
    if (!PyDict_Next(dict, pos, key, value)) {
        return 0;
    }
    if (*left == 0) {
        PyErr_SetString(PyExc_RuntimeError, "dictionary keys changed during iteration");
        return -1;
    }
    (*left)--;
    return 1;
}

#endif
