/* deepcopy.h -- the deep-copy engine. */
#ifndef FASTCOPY_DEEPCOPY_H
#define FASTCOPY_DEEPCOPY_H

#include "state.h"

/* deepcopy(x, memo): memo is NULL or Py_None for a fresh internal memo,
 * otherwise the caller's memo (a dict or any mapping).
 * Returns a new reference, or NULL with an exception set. */
PyObject *fc_deepcopy(FcState *st, PyObject *x, PyObject *memo);

/* Deepest nesting of containers the engine follows before raising
 * RecursionError (the engine keeps its own stack, so this is not bounded
 * by the C stack or sys.getrecursionlimit()). */
#define FC_MAX_DEPTH ((Py_ssize_t)1 << 22)

/* Deepest nesting of objects rebuilt through the reduce protocol.  Lower
 * than FC_MAX_DEPTH because CPython frees some such objects recursively on
 * the C stack (a dict subclass such as defaultdict bypasses the trashcan),
 * so a copy deeper than this could not be dropped safely.  The stdlib stops
 * at about 1/30 of it (the recursion limit). */
#define FC_MAX_REDUCE_DEPTH ((Py_ssize_t)30000)

#endif
