/* patch.h -- routing calls of the stdlib's copy.deepcopy / copy.copy
 * function objects to fastcopy without replacing the objects (3.10, 3.12+). */
#ifndef FASTCOPY_PATCH_H
#define FASTCOPY_PATCH_H

#include "state.h"

/* Make calls of `func` (the stdlib's copy.deepcopy when deep, copy.copy
 * otherwise) run fastcopy; 0 or -1.  On 3.10 and 3.12+ (see patch.c);
 * on 3.11 raises NotImplementedError (_patch.py swaps __code__ there). */
int patch_install(FcState *st, PyObject *func, int deep);
/* Undo patch_install for `func`; 0 (also when it was not patched) or -1. */
int patch_remove(PyObject *func);
/* Undo every patch made through state `st` (module teardown). */
void patch_remove_all(FcState *st);

#endif
