/* state.h -- the module state: everything fastcopy caches from the `copy`
 * and `copyreg` modules, interned strings, and the "overrides" computed from
 * the dispatch tables that third parties may have modified.
 *
 * One FcState lives in each fastcopy module object (multi-phase init); the C
 * functions reach it through fc_get_state(module).
 */
#ifndef FASTCOPY_STATE_H
#define FASTCOPY_STATE_H

#include "compat.h"
#include "memo.h"      /* FcScratch */

#define FC_MAX_ATOMIC 64
#define FC_TYPE_CACHE 256   /* a power of two: 128 sets of 2 (fc_type_set) */

/* How instances of a type are deep-copied when the type is not handled by
 * the dispatch tables (see fc_type_strategy in reduce.c). */
typedef enum {
    STRAT_GENERIC = 1,  /* the full protocol: __deepcopy__, reducers */
    STRAT_PLAIN = 2,    /* a pure-Python class on object's defaults: the
                           reduce value is (copyreg.__newobj__, (cls,),
                           __dict__ or None), computed without calling
                           __reduce_ex__ */
    STRAT_REDUCE = 3,   /* a class that overrides __reduce__ only: the
                           reduce value is x.__reduce__(), which is what
                           object.__reduce_ex__(4) would call */
    STRAT_PLAIN_DICT = 4,/* STRAT_PLAIN, and also: created by object.__new__,
                           no __setstate__, the standard __dict__
                           descriptor; replayed directly: new object, copy
                           of __dict__ merged into its __dict__ */
    STRAT_SELF = 5,     /* known.c: __deepcopy__ returns self */
    STRAT_DATETIME = 6, /* known.c: datetime.date/datetime/time/timedelta */
    STRAT_UUID = 7,     /* known.c: uuid.UUID */
    STRAT_SLOTS = 8     /* STRAT_PLAIN's conditions, but __slots__ and no
                           __dict__: the reduce value is (copyreg.__newobj__,
                           (cls,), (None, {slot: value})); replayed directly:
                           new object, slot values copied, then stored */
} FcStrategy;

#define FC_MAX_SLOTS 12

typedef struct {
    PyTypeObject *type;   /* not owned: compared by identity with the tag */
    unsigned int tag;     /* fc_type_tag() when the entry was made */
    int strategy;
    int nslots;           /* STRAT_SLOTS: copyreg._slotnames(cls), as */
    Py_ssize_t slot_off[FC_MAX_SLOTS];   /* member offsets, in its order */
} FcTypeEntry;

/* 3.14+: copy keeps its atomic types (and copy()'s builtin containers) in
 * sets: copy._atomic_types, copy._copy_atomic_types and
 * copy._copy_builtin_containers, read by `cls in <set>` on every call.  A
 * frozenset (3.15) never changes; a set (3.14) may be changed in place by
 * anyone, and no watcher reports it, so the state keeps where each of its
 * members sat in the set's hash table when it was read (fc_typeset_same).
 * Members stay in their slot until they are removed, so the set still
 * holds exactly those members if its size is the same and each recorded
 * slot still holds its member; a resize or any add or removal changes one
 * of the two.  n <= FC_MAX_ATOMIC. */
typedef struct {
    Py_ssize_t off;       /* byte offset of its slot's key in the table */
    PyObject *key;        /* compared, never dereferenced */
} FcSlotKey;

typedef struct {
    PyObject *set;        /* copy.<name> when read (strong; FC_LOAD it) */
    int frozen;           /* an exact frozenset: nothing to check */
    Py_ssize_t n, mask;   /* its size and table mask when read */
    Py_ssize_t n4;        /* n rounded up to 4: at[n..n4) repeat at[0] */
    FcSlotKey at[FC_MAX_ATOMIC + 3];
} FcTypeSet;

/* Runs at every call and after any Python code a copy runs, for a set
 * that is not frozen (3.14; the caller skips 3.15's frozensets): four
 * members a step, each one load, xor and or, no branch but the loop's
 * (about 90 instructions for the 16 atomic types, 150 as a plain loop). */
static inline int
fc_typeset_same(const FcTypeSet *ts, PyObject *set)
{
    const PySetObject *so = (const PySetObject *)set;
    if (so->used != ts->n || so->mask != ts->mask) {
        return 0;
    }
    const char *table = (const char *)so->table;
    const FcSlotKey *at = ts->at;
    uintptr_t diff = 0;
#define FC_SLOT_DIFF(k) \
    ((uintptr_t)*(PyObject *const *)(table + at[k].off) ^ (uintptr_t)at[k].key)
    for (Py_ssize_t i = 0; i < ts->n4; i += 4) {
        diff |= FC_SLOT_DIFF(i) | FC_SLOT_DIFF(i + 1) | FC_SLOT_DIFF(i + 2) | FC_SLOT_DIFF(i + 3);
    }
#undef FC_SLOT_DIFF
    return diff == 0;
}

typedef struct {
    /* Modules and functions taken from the standard library (strong refs). */
    PyObject *copy_module;
    PyObject *copy_dict;          /* copy.__dict__ (borrowed from module, but
                                     we keep a strong ref for watching) */
    PyObject *copy_error;         /* copy.Error */
    PyObject *deep_dispatch;      /* current copy._deepcopy_dispatch */
    PyObject *shallow_dispatch;   /* current copy._copy_dispatch (NULL from
                                     3.14, which has none) */
    PyObject *dispatch_table;     /* current copy.dispatch_table (copyreg's) */
    PyObject *fn_stdlib_deepcopy; /* copy.deepcopy as the stdlib defined it */
    PyObject *fn_deep_atomic;     /* copy._deepcopy_atomic (NULL if absent) */
    PyObject *fn_deep_list;       /* copy._deepcopy_list */
    PyObject *fn_deep_tuple;      /* copy._deepcopy_tuple */
    PyObject *fn_deep_dict;       /* copy._deepcopy_dict */
    PyObject *fn_deep_method;     /* copy._deepcopy_method */
#if FC_HAS_FROZENDICT
    PyObject *fn_deep_frozendict; /* copy._deepcopy_frozendict (3.15) */
#endif
    PyObject *fn_copy_immutable;  /* copy._copy_immutable */
    PyObject *fn_list_copy;       /* list.copy */
    PyObject *fn_dict_copy;       /* dict.copy */
    PyObject *fn_set_copy;        /* set.copy */
    PyObject *fn_bytearray_copy;  /* bytearray.copy */
    PyObject *newobj;             /* copyreg.__newobj__ */
    PyObject *newobj_ex;          /* copyreg.__newobj_ex__ */
    PyObject *tramp_reconstruct;  /* def f(x, memo, rv): return copy._reconstruct(x, memo, *rv) */
    PyObject *tramp_pair;         /* def f(item): k, v = item; return k, v */

    /* Atomic types for deepcopy (returned as is) and for copy. */
    PyTypeObject *deep_atomic[FC_MAX_ATOMIC];
    int n_deep_atomic;
    PyTypeObject *shallow_atomic[FC_MAX_ATOMIC];
    int n_shallow_atomic;
    int atomic_first;             /* 3.14+: atomics checked before the memo,
                                     and listed (with copy()'s atomic types
                                     and containers) in sets, not in the
                                     dispatch tables */
    /* 3.14+ (atomic_first): the sets the atomic types above and copy()'s
     * builtin containers were read from, re-read when they change */
    FcTypeSet deep_set, shallow_set, containers_set;
    /* copy()'s builtin containers (`cls.copy(x)`): the four the stdlib
     * lists, as flags, and any other type anybody added */
    int cont_list, cont_dict, cont_set, cont_bytearray;
    /* 1 while _atomic_types holds other members than when first read (what
     * the stdlib put there): Template replay then defers to deepcopy */
    int atomic_custom;
    /* bumped whenever a rebuild finds _atomic_types' members changed
     * (copier_update_fast_atoms, deepcopy.c) */
    unsigned long atomic_gen;
    PyTypeObject *deep_init[FC_MAX_ATOMIC];
    int n_deep_init;
    PyTypeObject *deep_now[FC_MAX_ATOMIC];   /* the members last read */
    int n_deep_now;
    PyTypeObject *shallow_containers[FC_MAX_ATOMIC];
    int n_shallow_containers;
#ifdef Py_GIL_DISABLED
    PyTypeObject *shallow_init[FC_MAX_ATOMIC], *cont_init[FC_MAX_ATOMIC];
    int n_shallow_init, n_cont_init;
#endif
    int types_read;
    unsigned long non_atomic_flags; /* tp_flags no atomic type has */
    int hot_atomic;               /* str, int, float, bool, None all atomic;
                                     they are then left out of deep_atomic */

    /* What the stdlib itself put in the two dispatch tables ({type: fn}). */
    PyObject *deep_expected;
    PyObject *shallow_expected;

    /* Overrides: NULL when the dispatch tables hold exactly what the stdlib
     * put there (the fast path); otherwise a dict {type: copier or None}
     * listing every type whose handling differs from the stdlib's default
     * (None: the type was removed from the table). */
    PyObject *deep_overrides;
    PyObject *shallow_overrides;
    /* Builtins that copyreg.dispatch_table gives a reducer to (so their
     * native paths must not be used). */
    int set_reduced, frozenset_reduced, bytearray_reduced;

    /* Change detection for the tables above. */
#if FC_HAS_DICT_WATCHERS
    int watcher_id;
    unsigned long seen_generation;
#else
    uint64_t seen_version[4];
    PyObject *seen_dicts[4];       /* borrowed identities, compared only */
#endif
    int synced;

    /* Per-type strategy cache, direct-mapped by address; an entry is valid
     * while the type's version tag is unchanged; emptied when the dispatch
     * tables change.  Free-threaded builds: one cache per thread instead
     * (fc_type_cache below), and `cache_epoch` (atomic) says which dispatch
     * tables a thread's cache was filled under. */
#ifdef Py_GIL_DISABLED
    uint64_t cache_epoch;
    PyObject *retired;            /* objects a rebuild replaced (module.c) */
#else
    FcTypeEntry type_cache[FC_TYPE_CACHE];
#endif
    PyObject *obj_reduce_ex;      /* object.__reduce_ex__ */
    PyObject *obj_reduce;         /* object.__reduce__ */
    PyObject *obj_getstate;       /* object.__getstate__ (None before 3.11) */
    PyObject *slotnames;          /* copyreg._slotnames */

    /* Interned strings. */
    PyObject *s_deepcopy, *s_copy, *s_reduce_ex, *s_reduce, *s_setstate,
        *s_dict, *s_update, *s_append, *s_get, *s_replace, *s_name,
        *s_class, *s_items, *s_getstate, *s_getnewargs, *s_getnewargs_ex,
        *s_new;
    PyObject *int4;               /* the int 4 */
    PyObject *nil;                /* private sentinel for memo.get */
    PyTypeObject *method_type;    /* types.MethodType */
    PyObject *template_type;      /* fastcopy.Template (template.c) */
    /* uuid.UUID, when seen (known.c): the type (borrowed, guarded by the
     * strategy cache), its slots' offsets, uuid.SafeUUID (owned). */
    PyTypeObject *uuid_type;
    Py_ssize_t uuid_off_int, uuid_off_safe;
    PyObject *uuid_safe_type;
    /* The datetime C API (a PyDateTime_CAPI *) as this interpreter's
     * datetime module exports it, set on first sight of a datetime there
     * (known.c), and the capsule that holds it (owned: the API is freed
     * with it).  Per state, not datetime.h's process-wide PyDateTimeAPI:
     * interpreters that run at once would share it, one whose datetime is
     * the pure-Python module (3.12's with a GIL of their own) has none, and
     * one may be gone with the capsule it fetched. */
    void *datetime_api;
    PyObject *k_datetime_capi;
    /* The known types of known.c once their module has been seen (strong;
     * resolved once: repeating the module lookups after every dispatch-
     * table rebuild grew interpreter memory on 3.13). */
    PyObject *k_decimal, *k_fraction, *k_pattern, *k_enum, *k_uuid;
    /* Containers copies, replays and floor calls allocated with the
     * collector held off since the last checkpoint (fc_gc_checkpoint);
     * GIL builds only, so a plain field */
    Py_ssize_t gc_owed;
    /* Heap blocks of the last copies' frame stack, done log, elided
     * frames and memo table, kept for the next call (FcScratch, memo.h;
     * GIL builds only). */
    FcScratch scratch[FC_SCRATCH_N];
} FcState;

/* The strategy cache is 2-way set-associative: a type's entry is one of
 * the two at fc_type_set(tp) (Fibonacci hashing of its address).  With
 * one entry per slot, two hot types whose addresses hash alike evicted
 * each other on every object, and each miss recomputes the strategy
 * (attribute lookups through the MRO): typed_records took 33.7M
 * instructions a copy instead of 7.6M in a process whose heap layout put
 * two of its classes on one slot (found by `counters` run from another
 * directory).  Three hot types on one set still evict each other. */
static inline size_t
fc_type_set(const PyTypeObject *tp)
{
    return (size_t)((((uint64_t)(uintptr_t)tp * 0x9E3779B97F4A7C15ull) >> 56) &
                    (FC_TYPE_CACHE / 2 - 1)) * 2;
}

/* The per-type strategy cache of st for the calling thread.
 *
 * GIL builds: the one in the state.  Free-threaded builds: entries are
 * several words (type, tag, strategy, slot layout) that must be read
 * whole, and every visit of an instance reads one, so instead of a lock
 * each thread has its own cache (thread-local, so never shared and never
 * torn).  It belongs to one state and one epoch: a dispatch-table rebuild
 * gives the state a new epoch (from a process-wide counter, so a state
 * allocated where a freed one was never matches its epoch), and the next
 * lookup on each thread then empties that thread's cache.  The price is
 * that each thread computes a type's strategy once for itself. */
#ifdef Py_GIL_DISABLED
typedef struct {
    const FcState *owner;
    uint64_t epoch;
    FcTypeEntry entries[FC_TYPE_CACHE];
} FcThreadCache;

extern _Thread_local FcThreadCache fc_thread_cache;   /* reduce.c */

static inline FcTypeEntry *
fc_type_cache(const FcState *st)
{
    uint64_t epoch = atomic_load_explicit((const _Atomic(uint64_t) *)&st->cache_epoch,
                                          memory_order_acquire);
    FcThreadCache *tc = &fc_thread_cache;
    if (tc->owner != st || tc->epoch != epoch) {
        memset(tc->entries, 0, sizeof(tc->entries));
        tc->owner = st;
        tc->epoch = epoch;
    }
    return tc->entries;
}
#else
#define fc_type_cache(st) ((st)->type_cache)
#endif

/* Borrowed pointer to the state of a fastcopy module object. */
static inline FcState *
fc_get_state(PyObject *module)
{
    return (FcState *)PyModule_GetState(module);
}

/* Re-read the dispatch tables if any of them changed since the last call.
 * Returns 0, or -1 with an exception set. (module.c) */
int fc_state_sync(FcState *st);
/* The same for copy(), which also reads 3.14's _copy_atomic_types and
 * _copy_builtin_containers. */
int fc_state_sync_shallow(FcState *st);

/* Is `tp` one of str, int, float, bool, NoneType (the most common atoms)? */
static inline int
fc_is_hot_type(PyTypeObject *tp)
{
    return tp == &PyLong_Type || tp == &PyUnicode_Type || tp == &PyFloat_Type ||
           tp == &PyBool_Type || tp == Py_TYPE(Py_None);
}

/* ... and are these five atomic (as the stdlib's tables say)? */
static inline int
fc_is_hot_atomic(const FcState *st, PyTypeObject *tp)
{
    return st->hot_atomic && fc_is_hot_type(tp);
}

/* Is `tp` one of deepcopy's atomic types (returned as is)?  The five most
 * common ones are compared first when all five are atomic (hot_atomic);
 * the rest are in the small deep_atomic array. */
static inline int
fc_is_deep_atomic(const FcState *st, PyTypeObject *tp)
{
    if (fc_is_hot_atomic(st, tp)) {
        return 1;
    }
    if (tp->tp_flags & st->non_atomic_flags) {
        return 0;   /* heap types, lists, tuples, dicts: never atomic */
    }
    for (int i = 0; i < st->n_deep_atomic; i++) {
        if (st->deep_atomic[i] == tp) {
            return 1;
        }
    }
    return 0;
}

#endif /* FASTCOPY_STATE_H */
