/* reduce.h -- the pickle-protocol half of copying: asking an object for its
 * reduce value and rebuilding an object from one (the stdlib's
 * copy._reconstruct), shared by copy() and deepcopy().
 *
 * The deep-copying of a reduce value's parts is done by the deepcopy
 * engine (deepcopy.c), which calls the step functions below between the
 * copies; copy() uses them directly with no copying in between.
 */
#ifndef FASTCOPY_REDUCE_H
#define FASTCOPY_REDUCE_H

#include "state.h"

/* Ask `x` for its reduce value, in the stdlib's order:
 * copyreg.dispatch_table[cls] (deep: truthiness test; shallow: `is not
 * None`), x.__reduce_ex__(4), x.__reduce__(), else copy.Error.
 * Returns a new reference to the reduce value, or NULL with an exception. */
PyObject *reduce_get(FcState *st, PyObject *x, int deep);

/* A reduce value the native code can replay: an exact tuple of length 2-5
 * whose args item is an exact tuple.  Fields are borrowed from the tuple;
 * absent or None trailing items are NULL. */
typedef struct {
    PyObject *func;
    PyObject *args;
    PyObject *state;
    PyObject *listiter;
    PyObject *dictiter;
} ReduceParts;

typedef enum {
    REDUCE_IS_STRING,   /* isinstance(rv, str): the object is its own copy */
    REDUCE_NATIVE,      /* *parts filled */
    REDUCE_DELEGATE     /* anything else: let copy._reconstruct raise
                           whatever the stdlib raises */
} ReduceKind;

ReduceKind reduce_parse(PyObject *rv, ReduceParts *parts);

/* y = func(*args), where copyreg.__newobj__(cls, *a) and
 * copyreg.__newobj_ex__(cls, a, kw) become cls.__new__ called directly.
 * New reference or NULL. */
PyObject *reduce_new_object(FcState *st, PyObject *func, PyObject *args);

/* The state step of _reconstruct: y.__setstate__(state) if y has one, else
 * the (dict, slots) protocol.  Returns 0 or -1. */
int reduce_set_state(FcState *st, PyObject *y, PyObject *state);
/* May reduce_new_object(func, args) / reduce_set_state(y, state) run Python
 * code (which could see copies in progress)?  1 maybe, 0 certainly not.
 * Never fail: class attributes are read without running code. */
int reduce_new_runs_python(FcState *st, PyObject *func, PyObject *args);
int reduce_state_runs_python(FcState *st, PyObject *y, PyObject *state);

/* y.append(item) / y[key] = value, as _reconstruct spells them.
 * Both return 0 or -1; neither steals. */
int reduce_append(FcState *st, PyObject *y, PyObject *item);
int reduce_setitem(PyObject *y, PyObject *key, PyObject *value);

/* `key, value = item` with the interpreter's own unpacking errors.
 * New references in *key and *value; returns 0 or -1. */
int reduce_unpack_pair(FcState *st, PyObject *item, PyObject **key,
                       PyObject **value);

/* copy._reconstruct(x, memo, *rv) called as the stdlib would (memo may be
 * Py_None for a shallow copy).  New reference or NULL. */
PyObject *reduce_delegate(FcState *st, PyObject *x, PyObject *memo,
                          PyObject *rv);

/* The whole of copy.copy's reduce branch: copy._reconstruct(x, None, *rv).
 * New reference or NULL. */
PyObject *reduce_shallow(FcState *st, PyObject *x, PyObject *rv);

/* The copy strategy for instances of tp (an FcStrategy), from the per-type
 * cache; -1 on error. */
int fc_type_strategy(FcState *st, PyTypeObject *tp);

/* The cache entry of tp, NULL when there is no valid one (never runs
 * code, never fails).  Valid until the next fc_type_strategy() call (on
 * free-threaded builds: the next one on this thread). */
static inline const FcTypeEntry *
fc_type_entry(const FcState *st, PyTypeObject *tp)
{
    const FcTypeEntry *set = &fc_type_cache(st)[fc_type_set(tp)];
    unsigned int tag = fc_type_tag(tp);
    if (tag == 0) {
        return NULL;
    }
    if (set[0].type == tp && set[0].tag == tag) {
        return &set[0];
    }
    return (set[1].type == tp && set[1].tag == tag) ? &set[1] : NULL;
}

/* The cached strategy for tp, or 0 when the cache has no valid entry
 * (never runs code, never fails). */
static inline int
fc_type_strategy_cached(const FcState *st, PyTypeObject *tp)
{
    const FcTypeEntry *e = fc_type_entry(st, tp);
    return e != NULL ? e->strategy : 0;
}

/* For an instance of a STRAT_PLAIN type: the reduce value the stdlib would
 * get from x.__reduce_ex__(4), built without calling it.  New reference;
 * Py_None when x's own __dict__ shadows one of the protocol's names (use
 * the generic path then); NULL on error. */
PyObject *reduce_plain(FcState *st, PyObject *x);

/* Does x's own __dict__ hold __deepcopy__, __reduce_ex__, __reduce__ or
 * __getstate__ (shadowing what the class says)?  *dict receives a new
 * reference to x's __dict__ (NULL if it has none).  1 yes, 0 no, -1 error. */
int reduce_shadowed(FcState *st, PyObject *x, PyObject **dict);

/* The same question about a dict already in hand (PyDict_Contains: a key
 * that is not an exact str may run its __eq__). */
int reduce_dict_shadows(FcState *st, PyObject *dict);

/* For an instance of a STRAT_REDUCE type: x.__reduce__(), the call
 * object.__reduce_ex__(4) would make.  Same return convention as
 * reduce_plain. */
PyObject *reduce_overridden(FcState *st, PyObject *x);

#endif
