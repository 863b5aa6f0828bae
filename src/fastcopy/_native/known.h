/* known.h -- standard-library types whose deep copy is known from the type
 * (see known.c). */
#ifndef FASTCOPY_KNOWN_H
#define FASTCOPY_KNOWN_H

#include "state.h"

/* STRAT_SELF, STRAT_DATETIME or STRAT_UUID when tp is one of the known
 * types with its standard behaviour intact, 0 when it is not, -1 on error.
 * May run Python code (module attribute lookups): call it only where
 * that is allowed (on a strategy-cache miss). */
int fc_known_strategy(FcState *st, PyTypeObject *tp);

/* The deep copy of x (whose type has strategy `strategy`, see above),
 * built without Python code.  Returns 1 with a new reference in *y
 * (x itself for STRAT_SELF), 0 when this x must take the generic path
 * after all (e.g. an aware datetime with a tzinfo other than UTC), -1 on
 * error.  `exact_memo`: the caller's memo is visible to Python code, so
 * only copies whose memo footprint is the stdlib's are allowed. */
int fc_known_copy(FcState *st, PyObject *x, int strategy, int exact_memo,
                  PyObject **y);

#endif
