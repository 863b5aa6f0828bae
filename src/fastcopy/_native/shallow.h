/* shallow.h -- copy.copy and copy.replace. */
#ifndef FASTCOPY_SHALLOW_H
#define FASTCOPY_SHALLOW_H

#include "state.h"

/* copy(x): new reference or NULL. */
PyObject *fc_copy(FcState *st, PyObject *x);

/* replace(obj, /, **changes) as a vectorcall: args[0] is obj, followed by
 * the keyword values named in kwnames.  New reference or NULL. */
PyObject *fc_replace(FcState *st, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames);

#endif
