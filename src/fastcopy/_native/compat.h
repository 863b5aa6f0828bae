/* compat.h -- every CPython version difference fastcopy cares about, in one
 * place, as named predicates and small shims.  No other file tests
 * PY_VERSION_HEX directly.
 *
 * Supported: CPython 3.10 - 3.15 (3.14 and 3.15 tested in a Debian
 * chroot, scripts/debian-pythons.sh).
 */
#ifndef FASTCOPY_COMPAT_H
#define FASTCOPY_COMPAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The engine's small per-container steps (frame push and pop, the memo
 * epilogue) have several callers each, and GCC at -O3 keeps them out of
 * line: their prologues and epilogues were about a tenth of the engine's
 * own instructions on nested data.  FC_ALWAYS_INLINE puts the common path
 * in its callers; the rare path (growing an array, the periodic signal
 * check) stays in an FC_NOINLINE function. */
#if defined(__GNUC__) || defined(__clang__)
#define FC_ALWAYS_INLINE static inline __attribute__((always_inline))
#define FC_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define FC_ALWAYS_INLINE static __forceinline
#define FC_NOINLINE __declspec(noinline)
#else
#define FC_ALWAYS_INLINE static inline
#define FC_NOINLINE
#endif

#define FC_PY311_PLUS (PY_VERSION_HEX >= 0x030B0000)
#define FC_PY312_PLUS (PY_VERSION_HEX >= 0x030C0000)
#define FC_PY313_PLUS (PY_VERSION_HEX >= 0x030D0000)
#define FC_PY314_PLUS (PY_VERSION_HEX >= 0x030E0000)
#define FC_PY315_PLUS (PY_VERSION_HEX >= 0x030F0000)
#define FC_PY316_PLUS (PY_VERSION_HEX >= 0x03100000)

/* 3.15's builtin frozendict (PEP 814), which copy._deepcopy_dispatch
 * copies with _deepcopy_frozendict. */
#ifdef PyFrozenDict_CheckExact
#define FC_HAS_FROZENDICT 1
#else
#define FC_HAS_FROZENDICT 0
#endif

/* 3.15's deepcopy looks a memo up with `if d in memo: return memo[d]`
 * (two operations on a memo that is not a dict); before, with
 * `y = memo.get(d, _nil)`, and deepcopy had a third parameter, _nil. */
#define FC_MEMO_CONTAINS FC_PY315_PLUS

/* Before 3.12 a garbage collection runs inside the allocation that
 * crosses the threshold (and with it Python code: gc.callbacks,
 * finalizers); 3.12+ wait for the eval loop's next check.  The engine and
 * Template replay hold collections off while they run no Python code
 * (deepcopy.c, "Holding the garbage collector off"): before 3.12 so that
 * nothing changes under them, from 3.12 so that the collection does not
 * run right after they return, walking the copy just made. */
#define FC_GC_IN_ALLOC (PY_VERSION_HEX < 0x030C0000)
/* Whether the engine holds collections off at all: every build with a GIL
 * (on 3.12+ for the timing of collections, not for safety: see deepcopy.c,
 * "Holding the garbage collector off"); not free-threaded ones. */
#ifdef Py_GIL_DISABLED
#define FC_GC_HOLD 0
#else
#define FC_GC_HOLD 1
#endif

/* Before taking the hold, where nothing is being read yet: a collection
 * the collector owes (its count crossed the threshold while a previous
 * hold was on) starts at the next container allocation made with it on.
 * Without one, a loop that allocates containers only inside copies would
 * never collect: 20,000 copies of a two-dict cycle left 60,000 garbage
 * objects and no collection on 3.11.  The checkpoint allocates and frees
 * an empty set (sets have no free list, and a free-list hit is not counted
 * as an allocation), about 350 instructions, so it is made only once the
 * holds have allocated FC_GC_OWED_MAX containers since the last one
 * (*owed, which the holders add to): a collection then starts at most that
 * many allocations late, at most a third of the default threshold (700;
 * 2,000 from 3.13).
 * 0, or -1 with an exception (no memory). */
#define FC_GC_OWED_MAX 256

static inline int
fc_gc_checkpoint(Py_ssize_t *owed)
{
#if FC_GC_HOLD
    if (*owed >= FC_GC_OWED_MAX) {
        *owed = 0;
        if (PyGC_IsEnabled()) {
            PyObject *s = PySet_New(NULL);
            if (s == NULL) {
                return -1;
            }
            Py_DECREF(s);
#if !FC_GC_IN_ALLOC
            /* 3.12+: the allocation only scheduled the collection, for the
             * eval loop's next check, i.e. after the copy about to start,
             * which it would then walk; PyErr_CheckSignals() runs a
             * scheduled collection now (and any pending signal handler,
             * as the eval loop would on entering a Python deepcopy). */
            if (PyErr_CheckSignals() < 0) {
                return -1;
            }
#endif
        }
    }
#else
    (void)owed;
#endif
    return 0;
}

/* The hold around a loop that runs no Python code from start to end
 * (Template replay, the allocation floor): the checkpoint, then
 * collections off, with the loop's n containers counted towards the next
 * checkpoint.  1 held (release with fc_gc_release_loop), 0 not (they were
 * off already, or a free-threaded build), -1 with an exception. */
static inline int
fc_gc_hold_loop(Py_ssize_t *owed, Py_ssize_t n)
{
#if FC_GC_HOLD
    if (fc_gc_checkpoint(owed) < 0) {
        return -1;
    }
    *owed += n;
    return PyGC_Disable();
#else
    (void)owed, (void)n;
    return 0;
#endif
}

static inline void
fc_gc_release_loop(int held)
{
#if FC_GC_HOLD
    if (held > 0) {
        PyGC_Enable();
    }
#else
    (void)held;
#endif
}

/* Free-threaded CPython (3.13t+, built with --disable-gil, which defines
 * Py_GIL_DISABLED in pyconfig.h).  Everything written for it is under
 * #ifdef Py_GIL_DISABLED or behind the FC_FT_* macros below, which expand
 * to exactly the old code on builds with a GIL; FC_FREE_THREADED is a
 * compile-time constant, so `!FC_FREE_THREADED && cond` is `cond` there.
 * See "Threads and free-threading" in docs/design.md. */
#ifdef Py_GIL_DISABLED
#define FC_FREE_THREADED 1
#include <stdatomic.h>
#else
#define FC_FREE_THREADED 0
#endif

/* Interpreters with a GIL of their own (PEP 684, 3.12+) run at the same time
 * in one process, so the little the module shares between interpreters
 * (patch.c's table, module.c's change counter) is used in parallel there as
 * it is on free-threaded builds, and takes the same lock and atomics.  Where
 * the compiler has no C11 atomics (MSVC's C mode), the module does not
 * declare Py_MOD_PER_INTERPRETER_GIL_SUPPORTED and such an interpreter gets
 * ImportError instead.  See "Subinterpreters" in docs/design.md. */
#if FC_FREE_THREADED
#define FC_PARALLEL_INTERPRETERS 1
#elif FC_PY312_PLUS && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && \
    !defined(__STDC_NO_ATOMICS__)
#define FC_PARALLEL_INTERPRETERS 1
#include <stdatomic.h>
#else
#define FC_PARALLEL_INTERPRETERS 0
#endif

/* FC_LOAD(field) / FC_STORE(field, value): an object-pointer field of shared state
 * (the module state's dispatch-table snapshot, lazily resolved objects)
 * that another thread may replace while it is read.  Free-threaded: C11
 * acquire/release atomics on the field, through a cast to the _Atomic type
 * of the same size -- what CPython's own Include/cpython/pyatomic_std.h does
 * for its _Py_atomic_* functions, which are not public API.  FC_LOAD gives
 * a void * there (converted implicitly on assignment).  GIL builds: plain
 * accesses (the GIL orders them). */
#ifdef Py_GIL_DISABLED
#define FC_LOAD(field) \
    atomic_load_explicit((_Atomic(void *) *)(void *)&(field), memory_order_acquire)
#define FC_STORE(field, value) \
    atomic_store_explicit((_Atomic(void *) *)(void *)&(field), (void *)(value), \
                          memory_order_release)
#else
#define FC_LOAD(field) (field)
#define FC_STORE(field, value) ((field) = (value))
#endif

/* The same for an int flag of shared state (the module state's
 * *_reduced flags, rewritten by a dispatch-table rebuild while other
 * threads copy).  Relaxed: a copy racing with a change to
 * copyreg.dispatch_table may see either value, as with the GIL. */
#ifdef Py_GIL_DISABLED
#define FC_LOAD_INT(field) \
    atomic_load_explicit((_Atomic(int) *)(void *)&(field), memory_order_relaxed)
#define FC_STORE_INT(field, value) \
    atomic_store_explicit((_Atomic(int) *)(void *)&(field), (value), memory_order_relaxed)
#else
#define FC_LOAD_INT(field) (field)
#define FC_STORE_INT(field, value) ((field) = (value))
#endif

/* tp.<name> looked up in the type and its MRO without running any
 * descriptor, as a new reference (NULL if absent; never an exception).
 * There is no public API for this: PyObject_GetAttr would run
 * descriptors and metaclass __getattribute__.  _PyType_Lookup is exported
 * (cpython/object.h) in every supported version; its result is borrowed,
 * which on free-threaded builds another thread may free by replacing the
 * class attribute, so there _PyType_LookupRef (3.13+, exported beside it)
 * takes the reference under the type's lock. */
static inline PyObject *
fc_type_lookup_ref(PyTypeObject *tp, PyObject *name)
{
#ifdef Py_GIL_DISABLED
    return _PyType_LookupRef(tp, name);
#else
    return Py_XNewRef(_PyType_Lookup(tp, name));
#endif
}

/* Dict watchers (PEP-less public API since 3.12) tell us when
 * copy._deepcopy_dispatch & co. change.  Before 3.12 we compare the dicts'
 * ma_version_tag instead: a field of the public (non-limited) PyDictObject
 * struct in 3.10 and 3.11 that changes on every mutation of the dict. */
#define FC_HAS_DICT_WATCHERS FC_PY312_PLUS

/* fc_lookup_attr: getattr(obj, name, <missing>) without creating an
 * AttributeError for the common "absent" case.
 * Returns 1 and a new reference in *result when found, 0 and NULL when the
 * attribute is missing (AttributeError swallowed), -1 on any other error.
 * 3.13 made this public as PyObject_GetOptionalAttr; 3.10-3.12 have the same
 * function under its private name _PyObject_LookupAttr (identical contract,
 * present since 3.7). */
static inline int
fc_lookup_attr(PyObject *obj, PyObject *name, PyObject **result)
{
#if FC_PY313_PLUS
    return PyObject_GetOptionalAttr(obj, name, result);
#else
    return _PyObject_LookupAttr(obj, name, result);
#endif
}

/* fc_dict_getitem: dict[key] -> 1 and a new reference, 0 when missing,
 * -1 on error (PyDict_GetItemRef is 3.13+). */
static inline int
fc_dict_getitem(PyObject *dict, PyObject *key, PyObject **result)
{
#if FC_PY313_PLUS
    return PyDict_GetItemRef(dict, key, result);
#else
    PyObject *item = PyDict_GetItemWithError(dict, key);
    if (item != NULL) {
        *result = Py_NewRef(item);
        return 1;
    }
    *result = NULL;
    return PyErr_Occurred() ? -1 : 0;
#endif
}

/* fc_dict_getitem with a C-string key.  A missing key and an error both
 * give 0 here (the error cleared), as PyDict_GetItemString did: for
 * callers that fall back to a slower, equally exact path on 0 (known.c);
 * fc_dict_getitem_cstr keeps the error. */
static inline int
fc_dict_getitem_str(PyObject *dict, const char *key, PyObject **result)
{
#if FC_PY313_PLUS
    int rc = PyDict_GetItemStringRef(dict, key, result);
#else
    PyObject *item = PyDict_GetItemString(dict, key);     /* borrowed */
    *result = Py_XNewRef(item);
    int rc = item != NULL;
#endif
    if (rc < 0) {
        PyErr_Clear();
        rc = 0;
    }
    return rc;
}

/* fc_dict_getitem with a C-string key, errors kept: 1 and a new reference,
 * 0 when missing, -1 with the exception set when the key's str cannot be
 * made (no memory) or the lookup raises. */
static inline int
fc_dict_getitem_cstr(PyObject *dict, const char *key, PyObject **result)
{
    PyObject *k = PyUnicode_FromString(key);
    if (k == NULL) {
        *result = NULL;
        return -1;
    }
    int rc = fc_dict_getitem(dict, k, result);
    Py_DECREF(k);
    return rc;
}

#if !FC_HAS_DICT_WATCHERS
/* 3.10/3.11 only: the dict's modification stamp (see above). */
static inline uint64_t
fc_dict_version(PyObject *dict)
{
    return ((PyDictObject *)dict)->ma_version_tag;
}
#endif

/* A type's version tag, the guard of the per-type strategy cache: CPython
 * gives the type a new tag (or 0, "none") whenever the type or one of its
 * bases is modified.  0 means "no valid tag": do not cache.  3.10 and 3.11
 * also keep a flag that says whether the tag is valid. */
static inline unsigned int
fc_type_tag(PyTypeObject *tp)
{
#if defined(Py_GIL_DISABLED)
    /* another thread may be modifying the type (CPython stores the tag
     * with a relaxed atomic store on these builds) */
    return atomic_load_explicit((_Atomic(unsigned int) *)&tp->tp_version_tag,
                                memory_order_relaxed);
#elif FC_PY312_PLUS
    return tp->tp_version_tag;
#else
    return (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) ? tp->tp_version_tag : 0;
#endif
}

/* Member-descriptor type codes and flags: 3.12 gave them public Py_
 * names in Python.h; before, they come from structmember.h. */
#if FC_PY312_PLUS
#define FC_T_OBJECT_EX Py_T_OBJECT_EX
#define FC_T_PYSSIZET Py_T_PYSSIZET
#define FC_READONLY_FLAG Py_READONLY
#else
#include <structmember.h>
#define FC_T_OBJECT_EX T_OBJECT_EX
#define FC_T_PYSSIZET T_PYSSIZET
#define FC_READONLY_FLAG READONLY
#endif

/* The allocated capacity of a list (public struct field in every supported
 * version's cpython/listobject.h). */
#define FC_LIST_ALLOCATED(op) (((PyListObject *)(op))->allocated)

/* A new empty list with room for n items: PyList_New(n) followed by
 * Py_SET_SIZE(list, 0), less the zeroing of the n slots (a memset of 16 KB
 * for 2,000 items).  CPython's own list_new_prealloc (slicing, list(...))
 * leaves them unzeroed too: nothing reads a slot past the list's size
 * (list_dealloc, list_traverse and list_resize look at the first Py_SIZE
 * items only), and the caller stores an item before it counts it.  The
 * array is PyMem_Malloc'ed, what list_dealloc (PyMem_Free) and list_resize
 * (PyMem_Realloc) expect on GIL builds of 3.10-3.13; free-threaded builds
 * allocate it with a header of their own, so they keep PyList_New. */
static inline PyObject *
fc_list_new_capacity(Py_ssize_t n)
{
#ifdef Py_GIL_DISABLED
    PyObject *op = PyList_New(n);
    if (op != NULL) {
        Py_SET_SIZE(op, 0);
    }
    return op;
#else
    PyListObject *op = (PyListObject *)PyList_New(0);
    if (op == NULL || n <= 0) {
        return (PyObject *)op;
    }
    PyObject **items = (size_t)n > PY_SSIZE_T_MAX / sizeof(PyObject *)
                           ? NULL
                           : (PyObject **)PyMem_Malloc((size_t)n * sizeof(PyObject *));
    if (items == NULL) {
        Py_DECREF(op);
        return PyErr_NoMemory();
    }
    op->ob_item = items;
    op->allocated = n;
    return (PyObject *)op;
#endif
}

/* Append `v` (stolen) to a list being built, in the capacity reserved by
 * fc_list_new_capacity while it lasts (size and capacity are read again
 * each time, so Python code that changed the list meanwhile is seen), and
 * with PyList_Append past it. */
static inline int
fc_list_append_steal(PyObject *list, PyObject *v)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (n < FC_LIST_ALLOCATED(list)) {
        PyList_SET_ITEM(list, n, v);
        Py_SET_SIZE(list, n + 1);
        return 0;
    }
    int rc = PyList_Append(list, v);
    Py_DECREF(v);
    return rc;
}

/* y = object.__new__(tp), no arguments, for a class whose tp_new is
 * object's (STRAT_PLAIN_DICT).  On 3.11 and 3.12 object_new is tp_alloc
 * followed by _PyObject_InitializeDict, which gives a heap type's instance
 * an empty array of inline values.  The engine's next step with the new
 * object is to install or fill its __dict__ (PyObject_GenericSetDict, or
 * __dict__.update), and each of those first turns the inline values into
 * a dict object (_PyObject_GetDictPtr), which SetDict then drops: about
 * 650 of the 6,200 instructions of copying a 6-field dataclass on 3.11.
 * tp_alloc alone (the public allocator object_new itself calls) leaves
 * the instance with neither values nor a dict, the state CPython's own
 * code handles as "no __dict__ created yet" (getattr finds nothing,
 * setattr and __dict__ create the dict), so the dict is made once.  The
 * rest of object_new is argument checks (there are none) and the
 * abstract-class check, kept by calling tp_new for such classes.
 * with_values: the engine will write the attributes into the instance's
 * values array (PLAIN_INLINE, below), so object_new makes it.  3.13 and
 * later initialise inline values in the allocator: they use tp_new. */
static inline PyObject *
fc_new_plain_instance(PyTypeObject *tp, int with_values)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
    if (!with_values && !(tp->tp_flags & Py_TPFLAGS_IS_ABSTRACT) && tp->tp_alloc != NULL) {
        return tp->tp_alloc(tp, 0);
    }
#else
    (void)with_values;
#endif
    PyObject *noargs = PyTuple_New(0);
    if (noargs == NULL) {
        return NULL;
    }
    PyObject *y = tp->tp_new(tp, noargs, NULL);
    Py_DECREF(noargs);
    return y;
}

/* Can a new instance of tp be given a whole dict as its __dict__ with
 * PyObject_GenericSetDict?  Not when its attributes live in inline values
 * (3.13's Py_TPFLAGS_INLINE_VALUES): attribute lookups there keep reading
 * the (empty) inline values of a fresh object. */
static inline int
fc_can_set_dict(PyTypeObject *tp)
{
#ifdef Py_TPFLAGS_INLINE_VALUES
    return !(tp->tp_flags & Py_TPFLAGS_INLINE_VALUES);
#else
    (void)tp;
    return 1;
#endif
}

/* Is dict d's table split (an instance __dict__ whose keys are its class's
 * shared keys)?  PyDictObject.ma_values is a field of the non-limited
 * struct (cpython/dictobject.h), NULL for a combined table, in 3.10-3.13
 * (a PyObject ** in 3.10, a PyDictValues * since). */
static inline int
fc_dict_is_split(PyObject *d)
{
    return ((PyDictObject *)d)->ma_values != NULL;
}

/* In-place access to the value slots of a dict's combined table
 * ------------------------------------------------------------------
 * Used by Template replay only (template.c, r_fill_dict): a copy of a
 * prototype dict made by PyDict_Copy has its node values set afterwards.
 * Through the public API each one is a PyDict_SetItem, i.e. a hash-table
 * probe, a key comparison and the bookkeeping of insertdict (~150
 * instructions on 3.11) -- half of the replay of a dict-heavy graph.  The
 * replay knows the entry index of every such value (the prototype was
 * built in order), so it writes the slot directly, as the dict's own code
 * would when replacing the value of an existing key.
 *
 * This reads CPython's private dict-keys layout, mirrored below from
 * Include/internal/pycore_dict.h (struct _dictkeysobject, PyDictKeyEntry,
 * PyDictUnicodeEntry, DK_ENTRIES): identical in 3.11 to 3.15 GIL builds
 * (checked against the installed 3.11.7, 3.12.1 and 3.13.0 headers, and
 * Debian's 3.14.10 and 3.15.2).  Not used (and FC_HAS_DICT_SLOTS is 0, the
 * caller falls back to PyDict_SetItem) on 3.10 (a different layout),
 * free-threaded builds (an extra dk_mutex, and lock-free readers), and
 * versions after 3.15 until checked.
 *
 * Guards, so that a mismatch degrades to PyDict_SetItem and never writes
 * to the wrong place: the table must be combined (ma_values == NULL) with
 * exactly the expected number of entries and the expected keys kind, and
 * each slot's key must be the expected key object and its value the
 * placeholder (None).  Replacing a value of an existing key changes no
 * key, no index and no hash; what PyDict_SetItem does besides -- bump the
 * version tag, notify dict watchers, maintain GC tracking -- matters only
 * for a dict somebody else has seen (a fresh copy has no watchers, and
 * nobody holds its version); the caller tracks the dict itself. */
#if FC_PY311_PLUS && !FC_PY316_PLUS && !defined(Py_GIL_DISABLED)
#define FC_HAS_DICT_SLOTS 1

typedef struct {
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size;
    uint8_t dk_log2_index_bytes;
    uint8_t dk_kind;         /* 0 general, 1 unicode keys, 2 split */
    uint32_t dk_version;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];       /* then the entries */
} FcDictKeys;

typedef struct {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
} FcDictEntry;               /* dk_kind 0 */

typedef struct {
    PyObject *me_key;
    PyObject *me_value;
} FcDictUnicodeEntry;        /* dk_kind 1 */

/* The entries array of a keys object: after its index table. */
#define FC_DK_ENTRIES(dk) ((dk)->dk_indices + ((size_t)1 << (dk)->dk_log2_index_bytes))

/* The entries of dict d's combined table if it has exactly n entries, and
 * its keys kind (0 general, 1 unicode) in *kind; NULL otherwise. */
static inline char *
fc_dict_entries(PyObject *d, Py_ssize_t n, int *kind)
{
    PyDictObject *mp = (PyDictObject *)d;
    if (mp->ma_values != NULL) {
        return NULL;
    }
    FcDictKeys *dk = (FcDictKeys *)mp->ma_keys;
    if (dk->dk_kind > 1 || dk->dk_nentries != n) {
        return NULL;
    }
    *kind = dk->dk_kind;
    return FC_DK_ENTRIES(dk);
}

/* The value slot of entry e (< n of fc_dict_entries) if its key is `key`;
 * NULL otherwise. */
static inline PyObject **
fc_dict_value_slot(char *entries, int kind, Py_ssize_t e, PyObject *key)
{
    if (kind == 1) {
        FcDictUnicodeEntry *u = (FcDictUnicodeEntry *)entries + e;
        return u->me_key == key ? &u->me_value : NULL;
    }
    FcDictEntry *g = (FcDictEntry *)entries + e;
    return g->me_key == key ? &g->me_value : NULL;
}

/* The entries of dict d's combined table as an array of pointers (the
 * engine's DICT_PATCH, deepcopy.c): key i at (*ks)[i * stride], its value
 * right after it, for i < n (deleted entries have a NULL value); 1, or 0
 * for a table it cannot read (split, or another kind).  With
 * stride 2 (the unicode keys kind) every key is an exact str: CPython
 * keeps the kind so (insertdict turns the table into a general one before
 * it stores any other key, str subclasses included), so a caller that
 * needs "every key is an exact str" need not read each key's type. */
static inline int
fc_dict_view(PyObject *d, PyObject ***ks, Py_ssize_t *stride, Py_ssize_t *n)
{
    PyDictObject *mp = (PyDictObject *)d;
    FcDictKeys *dk = (FcDictKeys *)mp->ma_keys;
    if (mp->ma_values != NULL || dk->dk_kind > 1) {
        return 0;
    }
    /* &entries[0].me_key: the key is the first field of a unicode entry,
     * the second (after the hash) of a general one */
    *ks = (PyObject **)FC_DK_ENTRIES(dk) + (dk->dk_kind == 1 ? 0 : 1);
    *stride = dk->dk_kind == 1 ? 2 : 3;
    *n = dk->dk_nentries;
    return 1;
}

/* The engine's DICT_PATCH run (deepcopy.c, dict_patch_run): the key and
 * value slots of entry i of x and of y, a copy of x that nobody else has
 * seen, read side by side: key i at xs[i * stride], its value at
 * xs[i * stride + 1] (likewise ys), for i < n.  1 when both tables are
 * combined and of one keys kind (0 general: {hash, key, value} entries,
 * 1 unicode: {key, value}); 0 otherwise, and the caller takes the entry
 * by entry path.  The caller still checks, per entry, that y's key and
 * value are x's before writing y's value slot (the same guard as
 * fc_dict_replace_at). */
typedef struct {
    PyObject **xs, **ys;
    Py_ssize_t n;
    Py_ssize_t stride;
} FcDictPair;

_Static_assert(sizeof(FcDictEntry) == 3 * sizeof(PyObject *) &&
                   sizeof(FcDictUnicodeEntry) == 2 * sizeof(PyObject *),
               "dict entries are read as arrays of pointers (fc_dict_view)");

static inline int
fc_dict_pair(PyObject *x, PyObject *y, FcDictPair *p)
{
    Py_ssize_t ystride, yn;
    if (!fc_dict_view(x, &p->xs, &p->stride, &p->n) || !fc_dict_view(y, &p->ys, &ystride, &yn) ||
        ystride != p->stride) {
        return 0;
    }
    if (yn < p->n) {
        p->n = yn;
    }
    return 1;
}

/* The engine's DICT_PATCH (deepcopy.c): y = PyDict_Copy(x), then the value
 * of x's entry e (the position PyDict_Next reported, minus one) is replaced
 * by its copy.  When y's table is combined and entry e of it holds `key`
 * (true when PyDict_Copy cloned x's table, which keeps the entry order),
 * the slot is written directly: steals `value`, releases the old value
 * (the original's, which x still holds, so no destructor runs), returns 1.
 * Otherwise returns 0 and the caller uses PyDict_SetItem.  The caller
 * guarantees that nobody else has seen y (no Python code ran since the
 * copy: settled dicts leave DICT_PATCH), which is what makes skipping
 * PyDict_SetItem's version bump and watcher notification unobservable. */
static inline int
fc_dict_replace_at(PyObject *d, Py_ssize_t e, PyObject *key, PyObject *value)
{
    PyDictObject *mp = (PyDictObject *)d;
    if (mp->ma_values != NULL) {
        return 0;
    }
    FcDictKeys *dk = (FcDictKeys *)mp->ma_keys;
    if (dk->dk_kind > 1 || e < 0 || e >= dk->dk_nentries) {
        return 0;
    }
    char *entries = FC_DK_ENTRIES(dk);
    PyObject **slot = fc_dict_value_slot(entries, dk->dk_kind, e, key);
    if (slot == NULL || *slot == NULL) {
        return 0;
    }
    PyObject *old = *slot;
    *slot = value;
    Py_DECREF(old);
    return 1;
}

/* PyDict_Next(d, pos, key, value), read from the table directly when it is
 * combined: the loop _PyDict_Next runs for such a table (skip the entries
 * whose value is NULL, report the next one, *pos = its index + 1), without
 * the call, the type check and the hash output, about half of its cost
 * (PyDict_Next was a tenth of the instructions of copying JSON-like
 * records on 3.11).  The position means what it means to PyDict_Next for
 * the table's current form (an entry index for a combined table), and a
 * split table, whose positions are insertion-order indices, goes through
 * PyDict_Next itself, so the two can be mixed on one dict, as the callers
 * do.  Borrowed references, as PyDict_Next. */
static inline int
fc_dict_next_fast(PyObject *d, Py_ssize_t *pos, PyObject **key, PyObject **value)
{
    PyDictObject *mp = (PyDictObject *)d;
    FcDictKeys *dk = (FcDictKeys *)mp->ma_keys;
    if (mp->ma_values != NULL || dk->dk_kind > 1) {
        return PyDict_Next(d, pos, key, value);
    }
    Py_ssize_t i = *pos, n = dk->dk_nentries;
    char *entries = FC_DK_ENTRIES(dk);
    if (i < 0) {
        return 0;
    }
    if (dk->dk_kind == 1) {
        FcDictUnicodeEntry *u = (FcDictUnicodeEntry *)entries;
        for (; i < n; i++) {
            if (u[i].me_value != NULL) {
                *key = u[i].me_key;
                *value = u[i].me_value;
                *pos = i + 1;
                return 1;
            }
        }
    }
    else {
        FcDictEntry *g = (FcDictEntry *)entries;
        for (; i < n; i++) {
            if (g[i].me_value != NULL) {
                *key = g[i].me_key;
                *value = g[i].me_value;
                *pos = i + 1;
                return 1;
            }
        }
    }
    *pos = i;
    return 0;
}

/* The keys of a split table (an instance __dict__ sharing its class's
 * keys): the entries array and its length in *n, or NULL for any other
 * table.  A split table holds str keys only, and its keys object is the
 * class's, so it may list keys this dict has no value for: a superset of
 * the dict's keys, which is what plain_shadowed() needs (a false "maybe
 * shadowed" only sends it to the full check). */
static inline const FcDictUnicodeEntry *
fc_dict_split_keys(PyObject *d, Py_ssize_t *n)
{
    PyDictObject *mp = (PyDictObject *)d;
    FcDictKeys *dk = (FcDictKeys *)mp->ma_keys;
    if (mp->ma_values == NULL || dk->dk_kind != 2) {
        return NULL;
    }
    *n = dk->dk_nentries;
    return (const FcDictUnicodeEntry *)(FC_DK_ENTRIES(dk));
}

/* An instance's attributes written straight into its values array
 * ------------------------------------------------------------------
 * From 3.11 on, an instance of a plain class keeps its attributes in a
 * "values" array indexed like the class's shared keys (ht_cached_keys),
 * with an insertion-order array beside it; no dict object exists until
 * something asks for __dict__.  3.11 and 3.12 malloc that array
 * (object.__new__ does, _PyObject_InitializeDict) and point to it from
 * the pre-header; 3.13 keeps it inside the object ("inline values",
 * Py_TPFLAGS_INLINE_VALUES).  A dict made from it (x.__dict__) is a split
 * dict whose ma_values is that same array, in the same layout.
 *
 * The stdlib's y.__dict__.update(state) on a new instance materialises
 * y's dict, then inserts key by key (a lookup in the shared keys each),
 * and the dict then lives as long as y (on 3.13 its deallocation also
 * detaches it: a copy of the values).  When the state is a split dict on
 * the class's shared keys (x's own __dict__ always is), each value's
 * index is already known: the engine writes the copies into y's values
 * in the state's order, as setting each attribute on an instance with no
 * dict would (values[ix] = value, then ix appended to the order array).
 * What y then holds is what the update would have given it; only the
 * dict object is not made (it is made on demand later, as for any
 * instance whose __dict__ was never read).  Users: fc_set_inline_values
 * (3.13, a finished state dict) and the engine's PLAIN_INLINE phase
 * (deepcopy.c, no state dict at all).
 *
 * Layouts mirrored from each version's Include/internal/pycore_dict.h
 * (struct _dictvalues; the size byte and the reversed order array before
 * the values on 3.11/3.12, _PyDictValues_AddToInsertionOrder; capacity,
 * size, embedded, valid and the order array after the values on 3.13,
 * get_insertion_order_array) and pycore_object.h (3.11: values pointer
 * at -4 words, dict pointer at -3, _PyObject_ValuesPointer; 3.12: one
 * word at -3, the values pointer minus one when tagged with bit 0,
 * _PyDictOrValues_GetValues; 3.13: values at obj + sizeof(PyObject) for
 * a basicsize of sizeof(PyObject), dict pointer at -3 words; the same in
 * 3.14 and 3.15), checked against the installed 3.11.7, 3.12.1 and 3.13.0
 * headers and Debian's 3.14.10 and 3.15.2.  GIL builds of 3.11-3.15 only
 * (FC_HAS_DICT_SLOTS); elsewhere FC_HAS_INLINE_VALUES is 0 and the engine
 * does the update.  Guards, so that anything unexpected takes the update
 * instead: the class is a heap type with a managed dict (and inline
 * values from 3.13), the state's keys object is exactly its cached split
 * keys, every index the state uses is below the keys' entry count and y's
 * capacity, and y's values exist, are empty, and y has no dict yet. */
#define FC_HAS_INLINE_VALUES 1
#define FC_MANAGED_DICT_WORD(obj) (((void **)(obj))[-3])
/* The shared (split) keys a heap type's instances index their values by. */
#define FC_CACHED_KEYS(tp) ((FcDictKeys *)((PyHeapTypeObject *)(tp))->ht_cached_keys)

#if FC_PY313_PLUS
typedef struct {
    uint8_t capacity;
    uint8_t size;
    uint8_t embedded;
    uint8_t valid;
    PyObject *values[1];
} FcDictValues;
#define FC_VALUES_SIZE(v) ((v)->size)
#define FC_VALUES_ORDER(v) ((uint8_t *)&(v)->values[(v)->capacity])
#define FC_VALUES_ORDER_AT(v, i) (FC_VALUES_ORDER(v)[i])
#define FC_VALUES_TYPE_FLAGS (Py_TPFLAGS_INLINE_VALUES | Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_HEAPTYPE)

/* y's values if they are empty and y has no dict; NULL otherwise.
 * *room: how many values it can take. */
static inline FcDictValues *
fc_fresh_values(PyObject *y, Py_ssize_t *room)
{
    if (Py_TYPE(y)->tp_basicsize != (Py_ssize_t)sizeof(PyObject) ||
        FC_MANAGED_DICT_WORD(y) != NULL) {
        return NULL;
    }
    FcDictValues *yv = (FcDictValues *)((char *)y + sizeof(PyObject));
    if (!yv->valid || !yv->embedded || yv->size != 0) {
        return NULL;
    }
    *room = yv->capacity;
    return yv;
}

static inline void
fc_values_push(FcDictValues *yv, Py_ssize_t ix, PyObject *v)
{
    assert(ix < yv->capacity && yv->values[ix] == NULL && yv->size < yv->capacity);
    yv->values[ix] = v;
    FC_VALUES_ORDER(yv)[yv->size++] = (uint8_t)ix;
}

static inline void
fc_values_clear_size(FcDictValues *yv)
{
    yv->size = 0;
}
#else
typedef struct {
    PyObject *values[1];
} FcDictValues;
#define FC_VALUES_SIZE(v) (((uint8_t *)(v))[-2])
#define FC_VALUES_ORDER_AT(v, i) (((uint8_t *)(v))[-3 - (i)])
#define FC_VALUES_TYPE_FLAGS (Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_HEAPTYPE)

static inline FcDictValues *
fc_fresh_values(PyObject *y, Py_ssize_t *room)
{
#if FC_PY312_PLUS
    uintptr_t dorv = (uintptr_t)FC_MANAGED_DICT_WORD(y);
    if (!(dorv & 1)) {
        return NULL;            /* a dict, or nothing */
    }
    FcDictValues *yv = (FcDictValues *)(dorv + 1);
#else
    FcDictValues *yv = ((FcDictValues **)y)[-4];
    if (yv == NULL || FC_MANAGED_DICT_WORD(y) != NULL) {
        return NULL;
    }
#endif
    if (FC_VALUES_SIZE(yv) != 0) {
        return NULL;
    }
    /* the order array (before the size byte) bounds the count; the
     * values array has at least that many slots */
    *room = (Py_ssize_t)((uint8_t *)yv)[-1] - 2;
    return yv;
}

static inline void
fc_values_push(FcDictValues *yv, Py_ssize_t ix, PyObject *v)
{
    uint8_t n = FC_VALUES_SIZE(yv);
    assert(yv->values[ix] == NULL && n + 2 < ((uint8_t *)yv)[-1]);
    yv->values[ix] = v;
    FC_VALUES_ORDER_AT(yv, n) = (uint8_t)ix;
    FC_VALUES_SIZE(yv) = (uint8_t)(n + 1);
}

static inline void
fc_values_clear_size(FcDictValues *yv)
{
    FC_VALUES_SIZE(yv) = 0;
}
#endif

/* The values of split dict `state` if they can be written into a new
 * instance of tp (see above), with *n their count; NULL otherwise. */
static inline FcDictValues *
fc_state_values(PyTypeObject *tp, PyObject *state, Py_ssize_t *n)
{
    if ((tp->tp_flags & FC_VALUES_TYPE_FLAGS) != FC_VALUES_TYPE_FLAGS || !PyDict_CheckExact(state)) {
        return NULL;
    }
    PyDictObject *mp = (PyDictObject *)state;
    FcDictValues *sv = (FcDictValues *)mp->ma_values;
    FcDictKeys *dk = FC_CACHED_KEYS(tp);
    if (sv == NULL || dk == NULL || (void *)mp->ma_keys != (void *)dk || dk->dk_kind != 2 ||
        FC_VALUES_SIZE(sv) != mp->ma_used) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < mp->ma_used; i++) {
        Py_ssize_t ix = FC_VALUES_ORDER_AT(sv, i);
        if (ix >= dk->dk_nentries || sv->values[ix] == NULL) {
            return NULL;
        }
    }
    *n = mp->ma_used;
    return sv;
}

/* The values of y, a new instance of the state's class, if `n` values
 * with the state's indices fit in them (a capacity fixed when y was
 * made: no Python code may have run since); NULL otherwise. */
static inline FcDictValues *
fc_values_for(PyObject *y, FcDictValues *sv, Py_ssize_t n)
{
    Py_ssize_t room;
    FcDictValues *yv = fc_fresh_values(y, &room);
    if (yv == NULL || n > room) {
        return NULL;
    }
#if FC_PY313_PLUS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (FC_VALUES_ORDER_AT(sv, i) >= room) {
            return NULL;
        }
    }
#else
    /* 3.11/3.12 size y's array at the keys' entry count plus their usable
     * room when y is made, and fc_state_values checked every index is
     * below the entry count */
    (void)sv;
#endif
    return yv;
}

/* y's attributes := state's items, for a new y.  1 if done (values
 * INCREF'd into y), 0 if not applicable (nothing changed). */
static inline int
fc_set_inline_values(PyObject *y, PyObject *state)
{
    Py_ssize_t n;
    FcDictValues *sv = fc_state_values(Py_TYPE(y), state, &n);
    FcDictValues *yv = sv == NULL ? NULL : fc_values_for(y, sv, n);
    if (yv == NULL) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (yv->values[FC_VALUES_ORDER_AT(sv, i)] != NULL) {
            return 0;    /* checked before any store: y unchanged */
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t ix = FC_VALUES_ORDER_AT(sv, i);
        fc_values_push(yv, ix, Py_NewRef(sv->values[ix]));
    }
    return 1;
}

/* The values of y, an instance fc_values_for accepted and nothing else
 * has touched since (the engine's PLAIN_INLINE frames). */
static inline FcDictValues *
fc_obj_values(PyObject *y)
{
#if FC_PY313_PLUS
    return (FcDictValues *)((char *)y + sizeof(PyObject));
#elif FC_PY312_PLUS
    return (FcDictValues *)((uintptr_t)FC_MANAGED_DICT_WORD(y) + 1);
#else
    return ((FcDictValues **)y)[-4];
#endif
}

/* y.<key ix> = v for an attribute y does not have yet (steals v). */
static inline void
fc_inline_append(PyObject *y, Py_ssize_t ix, PyObject *v)
{
    fc_values_push(fc_obj_values(y), ix, v);
}

/* The key at index ix of tp's cached (split) keys: borrowed; a shared
 * keys object only ever grows, so it stays valid while tp lives. */
static inline PyObject *
fc_inline_key(PyTypeObject *tp, Py_ssize_t ix)
{
    return ((FcDictUnicodeEntry *)FC_DK_ENTRIES(FC_CACHED_KEYS(tp)))[ix].me_key;
}
#else
#define FC_HAS_DICT_SLOTS 0
#define fc_dict_replace_at(d, e, key, value) ((void)(d), (void)(e), (void)(key), (void)(value), 0)
#define fc_dict_next_fast(d, pos, key, value) PyDict_Next((d), (pos), (key), (value))
#endif
#ifndef FC_HAS_INLINE_VALUES
#define FC_HAS_INLINE_VALUES 0
typedef struct FcDictValues FcDictValues;   /* never defined: pointers only */
#endif

/* Critical sections (3.13+): on a free-threaded build they lock a
 * per-object mutex; on a GIL build, and before 3.13, they are plain blocks.
 * fastcopy takes them to serialise dispatch-table rebuilds (on the copy
 * module's dict) and to read objects other threads may change (a dict's
 * keys, an instance's slots, a bytearray's buffer); see "Threads and
 * free-threading" in docs/design.md for what is and is not covered. */
#if FC_PY313_PLUS
#define FC_BEGIN_CRITICAL_SECTION(op) Py_BEGIN_CRITICAL_SECTION(op)
#define FC_END_CRITICAL_SECTION() Py_END_CRITICAL_SECTION()
#else
#define FC_BEGIN_CRITICAL_SECTION(op) {
#define FC_END_CRITICAL_SECTION() }
#endif

/* x's instance __dict__ as it stands, without making one: 0 with a new
 * reference in *dict, or with NULL when x has no dict (yet); -1 on error.
 *
 * PyObject_GenericGetDict creates an empty dict for an object that has
 * none, and that changes the original: a C type's own __reduce__ reads the
 * dict slot (BaseException: (cls, args) becomes (cls, args, {});
 * functools.partial: the state's dict None becomes {}), so pickling the
 * original, and the copy made from that state, come out different.  The
 * stdlib never creates it: getattr(x, '__deepcopy__') and
 * object.__getstate__ only read what is there.  Where the dict pointer is
 * at a fixed offset (tp_dictoffset > 0: C types, and every class on 3.10)
 * the slot is read as the documented layout says, under x's critical
 * section (the lock PyObject_GenericSetDict takes on free-threaded
 * builds).  Other layouts, a class's managed dict (3.11+) and the negative
 * offsets of variable-size instances (subclasses of int, bytes, tuple),
 * go through PyObject_GenericGetDict: an empty dict made there is never
 * seen by Python code, since object.__getstate__ reports an empty dict as
 * no state, as it does a missing one.  Except that an instance without
 * attributes, whose inline values are empty and which has no dict object,
 * is answered from those values (3.11+ GIL builds, the layouts above):
 * a dict made for it would cost memory, and on 3.11/3.12 would show in
 * gc.get_referents(x). */
static inline int
fc_existing_dict(PyObject *x, PyObject **dict)
{
    Py_ssize_t off = Py_TYPE(x)->tp_dictoffset;
    if (off > 0) {
        FC_BEGIN_CRITICAL_SECTION(x);
        *dict = Py_XNewRef(*(PyObject **)((char *)x + off));
        FC_END_CRITICAL_SECTION();
        return 0;
    }
    if (off == 0) {
        *dict = NULL;
        return 0;
    }
#if FC_HAS_INLINE_VALUES
    /* an instance with empty inline values and no dict object has no
     * attributes: nothing to make (object.__getstate__ reads it as None) */
    Py_ssize_t room;
    if ((Py_TYPE(x)->tp_flags & FC_VALUES_TYPE_FLAGS) == FC_VALUES_TYPE_FLAGS &&
        fc_fresh_values(x, &room) != NULL) {
        *dict = NULL;
        return 0;
    }
#endif
    *dict = PyObject_GenericGetDict(x, NULL);
    return *dict == NULL ? -1 : 0;
}

/* Fill the new, empty bytearray y with the n bytes at s: 0, or -1 with
 * MemoryError (y is then still a valid empty bytearray).
 *
 * Why not PyByteArray_FromStringAndSize(s, n): when its byte buffer cannot
 * be allocated, it (3.10-3.13) drops the half-made object before setting
 * its export count, and the dealloc, reading that uninitialised field, may
 * print "SystemError: deallocated bytearray object has exported buffers"
 * beside the MemoryError.  An empty bytearray is complete from the start,
 * and a failed resize leaves it as it was.  The size allocated is the
 * same: n + 1 bytes, as for bytearray(b) and bytearray.copy(). */
static inline int
fc_bytearray_fill(PyObject *y, const char *s, Py_ssize_t n)
{
    if (n == 0) {
        return 0;
    }
    if (PyByteArray_Resize(y, n) < 0) {
        return -1;
    }
    memcpy(PyByteArray_AS_STRING(y), s, (size_t)n);
    return 0;
}

/* bytearray(x) for an exact bytearray: a new one with the same bytes, read
 * under x's critical section (another thread may resize the buffer). */
static inline PyObject *
fc_bytearray_copy(PyObject *x)
{
    PyObject *y = PyByteArray_FromStringAndSize(NULL, 0);
    if (y == NULL) {
        return NULL;
    }
    int rc;
    FC_BEGIN_CRITICAL_SECTION(x);
    rc = fc_bytearray_fill(y, PyByteArray_AS_STRING(x), PyByteArray_GET_SIZE(x));
    FC_END_CRITICAL_SECTION();
    if (rc < 0) {
        Py_DECREF(y);
        return NULL;
    }
    return y;
}

#endif /* FASTCOPY_COMPAT_H */
