/* dispatch.h -- the seed report's interface: C versions of the stdlib's
 * copy._deepcopy_list / _deepcopy_dict / _deepcopy_tuple, for use as
 * entries of copy._deepcopy_dispatch (patch(mode="dispatch")). */
#ifndef FASTCOPY_DISPATCH_H
#define FASTCOPY_DISPATCH_H

#include "state.h"

/* Each takes (x, memo, deepcopy=<the stdlib's copy.deepcopy>) and returns
 * a new reference or NULL, exactly like its Python counterpart. */
PyObject *dispatch_list(FcState *st, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *dispatch_dict(FcState *st, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *dispatch_tuple(FcState *st, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);

#endif
