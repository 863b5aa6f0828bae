/* deepcopy.c -- the deep-copy engine.
 *
 * How it works
 * ------------
 * The stdlib's deepcopy is a recursive function.  This engine does the same
 * walk with an explicit stack of Frames instead of the C stack, so nesting
 * depth is bounded only by FC_MAX_DEPTH (millions), never by the C stack.
 *
 *   visit(x)      decides how x is copied, in the stdlib's order:
 *                 atomic types -> memo -> copy._deepcopy_dispatch (list,
 *                 tuple, dict, bound method, third-party copiers) ->
 *                 classes -> __deepcopy__ -> set/frozenset/bytearray ->
 *                 the reduce protocol.  It either produces the copy at once
 *                 (V_DONE) or pushes a Frame whose children still need
 *                 copying (V_PUSHED).
 *   step_*(f)     advances one frame: copies its next children by calling
 *                 visit() on them; when a child pushes a frame, step
 *                 returns S_PUSHED and is re-entered later with the child's
 *                 copy as `incoming`.  When the frame is complete, step
 *                 returns S_DONE with the copy.
 *   run()         the loop: step the top frame, pop finished frames, hand
 *                 each result to the frame below.
 *
 * The memo
 * --------
 * Three modes (Copier.mode):
 *   MEMO_NATIVE   no memo was passed: a MemoTable keyed by address (memo.c).
 *                 Nothing outside the engine can see it, so atoms are never
 *                 looked up in it, and the keep-alive list is implicit (the
 *                 table owns its keys).
 *   MEMO_DICT     the memo is an exact dict: the caller's, or one the engine
 *                 made ("materialised") the first time Python code needed to
 *                 see the memo (a __deepcopy__ hook, a third-party copier, a
 *                 malformed reduce value handed to copy._reconstruct).  From
 *                 then on the dict is the only memo, used with the stdlib's
 *                 exact operations (keys id(x), keep-alive list at
 *                 memo[id(memo)]), because Python code may read or write it.
 *   MEMO_MAPPING  any other memo object: the same operations through the
 *                 mapping protocol (memo.get, memo[k] = v, memo[k]).
 *
 * References
 * ----------
 * A Frame owns every non-NULL PyObject* in it (x, y, a, b, c, d); popping a
 * frame releases them.  visit() borrows x and returns a new reference in
 * *out.  step_*() steals `incoming`.
 */
#include "deepcopy.h"
#include "dictiter.h"
#include "memo.h"
#include "reduce.h"
#include "known.h"

typedef enum { MEMO_NATIVE, MEMO_DICT, MEMO_MAPPING } MemoMode;

/* visit_dict copies the first value that needs it by calling visit()
 * directly, so a chain of dicts recurses on the C stack: at most this
 * deep (about 200 bytes a level), then the chain goes on in run()'s loop.
 * A deep chain of {"k": {...}} crashed with a stack overflow at about
 * 45,000 levels before this bound.  (The same for visit_list's first
 * item to copy was measured: deep_nesting -0.3%, config +1.4%.) */
#define FC_DICT_NEST_MAX 16

/* Copier.elide_extra while the root is visited: no reference count
 * equals 1 + held + this, so can_elide says no (the root's references are the
 * caller's) without a test of its own. */
#define FC_ROOT_EXTRA (PY_SSIZE_T_MIN / 2)

typedef enum {
    F_LIST,      /* x list, y copy, i next index */
    F_DICT,      /* x dict, y copy, i PyDict_Next pos, n size at start,
                    n2 items left; a key (orig) while its value is copied,
                    b value copy while the key is copied */
    F_TUPLE,     /* x tuple, i next index, n "some item changed"; the
                    copies of the items in held[] (up to FC_TUPLE_HELD
                    items), else in y, a new tuple being filled */
    F_SET,       /* x set/frozenset, a snapshot list, y list of copies;
                    n 1 for a frozendict (3.15, step_frozendict): a its
                    values and keys in the order they are copied, y the
                    dict of copies, b a value's copy */
    F_METHOD,    /* x bound method; its __self__ is being copied */
    F_PLAIN,     /* x instance of a STRAT_PLAIN_DICT class, y its copy,
                    a x's __dict__ (the state being copied) */
    F_REDUCE,    /* x original, a reduce value; see R_* phases */
    F_SLOTS      /* x instance of a STRAT_SLOTS class, y its copy; its
                    slot values and their copies are Copier.sl[n2 ..
                    n2 + n), i the next one to copy */
} FrameKind;
/* frame_pop's inline path covers the kinds up to F_TUPLE */
_Static_assert(F_LIST < F_TUPLE && F_DICT < F_TUPLE, "frame kinds out of order");

typedef enum {
    R_ARGS,      /* copying args[i] into b (a new tuple) */
    R_STATE,     /* copying the state */
    R_LIST,      /* b iterator over listiter */
    R_DICT_KEY,  /* b iterator over dictiter; c value (orig) */
    R_DICT_VAL   /* d key copy; c value (orig) being copied */
} ReducePhase;

typedef struct {
    uint8_t kind;
    uint8_t phase;
    uint8_t elided;    /* x is not in the memo table (see "Memo elision") */
    uint8_t lim;       /* PLAIN_INLINE: the indices y's values can take
                          (a shared keys object has at most 30 entries) */
    Py_ssize_t i, n, n2;
    PyObject *x, *y;
    union {
        struct {
            PyObject *a, *b, *c, *d;
        };
        PyObject *held[4];    /* F_TUPLE: the copies of a small tuple's items */
    };
} Frame;

/* A tuple of up to this many items is built once its items are copied,
 * from the copies its frame holds, as the stdlib's _deepcopy_tuple does
 * (and not at all when every item is its own copy); a longer one is
 * filled in place (see visit_tuple). */
#define FC_TUPLE_HELD 4

/* An original whose copy is finished, in the order the stdlib appends to
 * its keep-alive list.  y == NULL: x is in the memo table (borrowed, the
 * table owns it).  y != NULL: an elided entry, x and y borrowed until a
 * flush puts them in the table (no Python code runs before that, so x is
 * held by its original container and y by the copy being built: see
 * "memo elision" below); DONE_AS_DICT: y has since become an
 * instance's __dict__, so the memo must get a copy of it; DONE_AS_ATTRS
 * (3.11-3.15, the values path): y is now the instance whose attributes
 * the copy became (the copy itself is gone or never existed), so the memo
 * gets a copy of y's __dict__.  The flags are the low bits of `xf`
 * (objects are at least 8-byte aligned): 16 bytes an
 * entry, one per container of a pure-data copy, so its size is the
 * engine's main transient memory (see docs/design.md, "Memory"). */
typedef struct {
    uintptr_t xf;       /* x | flags */
    PyObject *y;
} DoneEntry;
#define DONE_AS_DICT ((uintptr_t)1)
#define DONE_AS_ATTRS ((uintptr_t)2)
#define DONE_X(e) ((PyObject *)((e)->xf & ~(DONE_AS_DICT | DONE_AS_ATTRS)))

/* A slot of an F_SLOTS frame: member offset, the original's value and its
 * copy (both owned), stored into the new object only when all are done. */
typedef struct {
    Py_ssize_t off;
    PyObject *v, *y;
} SlotItem;

#define FC_SMALL_FRAMES 16

typedef struct {
    FcState *st;
    MemoMode mode;
    int fast_atoms;          /* atoms may skip the memo lookup */
    int fast_hot;            /* fast_atoms, and str/int/float/bool/None are
                                atomic: test those five inline */
    /* With fast_hot: those five types (NULL otherwise, so that no type
     * matches), for visit_child's test: compared with a field of the
     * Copier, each is one instruction, where &PyLong_Type and the others
     * are each a load from the global offset table first. */
    PyTypeObject *hot[5];
    int memo_first;          /* native memo consulted before anything else
                                (mode == MEMO_NATIVE; see
                                copier_update_fast_atoms for 3.14+) */
    unsigned long atomic_gen; /* st->atomic_gen when the copy started */
    int fast_visit;          /* see visit_unheld */
    int patch_ok;            /* dicts may start in DICT_PATCH (visit_dict) */
    uint8_t stale;           /* STALE_*: what the next visit() must do
                                first (copier_wake) */
    PyObject *memo;          /* strong; MEMO_DICT / MEMO_MAPPING */
    PyObject *memo_id;       /* strong; id(memo) as an int */
    Frame *frames;           /* == small, or heap */
    Py_ssize_t depth, cap;
    Py_ssize_t reduce_depth; /* F_REDUCE frames on the stack */
    Py_ssize_t npatch;       /* F_DICT frames in DICT_PATCH on the stack */
    Py_ssize_t ninline;      /* F_PLAIN frames in PLAIN_INLINE on the stack */
    unsigned long ticks;
    MemoTable table;
    /* Native mode: the originals whose copies are finished, in the order
     * the stdlib would have appended them to its keep-alive list (borrowed:
     * the table owns them).  Only read if the memo is materialised. */
    DoneEntry *done;
    Py_ssize_t ndone, done_cap;
    /* Memo elision: whether it may happen at all (native memo, stdlib
     * tables, a GIL build), the number of frames on the stack that memoize
     * late (tuples, sets, reduce: a cycle may re-enter them; plus 1 while
     * elision is off, so that `late == 0` is the whole test), the frames
     * whose x is elided and still running (indices, LIFO), and the first
     * done entry that may still be elided. */
    int elide;
    Py_ssize_t late;
    Py_ssize_t *elided_frames;
    Py_ssize_t n_elided_frames, elided_cap;
    Py_ssize_t flush_from;
    Py_ssize_t elided_small[FC_SMALL_FRAMES];
    Py_ssize_t elide_extra;  /* refs the visit of the next child holds */
    int nest;                /* visit() calls under visit_dict's (at most
                                FC_DICT_NEST_MAX: the C stack) */
    uint8_t gc;              /* GC_*: the collector held off (gc_hold) */
    Py_ssize_t visits;       /* visit() calls: about the containers made */
    SlotItem *sl;            /* F_SLOTS frames' slots, LIFO like frames */
    Py_ssize_t nsl, slcap;
    SlotItem sl_small[FC_SMALL_FRAMES];
    DoneEntry done_small[FC_SMALL_FRAMES];
    Frame small[FC_SMALL_FRAMES];
} Copier;

/* Holding the garbage collector off between Python calls
 * ------------------------------------------------------------------
 * The engine lets Python code run only at points it chooses, and gets
 * ready for it first (memo_flush_if_needed: elided memo entries stored,
 * PLAIN_INLINE frames settled).  Between those points it relies on nothing
 * changing under it: a list's items read right after its copy is
 * allocated, a dict's table cloned by PyDict_Copy, an instance's values
 * walked in place.  Before 3.12, though, CPython runs a collection inside
 * the allocation that crosses the threshold, and a collection runs Python
 * code (gc.callbacks -- Hypothesis installs one --, finalizers, weakref
 * callbacks, and through them switches to other threads), which may
 * change the very containers being copied: 3.10/3.11's PyDict_Copy then
 * builds a dict whose size disagrees with its table (it reads the size
 * after allocating), and the thread stress test crashed in CI.  3.12+
 * only schedule the collection there, for the eval loop's next check: in
 * a copy that runs no Python code that is right after deepcopy returns,
 * when the collection walks the whole new copy, alive (1.5M of the 6.2M
 * instructions of a records_1000 copy on 3.13), to find nothing to free.
 *
 * So on every GIL build the engine holds collections off (PyGC_Disable;
 * on 3.12+ no collection is then scheduled) from its
 * first visit of a container until the next point where it lets Python
 * code run, releases them there (PyGC_Enable, if they were enabled), and
 * holds them again on the next visit.  Nothing is lost: the objects
 * allocated meanwhile are counted as usual, and the collection they call
 * for starts at the next container allocation made with collections on
 * (Python code's, the caller's, or fc_gc_checkpoint's at the start of a
 * later copy, once the holds have made FC_GC_OWED_MAX containers: without
 * it a loop of copies alone never collected; on 3.12+ the checkpoint runs
 * the collection it schedules at once).  Hooks always run with the
 * collector as the caller left it.  Not with a memo mapping that is not a
 * dict (every lookup is Python code) nor on free-threaded builds (there is
 * none before 3.13). */
enum { GC_UNMANAGED = 0, GC_RELEASED = 1, GC_HELD = 2, GC_HELD_WAS_OFF = 3 };
/* Copier.stale: hold the collector off again (it was released for Python
 * code, or not held yet); bring the tables up to date (copier_resync). */
enum { STALE_GC = 1, STALE_TABLES = 2 };

static inline void
gc_hold(Copier *c)
{
#if FC_GC_HOLD
    if (c->gc == GC_RELEASED) {
        c->gc = PyGC_Disable() ? GC_HELD : GC_HELD_WAS_OFF;
    }
#else
    (void)c;
#endif
}

static inline void
gc_release(Copier *c)
{
#if FC_GC_HOLD
    if (c->gc >= GC_HELD) {
        if (c->gc == GC_HELD) {
            PyGC_Enable();
        }
        c->gc = GC_RELEASED;
    }
#else
    (void)c;
#endif
}

typedef enum { V_DONE, V_PUSHED, V_ERROR, V_FALLBACK } VisitResult;
typedef enum { S_DONE, S_PUSHED, S_ERROR } StepResult;

static VisitResult visit(Copier *c, PyObject *x, PyObject **out, int memo_checked);
static int dict_truncate(PyObject *y, Py_ssize_t keep);
enum { DICT_EXACT = 0, DICT_PATCH = 1 };
/* F_PLAIN phases (see step_plain and step_plain_inline) */
enum { PLAIN_DICT = 0, PLAIN_INLINE = 1, PLAIN_STATE = 2 };

/* ------------------------------------------------------------------ */
/* memo operations (stdlib spelling in the comments)                  */

static inline void copier_mark_stale(Copier *c);

static inline void
copier_update_fast_atoms(Copier *c)
{
    /* Before 3.14 the memo is consulted before the atomic check, so atoms
     * may skip it only when nobody else can have written to the memo. */
    c->fast_atoms = c->st->atomic_first ||
                    (c->mode == MEMO_NATIVE && FC_LOAD(c->st->deep_overrides) == NULL);
    c->fast_hot = c->fast_atoms && c->st->hot_atomic;
    c->hot[0] = c->fast_hot ? &PyLong_Type : NULL;
    c->hot[1] = c->fast_hot ? &PyUnicode_Type : NULL;
    c->hot[2] = c->fast_hot ? &PyFloat_Type : NULL;
    c->hot[3] = c->fast_hot ? &PyBool_Type : NULL;
    c->hot[4] = c->fast_hot ? Py_TYPE(Py_None) : NULL;
    /* 3.14+ test the atomic types before the memo, but the native memo
     * holds no atom (the engine memoizes what it copies, never an atom),
     * so consulting it first gives the same answer -- unless a type was
     * made atomic since the copy started (Python code it ran added one to
     * copy._atomic_types) and an object of that type is in the table: the
     * stdlib would now return the object itself, not its copy.  From such
     * a change on, the memo comes second. */
    c->memo_first = c->mode == MEMO_NATIVE &&
                    (!c->st->atomic_first || c->st->atomic_gen == c->atomic_gen);
    /* visit_unheld's list and dict path: the stdlib's dispatch table has
     * its own entries only, the native memo comes first, and lists and
     * dicts are not atomic (3.14+: fast_atoms holds with any dispatch
     * table, and somebody may have added list or dict to the atomic types) */
    c->fast_visit = c->memo_first && c->fast_atoms && FC_LOAD(c->st->deep_overrides) == NULL &&
                    !c->st->atomic_custom;
    c->patch_ok = !FC_FREE_THREADED && c->mode == MEMO_NATIVE && c->fast_hot;
    if (c->stale & STALE_TABLES) {
        copier_mark_stale(c);   /* (defined below) until copier_resync */
    }
#ifdef Py_GIL_DISABLED
    int elide = 0;    /* reference counts are not a sound test there */
#else
    int elide = c->fast_atoms && c->mode == MEMO_NATIVE;
#endif
    c->late += c->elide - elide;    /* `late` counts "elision off" as one */
    c->elide = elide;
}

/* fc_is_hot_atomic(c->st, tp) where c->fast_hot holds (a DICT_PATCH
 * frame's keys); otherwise no type matches, which only makes the frame
 * fall back to DICT_EXACT. */
static inline int
copier_is_hot(const Copier *c, PyTypeObject *tp)
{
    return tp == c->hot[0] || tp == c->hot[1] || tp == c->hot[2] || tp == c->hot[3] ||
           tp == c->hot[4];
}

/* fc_is_deep_atomic(c->st, tp), for the engine's scans of a container's
 * items: the five hot types are compared with the Copier's fields (no
 * load from the global offset table, see `hot`), and a list, dict, tuple
 * or instance of a class is rejected by one flags test. */
static inline int
copier_is_atomic(const Copier *c, PyTypeObject *tp)
{
    if (tp == c->hot[0] || tp == c->hot[1]) {
        return 1;                          /* int, str: most atoms */
    }
    if (tp->tp_flags & c->st->non_atomic_flags) {
        return 0;           /* no atom has these flags: the other three */
    }                       /* compares are skipped for a container */
    if (tp == c->hot[2] || tp == c->hot[3] || tp == c->hot[4]) {
        return 1;
    }
    return fc_is_deep_atomic(c->st, tp);   /* hot[] empty, or another atom */
}

/* copier_is_hot for a container's child: a list, dict, tuple or instance
 * is rejected after two compares by the flags test (no hot type has those
 * flags), where the five compares cost more. */
static inline int
copier_child_is_hot(const Copier *c, PyTypeObject *tp)
{
    return tp == c->hot[0] || tp == c->hot[1] ||
           (!(tp->tp_flags & c->st->non_atomic_flags) &&
            (tp == c->hot[2] || tp == c->hot[3] || tp == c->hot[4]));
}

/* Python code may run next (memo_flush_if_needed): it may change the
 * dispatch tables (copy._deepcopy_dispatch, copyreg.dispatch_table),
 * and the stdlib honours the change from the next object on.  The hot
 * types are cleared, so that the next child goes through visit(), which
 * resyncs first (copier_wake); step_dict's DICT_PATCH loop, the one fast
 * path outside visit() that survives a flush, resyncs when its key test
 * fails on a stale Copier (the cleared hot types make it fail). */
static inline void
copier_mark_stale(Copier *c)
{
    c->stale |= STALE_TABLES;
    c->hot[0] = c->hot[1] = c->hot[2] = c->hot[3] = c->hot[4] = NULL;
    if (c->st->atomic_first) {
        /* 3.14+: the code may make a type atomic, and the atomic check
         * comes before the memo: no memo lookup before the resync tells
         * (copier_update_fast_atoms) */
        c->memo_first = 0;
    }
}

/* After Python code: the module state brought up to date with the
 * dispatch tables (fc_state_sync: O(1) when nothing changed), and the
 * fast-path fields recomputed from it.  0 or -1. */
static int
copier_resync(Copier *c)
{
    c->stale &= (uint8_t)~STALE_TABLES;
    if (fc_state_sync(c->st) < 0) {
        return -1;
    }
    copier_update_fast_atoms(c);
    return 0;
}

/* visit()'s first step when c->stale is set: the tables brought up to
 * date, then the collector held off.  0 or -1. */
static FC_NOINLINE int
copier_wake(Copier *c)
{
    if ((c->stale & STALE_TABLES) && copier_resync(c) < 0) {
        return -1;
    }
    if (c->stale & STALE_GC) {
        c->stale &= (uint8_t)~STALE_GC;
        gc_hold(c);
    }
    return 0;
}

/* y = memo.get(id(x), _nil) (3.15: `if d in memo: y = memo[d]`); 1 found
 * (*y new ref), 0 missing, -1 error */
static int
memo_get(Copier *c, PyObject *x, PyObject **y)
{
    if (c->mode == MEMO_NATIVE) {
        PyObject *v = memo_lookup(&c->table, x);
        if (v != NULL) {
            *y = Py_NewRef(v);
            return 1;
        }
        return 0;
    }
    PyObject *key = PyLong_FromVoidPtr(x);
    if (key == NULL) {
        return -1;
    }
    int rc;
    if (c->mode == MEMO_DICT) {
        rc = fc_dict_getitem(c->memo, key, y);
    }
    else {
#if FC_MEMO_CONTAINS
        /* 3.15: if d in memo: return memo[d] */
        rc = PySequence_Contains(c->memo, key);
        if (rc > 0) {
            *y = PyObject_GetItem(c->memo, key);
            rc = *y == NULL ? -1 : 1;
        }
#else
        PyObject *r = PyObject_CallMethodObjArgs(c->memo, c->st->s_get, key,
                                                 c->st->nil, NULL);
        if (r == NULL) {
            rc = -1;
        }
        else if (r == c->st->nil) {
            Py_DECREF(r);
            rc = 0;
        }
        else {
            *y = r;
            rc = 1;
        }
#endif
    }
    Py_DECREF(key);
    return rc;
}

/* memo[id(x)], KeyError meaning "missing" (the recursive-tuple check) */
static int
memo_getitem(Copier *c, PyObject *x, PyObject **y)
{
    if (c->mode != MEMO_MAPPING) {
        return memo_get(c, x, y);
    }
    PyObject *key = PyLong_FromVoidPtr(x);
    if (key == NULL) {
        return -1;
    }
    PyObject *r = PyObject_GetItem(c->memo, key);
    Py_DECREF(key);
    if (r == NULL) {
        if (PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    *y = r;
    return 1;
}

/* memo[id(x)] = y */
static int
memo_put(Copier *c, PyObject *x, PyObject *y)
{
    if (c->mode == MEMO_NATIVE) {
        return memo_insert(&c->table, x, y);
    }
    PyObject *key = PyLong_FromVoidPtr(x);
    if (key == NULL) {
        return -1;
    }
    int rc = (c->mode == MEMO_DICT) ? PyDict_SetItem(c->memo, key, y)
                                    : PyObject_SetItem(c->memo, key, y);
    Py_DECREF(key);
    return rc;
}

static int memo_flush_if_needed(Copier *c);

/* try:  memo[id(memo)].append(x)
 * except KeyError:  memo[id(memo)] = [x]          (copy._keep_alive) */
static int
memo_keep_alive(Copier *c, PyObject *x)
{
    PyObject *lst = NULL;
    if (c->mode == MEMO_DICT) {
        if (fc_dict_getitem(c->memo, c->memo_id, &lst) < 0) {
            return -1;
        }
    }
    else {
        lst = PyObject_GetItem(c->memo, c->memo_id);
        if (lst == NULL && !PyErr_ExceptionMatches(PyExc_KeyError)) {
            return -1;
        }
    }
    if (lst != NULL) {
        int rc;
        if (PyList_CheckExact(lst)) {
            rc = PyList_Append(lst, x);
        }
        else if (memo_flush_if_needed(c) < 0) {    /* Python code next */
            rc = -1;
        }
        else {
            PyObject *r = PyObject_CallMethodOneArg(lst, c->st->s_append, x);
            rc = r == NULL ? -1 : 0;
            Py_XDECREF(r);
        }
        Py_DECREF(lst);
        if (rc == 0) {
            return 0;
        }
        if (!PyErr_ExceptionMatches(PyExc_KeyError)) {
            return -1;
        }
    }
    PyErr_Clear();
    PyObject *fresh = PyList_New(1);
    if (fresh == NULL) {
        return -1;
    }
    PyList_SET_ITEM(fresh, 0, Py_NewRef(x));
    int rc = PyObject_SetItem(c->memo, c->memo_id, fresh);
    Py_DECREF(fresh);
    return rc;
}

/* Grow one of the Copier's arrays that start in an inline buffer
 * (frames, the done log, the elided frames, slot items) to at least
 * `need` elements of `size` bytes, doubling: returns the new block (the
 * caller stores it; arr == small: it gets the inline contents) and sets
 * *cap, or NULL with MemoryError (arr unchanged).  Leaving the inline
 * buffer, the block kept in `scratch` (may be NULL) is taken if it is
 * large enough, with all its room. */
static void *
grow_array(void *arr, const void *small, Py_ssize_t *cap, Py_ssize_t need, size_t size,
           FcScratch *scratch)
{
    Py_ssize_t ncap = *cap * 2;
    while (ncap < need) {
        ncap *= 2;
    }
    if ((size_t)ncap > PY_SSIZE_T_MAX / size) {
        PyErr_NoMemory();
        return NULL;
    }
    size_t kept;
    void *fresh = arr == small ? fc_scratch_take(scratch, (size_t)ncap * size, &kept) : NULL;
    if (fresh != NULL) {
        memcpy(fresh, small, (size_t)*cap * size);
        *cap = (Py_ssize_t)(kept / size);
        return fresh;
    }
    fresh = arr == small ? PyMem_Malloc((size_t)ncap * size)
                         : PyMem_Realloc(arr, (size_t)ncap * size);
    if (fresh == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (arr == small) {
        memcpy(fresh, small, (size_t)*cap * size);
    }
    *cap = ncap;
    return fresh;
}

static FC_NOINLINE int
done_grow(Copier *c)
{
    DoneEntry *nd = grow_array(c->done, c->done_small, &c->done_cap, c->ndone + 1,
                               sizeof(DoneEntry), &c->st->scratch[FC_SCRATCH_DONE]);
    if (nd == NULL) {
        return -1;
    }
    c->done = nd;
    return 0;
}

/* Append to the done log; y != NULL: an elided entry (x, y borrowed). */
FC_ALWAYS_INLINE int
done_log(Copier *c, PyObject *x, PyObject *y)
{
    if (c->ndone == c->done_cap && done_grow(c) < 0) {
        return -1;
    }
    DoneEntry *e = &c->done[c->ndone++];
    e->xf = (uintptr_t)x;
    e->y = y;
    return 0;
}

/* ------------------------------------------------------------------ */
/* memo elision                                                       */
/*
 * The stdlib memoizes every container it copies.  The memo answers two
 * questions: "was x already copied?" (sharing, cycles), and, for Python
 * code given the memo, "what does the memo hold?".  An object x that the
 * engine reaches through a container holding the only reference to it
 * (Py_REFCNT(x) == 1 before the engine's own reference) can be reached
 * again during this copy only if
 *   (a) the walk re-enters a container on the stack that is memoized only
 *       after its items are copied (a tuple, a set, a reduce value's
 *       arguments): a cycle through it copies its items again; or
 *   (b) Python code creates a new reference to x and hands it to the walk
 *       (a reducer returning it, a __deepcopy__ hook copying it, ...).
 * (A cycle back to x itself needs a second reference to x.)  So such an x
 * is not put in the memo table when no late-memoizing frame is on the
 * stack (c->late == 0), and before any Python code can run (memo_flush's
 * callers) every elided entry -- the containers still being filled and
 * the finished ones of the done log -- is put in the table, after which
 * the memo is exactly the stdlib's.  Only the root is never elided (its
 * references are the caller's).  Free-threaded builds never elide.
 */

static inline int
can_elide(Copier *c, PyObject *x, int held)
{
    /* The container x came from holds one reference, elide_extra more
     * (a DICT_PATCH copy holding the value too), and held says whether
     * the visit holds one (all but visit_unheld's list and dict path).
     * c->late is also 1 more while c->elide is off, and elide_extra is
     * FC_ROOT_EXTRA while the root is visited, so that the test is two
     * compares. */
    return c->late == 0 && Py_REFCNT(x) == 1 + held + c->elide_extra;
}

static FC_NOINLINE int
elided_frames_grow(Copier *c)
{
    Py_ssize_t *nd = grow_array(c->elided_frames, c->elided_small, &c->elided_cap,
                                c->n_elided_frames + 1, sizeof(Py_ssize_t),
                                &c->st->scratch[FC_SCRATCH_ELIDED]);
    if (nd == NULL) {
        return -1;
    }
    c->elided_frames = nd;
    return 0;
}

/* Mark the frame just pushed as elided. */
FC_ALWAYS_INLINE int
elided_frame_push(Copier *c, Frame *f)
{
    if (c->n_elided_frames == c->elided_cap && elided_frames_grow(c) < 0) {
        return -1;
    }
    f->elided = 1;
    c->elided_frames[c->n_elided_frames++] = c->depth - 1;     /* f's index */
    return 0;
}

static int settle_inline(Copier *c);

/* memo[id(x)] = v for the elided done entry e (x, borrowed), after which
 * e is an ordinary entry: the table holds x.  0 or -1 (e cleared either
 * way: after an error the log is not read again). */
static int
done_to_table(Copier *c, DoneEntry *e, PyObject *v)
{
    PyObject *x = DONE_X(e);
    e->xf = (uintptr_t)x;
    e->y = NULL;
    return memo_insert(&c->table, x, v);
}

/* Put every elided entry in the memo table.  0 or -1. */
static int
memo_flush(Copier *c)
{
    if (settle_inline(c) < 0) {
        return -1;
    }
    for (Py_ssize_t k = 0; k < c->n_elided_frames; k++) {
        Frame *f = &c->frames[c->elided_frames[k]];
        if (memo_insert(&c->table, f->x, f->y) < 0) {
            return -1;
        }
        f->elided = 0;
    }
    c->n_elided_frames = 0;
    for (Py_ssize_t i = c->flush_from; i < c->ndone; i++) {
        DoneEntry *e = &c->done[i];
        if (e->y == NULL) {
            continue;
        }
        PyObject *v = e->y;
        if (e->xf & DONE_AS_DICT) {
            v = PyDict_Copy(e->y);
            if (v == NULL) {
                return -1;
            }
        }
        else if (e->xf & DONE_AS_ATTRS) {
            PyObject *d = PyObject_GenericGetDict(e->y, NULL);
            v = d == NULL ? NULL : PyDict_Copy(d);
            Py_XDECREF(d);
            if (v == NULL) {
                return -1;
            }
        }
        int copied = v != e->y;
        int rc = done_to_table(c, e, v);
        if (copied) {
            Py_DECREF(v);
        }
        if (rc < 0) {
            return -1;
        }
    }
    c->flush_from = c->ndone;
    return 0;
}

/* (out of line: called on the rare paths before Python code) */
static FC_NOINLINE int
memo_flush_if_needed(Copier *c)
{
    int rc = 0;
    if (c->n_elided_frames != 0 || c->flush_from != c->ndone || c->ninline != 0) {
        rc = memo_flush(c);
    }
    gc_release(c);       /* ready: Python code may run next */
    copier_mark_stale(c);
    if (c->gc == GC_RELEASED) {
        c->stale |= STALE_GC;
    }
    return rc;
}

/* The end of the stdlib's deepcopy():
 *     if y is not x: memo[id(x)] = y; _keep_alive(x, memo)
 * `stored` says the copier already did memo[id(x)] = y (lists, dicts,
 * reduce): the native table needs nothing more then. */
FC_ALWAYS_INLINE int
memo_finish(Copier *c, PyObject *x, PyObject *y, int stored)
{
    if (y == x) {
        return 0;
    }
    if (c->mode == MEMO_NATIVE) {
        if (!stored && memo_insert(&c->table, x, y) < 0) {
            return -1;
        }
        if (done_log(c, x, NULL) < 0) {
            return -1;
        }
        return 0;
    }
    if (memo_put(c, x, y) < 0) {
        return -1;
    }
    return memo_keep_alive(c, x);
}

/* memo_finish for an elided x: log (x, y), borrowed, for a later flush. */
FC_ALWAYS_INLINE int
memo_finish_elided(Copier *c, PyObject *x, PyObject *y)
{
    if (y == x) {
        return 0;
    }
    return done_log(c, x, y);
}

/* Before Python code that may see copies runs: make every dict copy in
 * progress what the stdlib would have built so far (see step_dict): a
 * DICT_PATCH frame's copy is cut back to the entries already done and the
 * frame continues in DICT_EXACT.  Returns 0, or -1 with an exception set. */
static int
copier_settle_dicts(Copier *c)
{
    for (Py_ssize_t k = c->depth - 1; k >= 0 && c->npatch > 0; k--) {
        Frame *f = &c->frames[k];
        if (f->kind == F_DICT && f->phase == DICT_PATCH) {
            /* entries done: fetched (n - n2) minus the one in progress */
            if (dict_truncate(f->y, f->n - f->n2 - (f->a != NULL)) < 0) {
                return -1;
            }
            f->phase = DICT_EXACT;
            c->npatch--;
        }
    }
    return 0;
}

/* A memo Python code can be given.  In native mode this turns the table
 * into a dict (see the header comment).  Borrowed reference or NULL. */
static PyObject *
memo_for_python(Copier *c)
{
    if (c->mode != MEMO_NATIVE) {
        return c->memo;
    }
    if (memo_flush_if_needed(c) < 0 || copier_settle_dicts(c) < 0) {
        return NULL;
    }
    PyObject *dict = PyDict_New();
    if (dict == NULL) {
        return NULL;
    }
    /* {id(original): copy} for every entry, and the keep-alive list of the
     * copies finished so far, in the stdlib's order */
    PyObject *keep = memo_export(&c->table, dict) < 0 ? NULL : PyList_New(c->ndone);
    for (Py_ssize_t i = 0; keep != NULL && i < c->ndone; i++) {
        PyList_SET_ITEM(keep, i, Py_NewRef(DONE_X(&c->done[i])));
    }
    PyObject *id = PyLong_FromVoidPtr(dict);
    if (keep == NULL || id == NULL || PyDict_SetItem(dict, id, keep) < 0) {
        Py_XDECREF(keep);
        Py_XDECREF(id);
        Py_DECREF(dict);
        return NULL;
    }
    Py_DECREF(keep);
    c->memo = dict;
    c->memo_id = id;
    c->mode = MEMO_DICT;
    copier_update_fast_atoms(c);
    return dict;
}

/* ------------------------------------------------------------------ */
/* the frame stack                                                    */

/* frame_push's rare work: a full stack, or the periodic signal check. */
static FC_NOINLINE int
frame_push_slow(Copier *c)
{
    if (c->depth == c->cap) {
        if (c->cap >= FC_MAX_DEPTH) {
            PyErr_Format(PyExc_RecursionError,
                         "maximum recursion depth exceeded in deepcopy "
                         "(fastcopy follows at most %zd nested containers)",
                         (Py_ssize_t)FC_MAX_DEPTH);
            return -1;
        }
        Frame *nf = grow_array(c->frames, c->small, &c->cap, c->depth + 1, sizeof(Frame),
                               &c->st->scratch[FC_SCRATCH_FRAMES]);
        if (nf == NULL) {
            return -1;
        }
        c->frames = nf;
    }
    if ((c->ticks & 0x3FFF) == 0 &&
        (memo_flush_if_needed(c) < 0 || PyErr_CheckSignals() < 0)) {
        return -1;    /* (a signal handler is Python code) */
    }
    return 0;
}

FC_ALWAYS_INLINE Frame *
frame_push(Copier *c, FrameKind kind, PyObject *x)
{
    c->ticks++;
    /* x first: frame_push_slow may run a signal handler, which may drop
     * the last other reference to x (visit_unheld's list and dict path
     * holds none) */
    Py_INCREF(x);
    if ((c->depth == c->cap || (c->ticks & 0x3FFF) == 0) && frame_push_slow(c) < 0) {
        Py_DECREF(x);
        return NULL;
    }
    Frame *f = &c->frames[c->depth++];
    f->kind = (uint8_t)kind;
    f->phase = 0;
    f->elided = 0;
    if (kind == F_TUPLE || kind == F_SET || kind == F_REDUCE) {
        c->late++;
    }
    f->i = f->n = f->n2 = 0;
    f->x = x;                   /* (the reference taken above) */
    f->y = f->a = f->b = f->c = f->d = NULL;
    return f;
}

static FC_NOINLINE void
frame_pop_any(Copier *c)
{
    Frame f = c->frames[--c->depth];
    if (f.kind == F_REDUCE || f.kind == F_PLAIN || f.kind == F_SLOTS) {
        c->reduce_depth--;
    }
    if (f.kind == F_SLOTS) {
        for (Py_ssize_t k = f.n2; k < c->nsl; k++) {
            Py_XDECREF(c->sl[k].v);
            Py_XDECREF(c->sl[k].y);
        }
        c->nsl = f.n2;
    }
    if (f.kind == F_TUPLE || f.kind == F_SET || f.kind == F_REDUCE) {
        c->late--;
    }
    if (f.elided && f.kind != F_TUPLE) {
        /* unwinding after an error: the frame is the newest elided one */
        c->n_elided_frames--;
    }
    if (f.kind == F_DICT && f.phase == DICT_PATCH) {
        c->npatch--;
    }
    if (f.kind == F_PLAIN && f.phase == PLAIN_INLINE) {
        c->ninline--;
    }
    /* release after popping: a __del__ may run */
    Py_XDECREF(f.x);
    Py_XDECREF(f.y);
    Py_XDECREF(f.a);
    Py_XDECREF(f.b);
    Py_XDECREF(f.c);
    Py_XDECREF(f.d);
}

/* Pop the newest frame.  A list, dict or tuple frame that finished needs
 * no bookkeeping but a DICT_PATCH count or the tuple's `late` count (a
 * finished list or dict frame is no longer elided: frame_finish clears
 * the mark; a tuple's mark is not counted anywhere): that common case is
 * inline, the rest is frame_pop_any's. */
FC_ALWAYS_INLINE void
frame_pop(Copier *c)
{
    Frame *f = &c->frames[c->depth - 1];
    uint8_t kind = f->kind;
    if (kind > F_TUPLE || (f->elided && kind != F_TUPLE)) {
        frame_pop_any(c);
        return;
    }
    c->depth--;
    if (kind == F_TUPLE) {
        c->late--;
    }
    else if (kind == F_DICT && f->phase == DICT_PATCH) {
        c->npatch--;
    }
    PyObject *x = f->x, *y = f->y, *a = f->a, *b = f->b, *fc = f->c, *d = f->d;
    /* release after popping: a __del__ may run */
    Py_XDECREF(x);
    Py_XDECREF(y);
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(fc);
    Py_XDECREF(d);
}

/* Pop the newest frame, whose step just returned S_DONE.  A finished list
 * or dict frame (GIL builds) holds x only: its copy was handed out, a dict
 * frame clears a and b as each entry finishes (c and d hold items on
 * free-threaded builds only), frame_finish cleared the elided mark, and
 * phase is 0 but for a dict in DICT_PATCH.  The rest is frame_pop's. */
FC_ALWAYS_INLINE void
frame_pop_done(Copier *c)
{
    Frame *f = &c->frames[c->depth - 1];
    if (!FC_FREE_THREADED && f->kind <= F_DICT) {
        assert(f->y == NULL && f->a == NULL && f->b == NULL && f->c == NULL &&
               f->d == NULL && !f->elided);
        _Static_assert(F_LIST == 0 && F_DICT == 1 && DICT_PATCH == 1 && DICT_EXACT == 0,
                       "frame_pop_done's kind and phase tests");
        c->depth--;
        c->npatch -= f->phase;      /* 1 for a DICT_PATCH dict */
        Py_DECREF(f->x);            /* (after popping: a __del__ may run) */
        return;
    }
    frame_pop(c);
}

/* Append a new reference to a list being built, using the capacity
 * preallocated by fc_list_new_capacity(n).  Steals `v`. */
static inline int
list_append_steal(PyObject *list, PyObject *v)
{
#ifdef Py_GIL_DISABLED
    if (v == NULL) {
        return 0;      /* visit_list_item: the item was gone */
    }
#endif
    return fc_list_append_steal(list, v);
}

/* ------------------------------------------------------------------ */
/* frames                                                             */

/* The memo epilogue of a finished list, dict or instance frame (memoized
 * when it started, unless elided). */
FC_ALWAYS_INLINE int
frame_finish(Copier *c, Frame *f)
{
    if (f->elided) {
        f->elided = 0;
        c->n_elided_frames--;     /* it is the newest elided frame */
        return memo_finish_elided(c, f->x, f->y);
    }
    return memo_finish(c, f->x, f->y, 1);
}

/* Copy child `x` on behalf of the frame at index fi.  On V_DONE *out holds
 * the copy, and *hit says whether it came from the native memo table as it
 * stands (x is a key of it, *out its value); on V_PUSHED the frame must
 * return S_PUSHED at once (the stack may have moved). */
static inline VisitResult visit_child_nonhot(Copier *c, PyObject *x, PyObject **out, int *hit);
#ifndef Py_GIL_DISABLED
static VisitResult visit_list_unheld(Copier *c, PyObject *x, PyObject **out);
static VisitResult visit_dict_unheld(Copier *c, PyObject *x, PyObject **out);
#endif

/* visit(x) for x borrowed from a container, the native memo consulted if
 * `checked`.  Python code run by the visit may drop the container's
 * reference, so visit() runs with one of our own -- but for a list or a
 * dict with that memo consulted, the tables in sync and the collector
 * held (c->stale clear): no Python code runs there before the frame
 * pushed for x holds it (frame_push takes its reference before the one
 * thing in it that can run Python code, the periodic signal check), and
 * that saves an increment and a decrement a container (about 11
 * instructions on 3.12+, where they test for immortal objects).  GIL
 * builds: elsewhere other threads may drop x at any time. */
FC_ALWAYS_INLINE VisitResult
visit_unheld(Copier *c, PyObject *x, PyObject **out, int checked)
{
#ifndef Py_GIL_DISABLED
    if (checked && c->fast_visit && !c->stale) {
        PyTypeObject *tp = Py_TYPE(x);
        if (tp == &PyList_Type) {
            return visit_list_unheld(c, x, out);
        }
        if (tp == &PyDict_Type) {
            return visit_dict_unheld(c, x, out);
        }
    }
#endif
    Py_INCREF(x);
    VisitResult v = visit(c, x, out, checked);
    Py_DECREF(x);
    return v;
}

static inline VisitResult
visit_child_hit(Copier *c, PyObject *x, PyObject **out, int *hit)
{
    if (copier_child_is_hot(c, Py_TYPE(x))) {   /* c->fast_hot && fc_is_hot_type */
        *out = Py_NewRef(x);
        return V_DONE;
    }
    return visit_child_nonhot(c, x, out, hit);
}

/* visit_child_hit for a child whose type is known not to be one of
 * c->hot (copier_is_atomic said no): the rest of it. */
static inline VisitResult
visit_child_nonhot(Copier *c, PyObject *x, PyObject **out, int *hit)
{
    int checked = 0;
    if (c->memo_first) {
        /* the memo comes first (before 3.14); a hit needs nothing else */
        PyObject *y = memo_lookup(&c->table, x);
        if (y != NULL) {
            *out = Py_NewRef(y);
            *hit = 1;
            return V_DONE;
        }
        checked = 1;
    }
    return visit_unheld(c, x, out, checked);
}

static inline VisitResult
visit_child(Copier *c, PyObject *x, PyObject **out)
{
    int hit = 0;
    return visit_child_hit(c, x, out, &hit);
}

/* visit_child(list[i]) for a list other threads may change (free-threaded
 * builds; step_list reads items borrowed on GIL builds): the item is
 * fetched as a strong reference; if the list shrank since the caller's
 * size check, *out is NULL with V_DONE (nothing to append; the caller's
 * loop then sees the new size, as `for a in x` would). */
#ifdef Py_GIL_DISABLED
static inline VisitResult
visit_list_item(Copier *c, PyObject *list, Py_ssize_t i, PyObject **out)
{
    PyObject *x = PyList_GetItemRef(list, i);
    if (x == NULL) {
        PyErr_Clear();
        *out = NULL;
        return V_DONE;
    }
    VisitResult v = visit_child(c, x, out);
    Py_DECREF(x);
    return v;
}
#endif

/* f->y[key] = f->b, key the copy of a key just made (stolen), f->b its
 * value's copy (cleared): a dict frame's store, and a frozendict's.
 * Hashing the key may run Python code, so the memo is made the stdlib's
 * first unless the key is of a hot type.  0, or -1 with an exception. */
FC_ALWAYS_INLINE int
frame_store_item(Copier *c, Frame *f, PyObject *key)
{
    if (!fc_is_hot_type(Py_TYPE(key)) && memo_flush_if_needed(c) < 0) {
        Py_DECREF(key);
        return -1;
    }
    int rc = PyDict_SetItem(f->y, key, f->b);
    Py_DECREF(key);
    Py_CLEAR(f->b);
    return rc;
}

static StepResult
step_list(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    Frame *f = &c->frames[fi];
    if (incoming != NULL && list_append_steal(f->y, incoming) < 0) {
        return S_ERROR;
    }
    /* for a in x: append(deepcopy(a, memo))  -- x may change meanwhile */
#ifndef Py_GIL_DISABLED
    /* The previous item, if the native memo held it, and its copy
     * (borrowed: the table holds both).  An item that is the same object
     * again ([a] * n) gets the same copy with no lookup: the memo is
     * unchanged since, as the only work done in between was appending. */
    PyObject *last = NULL, *last_r = NULL;
#endif
    while (f->i < PyList_GET_SIZE(f->x)) {
        PyObject *r;
#ifndef Py_GIL_DISABLED
        PyObject *item = PyList_GET_ITEM(f->x, f->i++);
        if (item == last) {
            if (list_append_steal(f->y, Py_NewRef(last_r)) < 0) {
                return S_ERROR;
            }
            continue;
        }
        int hit = 0;
        VisitResult v = visit_child_hit(c, item, &r, &hit);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        last = hit ? item : NULL;
        last_r = r;
#else
        VisitResult v = visit_list_item(c, f->x, f->i++, &r);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
#endif
        f = &c->frames[fi];
        if (list_append_steal(f->y, r) < 0) {
            return S_ERROR;
        }
    }
    if (frame_finish(c, f) < 0) {
        return S_ERROR;
    }
    *out = f->y;
    f->y = NULL;
    return S_DONE;
}

/* Dict frames run in one of two phases.
 *   DICT_EXACT  the stdlib's loop: y starts empty and grows key by key.
 *   DICT_PATCH  (native memo only) y starts as a copy of x (PyDict_Copy,
 *               or for a split table see dict_patch_base) and only
 *               values that are not atomic are replaced by their copies,
 *               as long as every key is a str/int/float/bool/None (whose
 *               copy is itself); the first other key cuts y back to the
 *               entries done and the frame continues in DICT_EXACT.  The difference from
 *               DICT_EXACT is visible only to Python code that can see y
 *               through the memo, so when the memo is handed to Python
 *               (memo_for_python), y is cut back to the entries already
 *               done and the frame continues in DICT_EXACT. */
/* Cut dict y back to its first `keep` entries.  Those keys are exact
 * str/int/float/bool/None (DICT_PATCH checked each one), so re-inserting
 * them runs no Python code; the keys after them may be any objects, so
 * they are never hashed or compared here (deleting them one by one would
 * call their __hash__ and __eq__, which the stdlib does not do): y is
 * emptied and the first `keep` entries are put back, in order. */
static int
dict_truncate(PyObject *y, Py_ssize_t keep)
{
    if (keep >= PyDict_GET_SIZE(y)) {
        return 0;
    }
    PyObject *kept = PyList_New(2 * keep);
    if (kept == NULL) {
        return -1;
    }
    Py_ssize_t pos = 0, idx = 0;
    PyObject *k, *v;
    while (idx < keep && PyDict_Next(y, &pos, &k, &v)) {
        PyList_SET_ITEM(kept, 2 * idx, Py_NewRef(k));
        PyList_SET_ITEM(kept, 2 * idx + 1, Py_NewRef(v));
        idx++;
    }
    PyDict_Clear(y);
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < idx; i++) {
        assert(fc_is_hot_type(Py_TYPE(PyList_GET_ITEM(kept, 2 * i))));
        rc = PyDict_SetItem(y, PyList_GET_ITEM(kept, 2 * i), PyList_GET_ITEM(kept, 2 * i + 1));
    }
    Py_DECREF(kept);
    return rc;
}

/* y[key] = value in DICT_PATCH, where y = dict_patch_base(x) and the key is
 * x's entry e: in place when the table allows (fc_dict_replace_at),
 * otherwise PyDict_SetItem.  `orig`: the value y still holds from the
 * copy (x's, while no Python code has run), or NULL if not known; a value
 * that is its own copy (a tuple of atoms, ...) then needs no store.
 * Steals `value`. */
static inline int
dict_patch(PyObject *y, Py_ssize_t e, PyObject *key, PyObject *value, PyObject *orig)
{
    if (value == orig) {
        Py_DECREF(value);
        return 0;
    }
    if (fc_dict_replace_at(y, e, key, value)) {
        /* as PyDict_SetItem would: a dict holding a tracked object is
         * tracked (y, a copy of an untracked x, may not be yet) */
        if (!PyObject_GC_IsTracked(y) && PyObject_GC_IsTracked(value)) {
            PyObject_GC_Track(y);
        }
        return 0;
    }
    int rc = PyDict_SetItem(y, key, value);
    Py_DECREF(value);
    return rc;
}

/* DICT_PATCH's common case, run over the two tables at once: from x's
 * entry f->i on, each entry whose key is a hot type and whose value is
 * atomic (y already holds it) or a memo hit (y's slot gets the copy) is
 * done here, with what the general loop of step_dict would do for it and
 * nothing else.  No Python code runs meanwhile (a memo lookup and a
 * reference swap), so x and y do not change and the dict iterator's
 * checks (size, count) are made once per run; the memo comes before
 * anything else (memo_first), as in visit_child_nonhot; the old value
 * released is x's too, so no destructor runs; y is tracked as dict_patch
 * would track it.  The run stops on the first other entry:
 *   1  a hot key whose value is not atomic and not in the memo: *key and
 *      *value are that entry's (borrowed, x's), f->i and f->n2 are past
 *      it, as FC_DICT_NEXT would leave them, and the memo lookup is done;
 *   0  anything else (a key to copy, the end, a change the general loop
 *      must raise on, a table it cannot read): f->i is on that entry and
 *      the general loop takes it.
 * GIL builds with the dict layout known (FC_HAS_DICT_SLOTS) only. */
#if FC_HAS_DICT_SLOTS
static inline int
dict_patch_run(Copier *c, Frame *f, PyObject **key, PyObject **value)
{
    FcDictPair p;
    if (!c->memo_first || PyDict_GET_SIZE(f->x) != f->n || f->i < 0 ||
        !fc_dict_pair(f->x, f->y, &p)) {
        return 0;
    }
    Py_ssize_t i = f->i, left = f->n2;
    int missed = 0;
    int untracked = !PyObject_GC_IsTracked(f->y);   /* nothing else tracks it meanwhile */
    /* copier_is_hot(c, &PyUnicode_Type), and every key an exact str */
    int str_keys = p.stride == 2 && c->hot[1] == &PyUnicode_Type;
    for (; i < p.n; i++) {
        PyObject **xe = p.xs + i * p.stride;
        PyObject *v = xe[1];
        if (v == NULL) {
            continue;               /* a deleted entry: the iterator skips it */
        }
        if (left == 0 || (!str_keys && !copier_is_hot(c, Py_TYPE(xe[0])))) {
            break;
        }
        if (!copier_is_atomic(c, Py_TYPE(v))) {
            PyObject **ye = p.ys + i * p.stride;
            if (ye[0] != xe[0] || ye[1] != v) {
                break;
            }
            PyObject *r = memo_lookup(&c->table, v);
            if (r == NULL) {
                *key = xe[0];
                *value = v;
                missed = 1;
                i++;
                left--;
                break;
            }
            ye[1] = Py_NewRef(r);
            Py_DECREF(v);
            if (untracked && PyObject_GC_IsTracked(r)) {
                PyObject_GC_Track(f->y);
                untracked = 0;
            }
        }
        left--;
    }
    f->i = i;
    f->n2 = left;
    return missed;
}
#else
#define dict_patch_run(c, f, key, value) ((void)(c), (void)(f), (void)(key), (void)(value), 0)
#endif

static StepResult
step_dict(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    /* for key, value in x.items():
     *     y[deepcopy(key, memo)] = deepcopy(value, memo)
     * (the value is evaluated first, then the key) */
    Frame *f = &c->frames[fi];
    PyObject *r, *orig = NULL;   /* orig: see dict_patch */
    /* DICT_PATCH: the last value was a memo hit, so more may follow: the
     * next entries go through dict_patch_run (which costs a little more
     * than the loop below on an entry it cannot finish) */
    int run = 0;
    if (incoming != NULL) {
        if (f->phase == DICT_PATCH) {
            r = incoming;
            goto patch;
        }
        if (f->b == NULL) {          /* the value's copy arrived */
            f->b = incoming;
            goto copy_key;
        }
        r = incoming;                 /* the key's copy arrived */
        goto store;
    }
    for (;;) {
        PyObject *key, *value;
        int checked = run && f->n2 > 0 && dict_patch_run(c, f, &key, &value);
        if (checked) {
            goto visit_value;       /* a hot key, a value to copy, not in the memo */
        }
        int more = FC_DICT_NEXT(f->x, &f->i, f->n, &f->n2, &key, &value, &f->d, &f->c);
        if (more <= 0) {
            if (more < 0) {
                return S_ERROR;
            }
            break;
        }
        if (f->phase == DICT_PATCH) {
            /* After Python code the hot types are cleared until the
             * tables are checked again (copier_mark_stale): check them
             * here, rather than give up DICT_PATCH. */
            if (!copier_is_hot(c, Py_TYPE(key)) && (c->stale & STALE_TABLES) &&
                copier_resync(c) < 0) {
                return S_ERROR;
            }
            if (!copier_is_hot(c, Py_TYPE(key))) {
                /* a key whose copy may differ: finish key by key */
                if (dict_truncate(f->y, f->n - f->n2 - 1) < 0) {
                    return S_ERROR;
                }
                f->phase = DICT_EXACT;
                c->npatch--;
            }
            else if (copier_is_atomic(c, Py_TYPE(value))) {
                continue;             /* y already holds it */
            }
        }
    visit_value:
        f->a = Py_NewRef(key);
        /* visit_child holds its own reference to value while it runs; in
         * DICT_PATCH, y (a copy of x) holds one more until patched */
        c->elide_extra = f->phase == DICT_PATCH;
        VisitResult v;
        if (f->phase != DICT_PATCH) {
            v = visit_child(c, value, &r);
        }
        else if (checked) {
            /* visit_child_nonhot's miss: dict_patch_run looked it up */
            v = visit_unheld(c, value, &r, 1);
        }
        else {
            int hit = 0;
            /* copier_is_atomic just said no: not a hot type */
            v = visit_child_nonhot(c, value, &r, &hit);
            run = hit;
        }
        c->elide_extra = 0;
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
        orig = value;          /* still y's: the phase says no Python code ran */
        if (f->phase == DICT_PATCH) {
    patch:
            if (dict_patch(f->y, f->i - 1, f->a, r, orig) < 0) {
                Py_CLEAR(f->a);
                return S_ERROR;
            }
            Py_CLEAR(f->a);
            continue;
        }
        f->b = r;
    copy_key:
        v = visit_child(c, f->a, &r);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
    store:
        {
            int rc = frame_store_item(c, f, r);
            Py_CLEAR(f->a);
            if (rc < 0) {
                return S_ERROR;
            }
        }
    }
    if (frame_finish(c, f) < 0) {
        return S_ERROR;
    }
    *out = f->y;
    f->y = NULL;
    return S_DONE;
}

static StepResult
step_tuple(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    /* y = [deepcopy(a, memo) for a in x]
     * try: return memo[id(x)]  except KeyError: pass
     * return x if every item is its own copy else tuple(y) */
    Frame *f = &c->frames[fi];
    Py_ssize_t n = PyTuple_GET_SIZE(f->x);
    /* the copies go to y's items or to the frame's held[] (which moves
     * with the frames: dst is read again after each child) */
    PyObject **dst = n > FC_TUPLE_HELD ? ((PyTupleObject *)f->y)->ob_item : f->held;
    if (incoming != NULL) {
        f->n |= (incoming != PyTuple_GET_ITEM(f->x, f->i - 1));
        dst[f->i - 1] = incoming;
    }
    while (f->i < n) {
        PyObject *item = PyTuple_GET_ITEM(f->x, f->i++), *r;
        VisitResult v = visit_child(c, item, &r);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
        dst = n > FC_TUPLE_HELD ? ((PyTupleObject *)f->y)->ob_item : f->held;
        f->n |= (r != item);
        dst[f->i - 1] = r;
    }
    PyObject *result;
    int rc = memo_getitem(c, f->x, &result);
    if (rc < 0) {
        return S_ERROR;
    }
    if (rc == 0) {
        if (!f->n) {
            result = Py_NewRef(f->x);
        }
        else if (n > FC_TUPLE_HELD) {
            result = f->y;
            f->y = NULL;
            PyObject_GC_Track(result);   /* complete (visit_tuple) */
        }
        else {
            /* nothing runs between the allocation and the fill: collections
             * before 3.12 run inside it, before the tuple exists */
            result = PyTuple_New(n);
            if (result == NULL) {
                return S_ERROR;
            }
            for (Py_ssize_t k = 0; k < n; k++) {
                PyTuple_SET_ITEM(result, k, f->held[k]);
                f->held[k] = NULL;
            }
        }
    }
    int elided = f->elided;
    f->elided = 0;
    if ((elided ? memo_finish_elided(c, f->x, result)
                : memo_finish(c, f->x, result, 0)) < 0) {
        Py_DECREF(result);
        return S_ERROR;
    }
    *out = result;
    return S_DONE;
}

#if FC_HAS_FROZENDICT
/* copy._deepcopy_frozendict (3.15):
 *     y = {}
 *     for key, value in x.items():
 *         y[deepcopy(key, memo)] = deepcopy(value, memo)
 *     try: return memo[id(x)]  except KeyError: pass
 *     return frozendict(y)
 * The assignment evaluates its right side first: f->a lists x's values
 * and keys in that order (value, key, value, key, ...), f->b holds a
 * value's copy while its key is copied, f->y is the dict y. */
static StepResult
step_frozendict(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    Frame *f = &c->frames[fi];
    PyObject *r = incoming;
    for (;;) {
        if (r != NULL) {
            if (!(f->i & 1)) {
                /* i is even: r is the copy of the key just before i */
                if (frame_store_item(c, f, r) < 0) {
                    return S_ERROR;
                }
            }
            else {
                f->b = r;
            }
            r = NULL;
        }
        if (f->i >= PyList_GET_SIZE(f->a)) {
            break;
        }
        VisitResult v = visit_child(c, PyList_GET_ITEM(f->a, f->i++), &r);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
    }
    PyObject *result;
    int rc = memo_getitem(c, f->x, &result);
    if (rc < 0) {
        return S_ERROR;
    }
    if (rc == 0 && (result = PyFrozenDict_New(f->y)) == NULL) {
        return S_ERROR;
    }
    if (memo_finish(c, f->x, result, 0) < 0) {
        Py_DECREF(result);
        return S_ERROR;
    }
    *out = result;
    return S_DONE;
}
#endif

static StepResult
step_set(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    /* The stdlib goes through set.__reduce__: (cls, (list(x),), None),
     * copies the list, then calls cls(copied_list); the set is memoized
     * only after its items are copied. */
    Frame *f = &c->frames[fi];
    if (incoming != NULL && list_append_steal(f->y, incoming) < 0) {
        return S_ERROR;
    }
    while (f->i < PyList_GET_SIZE(f->a)) {
        PyObject *r;
        VisitResult v = visit_child(c, PyList_GET_ITEM(f->a, f->i++), &r);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
        if (list_append_steal(f->y, r) < 0) {
            return S_ERROR;
        }
    }
    if (memo_flush_if_needed(c) < 0) {   /* hashing may run Python code */
        return S_ERROR;
    }
    PyObject *result = PySet_CheckExact(f->x)
        ? PySet_New(f->y)
        : PyObject_CallOneArg((PyObject *)&PyFrozenSet_Type, f->y);
    if (result == NULL) {
        return S_ERROR;
    }
    if (memo_finish(c, f->x, result, 0) < 0) {
        Py_DECREF(result);
        return S_ERROR;
    }
    *out = result;
    return S_DONE;
}

static StepResult
step_method(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    /* type(x)(x.__func__, deepcopy(x.__self__, memo)) */
    Frame *f = &c->frames[fi];
    PyObject *self_copy = incoming;
    if (self_copy == NULL) {
        VisitResult v = visit_child(c, PyMethod_GET_SELF(f->x), &self_copy);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
    }
    PyObject *result = PyObject_CallFunctionObjArgs(
        (PyObject *)Py_TYPE(f->x), PyMethod_GET_FUNCTION(f->x), self_copy, NULL);
    Py_DECREF(self_copy);
    if (result == NULL) {
        return S_ERROR;
    }
    if (memo_finish(c, f->x, result, 0) < 0) {
        Py_DECREF(result);
        return S_ERROR;
    }
    *out = result;
    return S_DONE;
}

/* copy._reconstruct(x, memo, func, args, state, listiter, dictiter) with
 * the deep copies done by the engine. */
static StepResult
step_reduce(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    FcState *st = c->st;
    Frame *f = &c->frames[fi];
    ReduceParts p;
    PyObject *r;
    VisitResult v;
    (void)reduce_parse(f->a, &p);   /* validated when the frame was pushed */

    switch ((ReducePhase)f->phase) {
    case R_ARGS:
        goto args;
    case R_STATE:
        goto state_done;
    case R_LIST:
        goto list_item_done;
    case R_DICT_KEY:
        goto dict_key_done;
    case R_DICT_VAL:
        goto dict_value_done;
    }

args:
    /* args = (deepcopy(arg, memo) for arg in args); y = func(*args) */
    if (incoming != NULL) {
        PyTuple_SET_ITEM(f->b, f->i - 1, incoming);
        incoming = NULL;
    }
    while (f->i < PyTuple_GET_SIZE(p.args)) {
        v = visit_child(c, PyTuple_GET_ITEM(p.args, f->i++), &r);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
        PyTuple_SET_ITEM(f->b, f->i - 1, r);
    }
    if (f->b != NULL) {
        PyObject_GC_Track(f->b);      /* complete (visit_reduce) */
    }
    if (c->npatch > 0 && reduce_new_runs_python(st, p.func, f->b != NULL ? f->b : p.args) &&
        copier_settle_dicts(c) < 0) {
        return S_ERROR;
    }
    f->y = reduce_new_object(st, p.func, f->b != NULL ? f->b : p.args);
    if (f->y == NULL) {
        return S_ERROR;
    }
    Py_CLEAR(f->b);
    if (memo_put(c, f->x, f->y) < 0) {        /* memo[id(x)] = y */
        return S_ERROR;
    }

    if (p.state != NULL) {
        f->phase = R_STATE;
        v = visit_child(c, p.state, &incoming);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
    state_done:
        {
            int rc = 0;
            if (c->npatch > 0 && reduce_state_runs_python(st, f->y, incoming)) {
                rc = copier_settle_dicts(c);
            }
            rc = rc < 0 ? rc : reduce_set_state(st, f->y, incoming);
            Py_DECREF(incoming);
            incoming = NULL;
            if (rc < 0) {
                return S_ERROR;
            }
        }
    }

    if (p.listiter != NULL) {
        f->phase = R_LIST;
        f->b = PyObject_GetIter(p.listiter);
        if (f->b == NULL) {
            return S_ERROR;
        }
        for (;;) {
            PyObject *item = PyIter_Next(f->b);
            if (item == NULL) {
                if (PyErr_Occurred()) {
                    return S_ERROR;
                }
                break;
            }
            v = visit_child(c, item, &incoming);
            Py_DECREF(item);
            if (v != V_DONE) {
                return v == V_PUSHED ? S_PUSHED : S_ERROR;
            }
            f = &c->frames[fi];
        list_item_done:
            {
                int rc = 0;
                if (c->npatch > 0 && !PyList_CheckExact(f->y)) {
                    rc = copier_settle_dicts(c);   /* y.append is Python code */
                }
                rc = rc < 0 ? rc : reduce_append(st, f->y, incoming);
                Py_DECREF(incoming);
                incoming = NULL;
                if (rc < 0) {
                    return S_ERROR;
                }
            }
        }
        Py_CLEAR(f->b);
    }

    if (p.dictiter != NULL) {
        f->b = PyObject_GetIter(p.dictiter);
        if (f->b == NULL) {
            return S_ERROR;
        }
        for (;;) {
            /* for key, value in dictiter:
             *     key = deepcopy(key, memo); value = deepcopy(value, memo)
             *     y[key] = value */
            PyObject *item = PyIter_Next(f->b), *key;
            if (item == NULL) {
                if (PyErr_Occurred()) {
                    return S_ERROR;
                }
                break;
            }
            int rc = reduce_unpack_pair(st, item, &key, &f->c);
            Py_DECREF(item);
            if (rc < 0) {
                return S_ERROR;
            }
            f->phase = R_DICT_KEY;
            v = visit_child(c, key, &incoming);
            Py_DECREF(key);
            if (v != V_DONE) {
                return v == V_PUSHED ? S_PUSHED : S_ERROR;
            }
            f = &c->frames[fi];
        dict_key_done:
            f->d = incoming;
            incoming = NULL;
            f->phase = R_DICT_VAL;
            v = visit_child(c, f->c, &incoming);
            if (v != V_DONE) {
                return v == V_PUSHED ? S_PUSHED : S_ERROR;
            }
            f = &c->frames[fi];
        dict_value_done:
            rc = 0;
            if (c->npatch > 0 && !PyDict_CheckExact(f->y)) {
                rc = copier_settle_dicts(c);       /* y[k] = v is Python code */
            }
            rc = rc < 0 ? rc : reduce_setitem(f->y, f->d, incoming);
            Py_DECREF(incoming);
            incoming = NULL;
            Py_CLEAR(f->c);
            Py_CLEAR(f->d);
            if (rc < 0) {
                return S_ERROR;
            }
        }
        Py_CLEAR(f->b);
    }

    if (frame_finish(c, f) < 0) {
        return S_ERROR;
    }
    *out = f->y;
    f->y = NULL;
    return S_DONE;
}

/* The replay of (copyreg.__newobj__, (cls,), state) for a STRAT_PLAIN_DICT
 * class, after y = object.__new__(cls) and memo[id(x)] = y:
 *     state = deepcopy(state, memo); y.__dict__.update(state) */
static StepResult step_plain_inline(Copier *c, Py_ssize_t fi, PyObject *incoming,
                                    PyObject **out);

static StepResult
step_plain(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    Frame *f = &c->frames[fi];
    if (f->phase != PLAIN_DICT) {
        return step_plain_inline(c, fi, incoming, out);
    }
    if (incoming == NULL) {
        /* the state is x.__dict__, which x and this frame hold: elidable
         * when nothing else does */
        c->elide_extra = PyDict_CheckExact(f->a) ? 1 : -1000;
        VisitResult v = visit_child(c, f->a, &incoming);
        c->elide_extra = 0;
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
    }
    int rc = -1;
    DoneEntry *last = c->ndone > c->flush_from ? &c->done[c->ndone - 1] : NULL;
    if (last != NULL && DONE_X(last) == f->a && last->y == incoming &&
        Py_REFCNT(incoming) == 1 && fc_can_set_dict(Py_TYPE(f->y))) {
        /* The state's copy is elided and only we hold it (the done log
         * borrows it): nothing can tell it from the dict the stdlib's
         * y.__dict__.update(state) fills, so it becomes y.__dict__ (a
         * flush gives the memo a copy of it, as the stdlib's memo holds
         * a dict distinct from y.__dict__). */
        rc = PyObject_GenericSetDict(f->y, incoming, NULL);
        if (rc == 0) {
            last->xf |= DONE_AS_DICT;
        }
    }
#if FC_HAS_INLINE_VALUES && FC_PY313_PLUS
    /* (3.13 only: there y's capacity is recorded in y, while 3.11/3.12's
     * is known only when y is made, and Python code may have grown the
     * shared keys since) */
    else if (fc_set_inline_values(f->y, incoming)) {
        /* 3.13: the state's items are now y's attributes (see compat.h);
         * the state itself is not kept when only this frame holds it
         * (the done log borrows it, and now borrows y instead): a flush
         * gives the memo a copy of y's __dict__ */
        rc = 0;
        if (last != NULL && DONE_X(last) == f->a && last->y == incoming &&
            Py_REFCNT(incoming) == 1) {
            last->y = f->y;
            last->xf |= DONE_AS_ATTRS;
        }
    }
#endif
    else {
        PyObject *ydict = PyObject_GenericGetDict(f->y, NULL);
        if (ydict != NULL) {
            if (PyDict_CheckExact(ydict) && PyDict_CheckExact(incoming)) {
                rc = PyDict_Update(ydict, incoming);
            }
            else if ((rc = memo_flush_if_needed(c)) == 0) {   /* Python code next */
                PyObject *r = PyObject_CallMethodOneArg(ydict, c->st->s_update, incoming);
                rc = r == NULL ? -1 : 0;
                Py_XDECREF(r);
            }
            Py_DECREF(ydict);
        }
    }
    /* The done log borrows an elided state copy that was neither adopted
     * as y.__dict__ nor replaced by y above (its items went into y by an
     * update): the memo must still hold it at a flush, and nothing else
     * will once it is released here, so it goes into the table now (what
     * a flush would do with it; the memo's contents are seen only after
     * one).  `last` is still the log's last entry: nothing appended since,
     * and a flush for the update's Python code cleared its y. */
    if (rc == 0 && last != NULL && last->y == incoming && Py_REFCNT(incoming) == 1) {
        rc = done_to_table(c, last, incoming);
    }
    Py_DECREF(incoming);
    if (rc < 0 || frame_finish(c, f) < 0) {
        return S_ERROR;
    }
    *out = f->y;
    f->y = NULL;
    return S_DONE;
}

/* PLAIN_INLINE and PLAIN_STATE (3.11-3.15 GIL builds, FC_HAS_INLINE_VALUES)
 * ------------------------------------------------------------------
 * The stdlib copies a plain instance's state as
 *     state = deepcopy(x.__dict__, memo)   # S = {}; memo[id(d)] = S; S[k] = deepcopy(v)...
 *     y.__dict__.update(state)
 * When the copy of x.__dict__ could be elided (only x holds the dict and
 * nothing on the stack memoizes late), S is never seen by anything but
 * that update, so PLAIN_INLINE skips it: it walks x.__dict__'s values (a
 * split table over the class's shared keys) in insertion order and
 * appends each value's copy to y's values array at the same index
 * (fc_inline_append, compat.h), which is what y holds after the update.
 * Two things could tell the difference, and both happen only when Python
 * code is about to run, i.e. in memo_flush: the memo must then hold S
 * (with the items copied so far), and y must still be empty.  So
 * memo_flush first settles every PLAIN_INLINE frame (settle_inline): the
 * values y holds move into a new dict S, S goes into the memo table under
 * x.__dict__, and the frame continues in PLAIN_STATE, the stdlib's loop:
 * x.__dict__ iterated live from the same position (a split table's
 * PyDict_Next position is its insertion-order index), copies stored in S,
 * then y.__dict__.update(S).  A PLAIN_INLINE frame that finishes logs
 * x.__dict__ as done with DONE_AS_ATTRS, so that a later flush gives the
 * memo a copy of y's __dict__ for it.  If x.__dict__ is found changed
 * between two values (no Python code of the copy's own can do that, but
 * a finalizer run by a garbage collection can), the frame settles too and
 * the stdlib's loop reports what the stdlib would.
 *
 * Frame fields: a x.__dict__ (owned), b S (PLAIN_STATE), c the key whose
 * value is being copied (PLAIN_STATE), i the position in x's order, n the
 * size at the start (the stdlib's iterator checks it), n2 the index of
 * the value being copied in PLAIN_INLINE (-1: none), or the number of
 * items left in PLAIN_STATE (fc_dict_next), lim the bound on the indices
 * y's values array takes (the shared keys' entry count when y was made:
 * 3.11/3.12 record no capacity in the array itself). */
#if FC_HAS_INLINE_VALUES
static int
settle_inline_frame(Copier *c, Frame *f)
{
    PyObject *state = PyDict_New();
    if (state == NULL) {
        return -1;
    }
    FcDictValues *yv = fc_obj_values(f->y);
    PyTypeObject *tp = Py_TYPE(f->x);
    Py_ssize_t ny = FC_VALUES_SIZE(yv);
    int rc = 0;
    for (Py_ssize_t k = 0; rc == 0 && k < ny; k++) {
        Py_ssize_t ix = FC_VALUES_ORDER_AT(yv, k);
        rc = PyDict_SetItem(state, fc_inline_key(tp, ix), yv->values[ix]);
    }
    if (rc < 0 || memo_insert(&c->table, f->a, state) < 0) {
        Py_DECREF(state);
        return -1;
    }
    /* y empty again, as the stdlib's is until the update; state holds
     * every value, so no object is freed here */
    for (Py_ssize_t k = 0; k < ny; k++) {
        Py_CLEAR(yv->values[FC_VALUES_ORDER_AT(yv, k)]);
    }
    fc_values_clear_size(yv);
    if (f->n2 >= 0) {
        f->c = Py_NewRef(fc_inline_key(tp, f->n2));
    }
    f->b = state;
    f->n2 = f->n - f->i;     /* items left for fc_dict_next */
    f->phase = PLAIN_STATE;
    c->ninline--;
    return 0;
}

static int
settle_inline(Copier *c)
{
    for (Py_ssize_t k = c->depth - 1; k >= 0 && c->ninline > 0; k--) {
        Frame *f = &c->frames[k];
        if (f->kind == F_PLAIN && f->phase == PLAIN_INLINE && settle_inline_frame(c, f) < 0) {
            return -1;
        }
    }
    return 0;
}

static StepResult
step_plain_inline(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    Frame *f = &c->frames[fi];
    PyObject *r;
    if (incoming != NULL) {
        r = incoming;
        goto arrived;
    }
    while (f->phase == PLAIN_INLINE) {
        /* the state is read from x.__dict__ itself (a split dict over the
         * class's keys while nothing changed it) */
        PyDictObject *xd = (PyDictObject *)f->a;
        FcDictValues *xv = (FcDictValues *)xd->ma_values;
        if (xv == NULL || FC_VALUES_SIZE(xv) != f->n || xd->ma_used != f->n ||
            (f->i < f->n && FC_VALUES_ORDER_AT(xv, f->i) >= f->lim)) {
            /* changed by a finalizer: go on as the stdlib's loop does */
            if (settle_inline_frame(c, f) < 0) {
                return S_ERROR;
            }
            break;
        }
        if (f->i == f->n) {
            /* done: x.__dict__'s copy is y's attributes now */
            f->phase = PLAIN_DICT;
            c->ninline--;
            if (done_log(c, f->a, f->y) < 0) {
                return S_ERROR;
            }
            c->done[c->ndone - 1].xf |= DONE_AS_ATTRS;
            goto finished;
        }
        Py_ssize_t ix = FC_VALUES_ORDER_AT(xv, f->i++);
        PyObject *v = xv->values[ix];
        if (copier_is_atomic(c, Py_TYPE(v))) {
            fc_inline_append(f->y, ix, Py_NewRef(v));
            continue;
        }
        f->n2 = ix;
        VisitResult vr = visit_child(c, v, &r);
        if (vr != V_DONE) {
            return vr == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
    arrived:
        if (f->phase == PLAIN_INLINE) {
            fc_inline_append(f->y, f->n2, r);
            f->n2 = -1;
            continue;
        }
        /* the copy ran Python code, which settled the frame */
        goto store;
    }
    /* PLAIN_STATE: for key, value in x.__dict__.items(): S[key] = deepcopy(value) */
    for (;;) {
        PyObject *key, *value;
        int more = fc_dict_next(f->a, &f->i, f->n, &f->n2, &key, &value);
        if (more <= 0) {
            if (more < 0) {
                return S_ERROR;
            }
            break;
        }
        f->c = Py_NewRef(key);
        VisitResult vr = visit_child(c, value, &r);
        if (vr != V_DONE) {
            return vr == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
    store:
        {
            /* the key's copy is itself (an exact str: fast_atoms) */
            int rc = PyDict_SetItem(f->b, f->c, r);
            Py_DECREF(r);
            Py_CLEAR(f->c);
            if (rc < 0) {
                return S_ERROR;
            }
        }
    }
    {
        /* deepcopy(x.__dict__) returns S (memoized at the settle) */
        if (memo_finish(c, f->a, f->b, 1) < 0) {
            return S_ERROR;
        }
        PyObject *ydict = PyObject_GenericGetDict(f->y, NULL);
        int rc = ydict == NULL ? -1 : PyDict_Update(ydict, f->b);
        Py_XDECREF(ydict);
        Py_CLEAR(f->b);
        f->phase = PLAIN_DICT;
        if (rc < 0) {
            return S_ERROR;
        }
    }
finished:
    if (frame_finish(c, f) < 0) {
        return S_ERROR;
    }
    *out = f->y;
    f->y = NULL;
    return S_DONE;
}
#else
static int
settle_inline(Copier *c)
{
    (void)c;
    return 0;
}

static StepResult
step_plain_inline(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    (void)c, (void)fi, (void)incoming, (void)out;
    Py_UNREACHABLE();
}
#endif

static StepResult
step_slots(Copier *c, Py_ssize_t fi, PyObject *incoming, PyObject **out)
{
    /* state = (None, {name: copy}); then setattr(y, name, copy) for each,
     * which for a plain member is a store at its offset */
    Frame *f = &c->frames[fi];
    if (incoming != NULL) {
        c->sl[f->n2 + f->i - 1].y = incoming;
    }
    while (f->i < f->n) {
        PyObject *r;
        VisitResult v = visit_child(c, c->sl[f->n2 + f->i++].v, &r);
        if (v != V_DONE) {
            return v == V_PUSHED ? S_PUSHED : S_ERROR;
        }
        f = &c->frames[fi];
        c->sl[f->n2 + f->i - 1].y = r;
    }
    for (Py_ssize_t k = 0; k < f->n; k++) {
        SlotItem *s = &c->sl[f->n2 + k];
        PyObject **slot = (PyObject **)((char *)f->y + s->off);
        Py_XSETREF(*slot, s->y);
        s->y = NULL;
    }
    if (frame_finish(c, f) < 0) {
        return S_ERROR;
    }
    *out = f->y;
    f->y = NULL;
    return S_DONE;
}

static StepResult
step(Copier *c, PyObject *incoming, PyObject **out)
{
    Py_ssize_t fi = c->depth - 1;
    FrameKind kind = (FrameKind)c->frames[fi].kind;
    /* lists and dicts first, with two compares: cheaper than the jump
     * table on the frames most copies are made of */
    if (kind == F_LIST) {
        return step_list(c, fi, incoming, out);
    }
    if (kind == F_DICT) {
        return step_dict(c, fi, incoming, out);
    }
    switch (kind) {
    case F_LIST:
    case F_DICT:
        break;                  /* (above) */
    case F_TUPLE:
        return step_tuple(c, fi, incoming, out);
    case F_SET:
#if FC_HAS_FROZENDICT
        if (c->frames[fi].n) {
            return step_frozendict(c, fi, incoming, out);
        }
#endif
        return step_set(c, fi, incoming, out);
    case F_METHOD:
        return step_method(c, fi, incoming, out);
    case F_REDUCE:
        return step_reduce(c, fi, incoming, out);
    case F_PLAIN:
        return step_plain(c, fi, incoming, out);
    case F_SLOTS:
        return step_slots(c, fi, incoming, out);
    }
    Py_UNREACHABLE();
}

/* ------------------------------------------------------------------ */
/* visit: the stdlib's deepcopy() minus the recursion                 */

/* The end of a visit that produced its copy at once: deepcopy's epilogue
 * (memo_finish), then *out = y.  Steals y (a new reference or NULL). */
FC_ALWAYS_INLINE VisitResult
visit_finished(Copier *c, PyObject *x, PyObject *y, int stored, PyObject **out)
{
    if (y == NULL || memo_finish(c, x, y, stored) < 0) {
        Py_XDECREF(y);
        return V_ERROR;
    }
    *out = y;
    return V_DONE;
}

FC_ALWAYS_INLINE VisitResult
visit_finished_elided(Copier *c, PyObject *x, PyObject *y, PyObject **out)
{
    if (memo_finish_elided(c, x, y) < 0) {
        Py_DECREF(y);
        return V_ERROR;
    }
    *out = y;
    return V_DONE;
}

/* Call Python code that copies x with a memo (a __deepcopy__ hook, a
 * third-party copier, copy._reconstruct), then do deepcopy's epilogue. */
static VisitResult
visit_python(Copier *c, PyObject *x, PyObject *callable, PyObject *arg,
             int pass_x, PyObject **out)
{
    PyObject *memo = memo_for_python(c);
    if (memo == NULL) {
        return V_ERROR;
    }
    if (Py_EnterRecursiveCall(" in deepcopy")) {
        return V_ERROR;
    }
    PyObject *y;
    if (arg != NULL) {            /* copy._reconstruct(x, memo, rv) */
        y = reduce_delegate(c->st, x, memo, arg);
    }
    else if (pass_x) {            /* copier(x, memo) */
        PyObject *args[2] = {x, memo};
        y = PyObject_Vectorcall(callable, args, 2, NULL);
    }
    else {                        /* x.__deepcopy__(memo) */
        y = PyObject_CallOneArg(callable, memo);
    }
    Py_LeaveRecursiveCall();
    return visit_finished(c, x, y, 0, out);
}

FC_ALWAYS_INLINE VisitResult
visit_list(Copier *c, PyObject *x, PyObject **out, int held)
{
#if FC_GC_HOLD
    c->visits += !held;        /* (visit() counted the others) */
#endif
    Py_ssize_t n = PyList_GET_SIZE(x);
    PyObject *y = fc_list_new_capacity(n);     /* filled by appends */
    if (y == NULL) {
        return V_ERROR;
    }
    int elide = can_elide(c, x, held);
    if (!elide && memo_put(c, x, y) < 0) {      /* memo[id(x)] = y */
        Py_DECREF(y);
        return V_ERROR;
    }
    /* The leading items whose copy is themselves are copied here, with no
     * frame (no Python code runs in the loop, so x cannot change meanwhile
     * -- with the GIL: free-threaded builds read items one by one in
     * step_list): a list of atoms is finished at once.  The size is read
     * again first: before 3.12 an allocation may run the garbage collector
     * right there, and with it Python code (a finalizer, a gc.callbacks
     * entry, a switch to another thread) that changes x; reading the n
     * items x had before the allocation read freed memory once x shrank.  y
     * holds at most n here; a longer x goes on in step_list, which appends
     * as the stdlib's loop does. */
    Py_ssize_t i = 0, now = PyList_GET_SIZE(x);
    if (now < n) {
        n = now;
    }
    if (!FC_FREE_THREADED && c->fast_atoms) {
        for (; i < n; i++) {
            PyObject *v = PyList_GET_ITEM(x, i);
            if (!copier_is_atomic(c, Py_TYPE(v))) {
                break;
            }
            PyList_SET_ITEM(y, i, Py_NewRef(v));
        }
        Py_SET_SIZE(y, i);
    }
    if (i == now) {
        return elide ? visit_finished_elided(c, x, y, out)
                     : visit_finished(c, x, y, 1, out);
    }
    Frame *f = frame_push(c, F_LIST, x);
    if (f == NULL) {
        Py_DECREF(y);
        return V_ERROR;
    }
    f->y = y;
    f->i = i;
    if (elide && elided_frame_push(c, f) < 0) {
        return V_ERROR;
    }
    return V_PUSHED;
}

/* The start of a DICT_PATCH copy: a new dict holding x's items in x's
 * order.  PyDict_Copy(x), except for a split table (an instance's
 * __dict__: a reduce value's state, vars(obj) kept in data), where
 * PyDict_Copy would share the class's keys and allocate a values array as
 * long as those keys allow (30 slots on 3.11: 296 bytes for a 2-attribute
 * object's dict), and on 3.10 the first value replaced turns the copy
 * into a combined table larger than the stdlib's (400 bytes against
 * 232).  There the items are stored one by one into a new dict, as the
 * stdlib's copy stores them, so the copy has the stdlib's combined table
 * and its size (184 bytes on 3.11).  No Python code runs: the keys are
 * str. */
static PyObject *
dict_patch_base(PyObject *x)
{
    if (fc_dict_is_split(x)) {
        PyObject *y = PyDict_New(), *k, *v;
        Py_ssize_t pos = 0;
        if (y == NULL) {
            return NULL;
        }
        while (PyDict_Next(x, &pos, &k, &v)) {
            if (PyDict_SetItem(y, k, v) < 0) {
                Py_DECREF(y);
                return NULL;
            }
        }
        return y;
    }
    return PyDict_Copy(x);
}

FC_ALWAYS_INLINE VisitResult
visit_dict(Copier *c, PyObject *x, PyObject **out, int held)
{
#if FC_GC_HOLD
    c->visits += !held;        /* (visit() counted the others) */
#endif
    /* Optimistically DICT_PATCH (see step_dict) when the memo is native and
     * atoms need no memo lookup; the first key that is not a str, int,
     * float, bool or None switches the frame to DICT_EXACT. */
    int patch = c->patch_ok && PyDict_GET_SIZE(x) > 0;
    PyObject *y = patch ? dict_patch_base(x) : PyDict_New();
    if (y == NULL) {
        return V_ERROR;
    }
    int elide = can_elide(c, x, held);
    if (!elide && memo_put(c, x, y) < 0) {
        Py_DECREF(y);
        return V_ERROR;
    }
    /* the stdlib creates its items() iterator after the memo store, which
     * may have changed x when x is the memo itself */
    Py_ssize_t n = PyDict_GET_SIZE(x);
    /* DICT_PATCH: the leading items whose key is a str/int/float/bool/None
     * and whose value is atomic are already right in y; skip them here,
     * with no frame (no Python code runs meanwhile).  A dict of atoms is
     * finished at once. */
    Py_ssize_t pos = 0, left = n;
    PyObject *k = NULL, *v = NULL;    /* borrowed: the item the scan stopped on */
    int scanned = 0;
#if FC_HAS_DICT_SLOTS
    /* the same scan read from x's table directly (fc_dict_next_fast's
     * checks, made once for the whole table rather than once per item:
     * half the cost of copying a large dict of atoms) */
    PyObject **ks;
    Py_ssize_t stride, nent;
    if (patch && fc_dict_view(x, &ks, &stride, &nent)) {
        /* copier_is_hot(c, &PyUnicode_Type), and every key an exact str
         * (a unicode keys table, see fc_dict_view) */
        int str_keys = stride == 2 && c->hot[1] == &PyUnicode_Type;
        Py_ssize_t e = 0;
        for (; e < nent; e++) {
            PyObject **kv = ks + e * stride;
            if (kv[1] == NULL) {
                continue;                   /* a deleted entry */
            }
            if (!str_keys && !copier_is_hot(c, Py_TYPE(kv[0]))) {
                break;                      /* step_dict switches to DICT_EXACT on it */
            }
            if (!copier_is_atomic(c, Py_TYPE(kv[1]))) {
                k = kv[0];                  /* a value to copy: done below */
                v = kv[1];
                e++;
                break;
            }
            left--;
        }
        pos = e;
        scanned = 1;
    }
#endif
    if (patch && !scanned) {
        for (;;) {
            Py_ssize_t at = pos;
            if (!fc_dict_next_fast(x, &pos, &k, &v)) {
                k = NULL;
                break;
            }
            if (!copier_is_hot(c, Py_TYPE(k))) {
                pos = at;       /* step_dict switches to DICT_EXACT on it */
                k = NULL;
                break;
            }
            if (!copier_is_atomic(c, Py_TYPE(v))) {
                break;          /* a value to copy: done below */
            }
            left--;
        }
    }
    if (left == 0) {
        return elide ? visit_finished_elided(c, x, y, out)
                     : visit_finished(c, x, y, 1, out);
    }
    Frame *f = frame_push(c, F_DICT, x);
    if (f == NULL) {
        Py_DECREF(y);
        return V_ERROR;
    }
    f->y = y;
    if (elide && elided_frame_push(c, f) < 0) {
        return V_ERROR;
    }
    f->phase = patch ? DICT_PATCH : DICT_EXACT;
    c->npatch += patch;
    f->i = pos;
    f->n = n;
    f->n2 = left;
    if (k != NULL && c->nest == FC_DICT_NEST_MAX) {
        /* A chain of dicts this deep inside visit(): leave the value to
         * step_dict, which fetches entry pos - 1 again (counted in `left`),
         * and let the C stack unwind to run()'s loop. */
        f->i = pos - 1;
    }
    else if (k != NULL) {
        /* The scan stopped on a value that needs copying: copy it now, as
         * step_dict's DICT_PATCH loop would next (rather than fetch it
         * again there).  Pushed: its copy reaches step_dict as `incoming`
         * and patches y[k].  Done: patch here; step_dict goes on from pos.
         * This is the one place where visit() recurses (a dict value that
         * is a dict starts here too): c->nest bounds it. */
        Py_ssize_t fi = c->depth - 1;
        f->n2 = left - 1;
        f->a = Py_NewRef(k);
        PyObject *r;
        c->elide_extra = 1;    /* y holds the value too, until patched */
        int hit = 0;           /* (v is not atomic: the scan stopped on it) */
        c->nest++;
        VisitResult vr = visit_child_nonhot(c, v, &r, &hit);
        c->nest--;
        c->elide_extra = 0;
        if (vr != V_DONE) {
            return vr;
        }
        f = &c->frames[fi];
        /* v is still y's only while no Python code ran (which would have
         * settled y out of DICT_PATCH) */
        int rc = dict_patch(f->y, f->i - 1, f->a, r, f->phase == DICT_PATCH ? v : NULL);
        Py_CLEAR(f->a);
        if (rc < 0) {
            return V_ERROR;
        }
    }
    return V_PUSHED;
}

/* visit() of a list or dict whose caller holds no reference to it: see
 * visit_unheld.  Out of line, so that visit() keeps its own inlined copy
 * and a call here pays only these functions' smaller prologues (and
 * apart, for the same reason: one function holding both would need the
 * registers of the larger). */
#ifndef Py_GIL_DISABLED
static FC_NOINLINE VisitResult
visit_list_unheld(Copier *c, PyObject *x, PyObject **out)
{
    return visit_list(c, x, out, 0);
}

static FC_NOINLINE VisitResult
visit_dict_unheld(Copier *c, PyObject *x, PyObject **out)
{
    return visit_dict(c, x, out, 0);
}
#endif

static VisitResult
visit_tuple(Copier *c, PyObject *x, PyObject **out)
{
    Py_ssize_t n = PyTuple_GET_SIZE(x);
    if (c->fast_atoms) {
        /* every item atomic: the tuple is its own copy (not memoized) */
        Py_ssize_t i = 0;
        while (i < n && copier_is_atomic(c, Py_TYPE(PyTuple_GET_ITEM(x, i)))) {
            i++;
        }
        if (i == n && c->mode == MEMO_NATIVE) {
            *out = Py_NewRef(x);
            return V_DONE;
        }
    }
    PyObject *y = NULL;
    if (n > FC_TUPLE_HELD) {
        y = PyTuple_New(n);
        if (y == NULL) {
            return V_ERROR;
        }
        /* y's items are NULL until copied, and Python code may run
         * meanwhile (a hook, a __del__): y is out of the collector's lists
         * until step_tuple finishes it, so that gc.get_objects() and
         * gc.get_referents() cannot hand it to that code (iterating a
         * tuple with a NULL item crashes; the stdlib builds its tuple only
         * once the items are copied, as the small-tuple path does) */
        PyObject_GC_UnTrack(y);
    }
    int elide = can_elide(c, x, 1);
    Frame *f = frame_push(c, F_TUPLE, x);
    if (f == NULL) {
        Py_XDECREF(y);
        return V_ERROR;
    }
    f->y = y;
    f->elided = (uint8_t)elide;   /* not in elided_frames: not memoized yet */
    return V_PUSHED;
}

/* Push x's set frame: a the objects to copy in order, y where their copies
 * go (both stolen), frozendict 1 for a frozendict's (step_frozendict). */
static VisitResult
set_frame_push(Copier *c, PyObject *x, PyObject *a, PyObject *y, int frozendict)
{
    Frame *f = frame_push(c, F_SET, x);
    if (f == NULL) {
        Py_DECREF(a);
        Py_DECREF(y);
        return V_ERROR;
    }
    f->a = a;
    f->y = y;
    f->n = frozendict;
    return V_PUSHED;
}

static VisitResult
visit_set(Copier *c, PyObject *x)
{
    PyObject *snapshot = PySequence_List(x);
    if (snapshot == NULL) {
        return V_ERROR;
    }
    PyObject *copies = fc_list_new_capacity(PyList_GET_SIZE(snapshot));  /* list_append_steal */
    if (copies == NULL) {
        Py_DECREF(snapshot);
        return V_ERROR;
    }
    return set_frame_push(c, x, snapshot, copies, 0);
}

#if FC_HAS_FROZENDICT
/* A frozendict (3.15): its values and keys copied in the stdlib's order
 * by a set frame (step_frozendict); not memoized until its copy is made,
 * as a tuple. */
static VisitResult
visit_frozendict(Copier *c, PyObject *x)
{
    Py_ssize_t n = PyDict_GET_SIZE(x), pos = 0;
    PyObject *items = fc_list_new_capacity(2 * n);
    PyObject *y = items ? PyDict_New() : NULL;
    if (y == NULL) {
        Py_XDECREF(items);
        return V_ERROR;
    }
    PyObject *key, *value;
    while (PyDict_Next(x, &pos, &key, &value)) {
        /* (a frozendict's table never changes: no Python code can run
         * between the size read above and these appends) */
        fc_list_append_steal(items, Py_NewRef(value));
        fc_list_append_steal(items, Py_NewRef(key));
    }
    return set_frame_push(c, x, items, y, 1);
}
#endif

static VisitResult
visit_reduce(Copier *c, PyObject *x, PyObject *rv, PyObject **out)
{
    if (rv == NULL) {
        rv = reduce_get(c->st, x, 1);
        if (rv == NULL) {
            return V_ERROR;
        }
    }
    ReduceParts p;
    switch (reduce_parse(rv, &p)) {
    case REDUCE_IS_STRING:
        Py_DECREF(rv);
        *out = Py_NewRef(x);
        return V_DONE;
    case REDUCE_DELEGATE: {
        VisitResult v = visit_python(c, x, NULL, rv, 0, out);
        Py_DECREF(rv);
        return v;
    }
    case REDUCE_NATIVE:
        break;
    }
    PyObject *cargs = NULL;
    if (PyTuple_GET_SIZE(p.args) > 0) {
        cargs = PyTuple_New(PyTuple_GET_SIZE(p.args));
        if (cargs == NULL) {
            Py_DECREF(rv);
            return V_ERROR;
        }
        PyObject_GC_UnTrack(cargs);   /* until filled: see visit_tuple */
    }
    Frame *f = NULL;
    if (c->reduce_depth >= FC_MAX_REDUCE_DEPTH) {
        PyErr_Format(PyExc_RecursionError,
                     "maximum recursion depth exceeded in deepcopy "
                     "(fastcopy follows at most %zd nested objects rebuilt "
                     "through __reduce_ex__)", (Py_ssize_t)FC_MAX_REDUCE_DEPTH);
    }
    else {
        f = frame_push(c, F_REDUCE, x);
    }
    if (f == NULL) {
        Py_DECREF(rv);
        Py_XDECREF(cargs);
        return V_ERROR;
    }
    c->reduce_depth++;
    f->a = rv;
    f->b = cargs;
    f->phase = R_ARGS;
    return V_PUSHED;
}

/* For plain_shadowed: -1 if key k is not an exact str, 1 if it is one of
 * the names that shadow the class's protocol answers, else 0. */
static inline int
shadowing_name(FcState *st, PyObject *k)
{
    if (!PyUnicode_CheckExact(k)) {
        return -1;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(k);
    if (len < 10 || len > 13 || PyUnicode_READ_CHAR(k, 0) != '_') {
        return 0;
    }
    PyObject *names[] = {st->s_deepcopy, st->s_reduce_ex, st->s_reduce, st->s_getstate};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (k == names[i] || PyUnicode_Compare(k, names[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* reduce_shadowed() for the plain path, without Python code when every
 * key of x's __dict__ is an exact str (otherwise the memo is flushed
 * first: comparing other keys may call __eq__).  Same contract. */
static int
plain_shadowed(Copier *c, PyObject *x, PyObject **dict)
{
    FcState *st = c->st;
    if (fc_existing_dict(x, dict) < 0) {
        return -1;
    }
    if (*dict == NULL) {
        return 0;    /* no __dict__ yet: nothing shadows, the state is None */
    }
    if (!FC_FREE_THREADED && PyDict_CheckExact(*dict) && PyDict_GET_SIZE(*dict) <= 16) {
        int r = 0;
#if FC_HAS_DICT_SLOTS
        /* a split table: scan its (shared) keys, no values needed */
        Py_ssize_t n;
        const FcDictUnicodeEntry *split = fc_dict_split_keys(*dict, &n);
        if (split != NULL && n <= 32) {
            for (Py_ssize_t i = 0; r == 0 && i < n; i++) {
                if (split[i].me_key != NULL) {
                    r = shadowing_name(st, split[i].me_key);
                }
            }
            if (r >= 0) {
                return r;
            }
        }
        else
#endif
        {
            Py_ssize_t pos = 0;
            PyObject *k, *v;
            while (r == 0 && fc_dict_next_fast(*dict, &pos, &k, &v)) {
                r = shadowing_name(st, k);
            }
            if (r >= 0) {
                return r;
            }
        }
    }
    if (memo_flush_if_needed(c) < 0) {
        return -1;    /* *dict is the caller's to release */
    }
    return reduce_dict_shadows(st, *dict);
}

static VisitResult
visit_plain(Copier *c, PyObject *x, PyObject **out)
{
    PyObject *dict, *y = NULL;
    int shadowed = plain_shadowed(c, x, &dict);
    if (shadowed != 0 || c->reduce_depth >= FC_MAX_REDUCE_DEPTH) {
        Py_XDECREF(dict);
        /* error; or the instance overrides the protocol, or the nesting
         * limit is reached: the generic path does (and reports) the rest */
        return shadowed < 0 ? V_ERROR : V_FALLBACK;
    }
    /* PLAIN_INLINE (see step_plain_inline) when the state's copy could be
     * elided: only x and this visit hold the dict, nothing on the stack
     * memoizes late, and its values can be written into a new instance */
    Py_ssize_t nstate = 0;
    FcDictValues *sv = NULL;
#if FC_HAS_INLINE_VALUES
    if (c->late == 0 && dict != NULL && Py_REFCNT(dict) == 2) {    /* (late: elision is on) */
        sv = fc_state_values(Py_TYPE(x), dict, &nstate);
    }
#endif
    /* y = copyreg.__newobj__(cls) == object.__new__(cls) (no Python code:
     * STRAT_PLAIN_DICT means tp_new is object's); with its values array
     * when they are to be written */
    y = fc_new_plain_instance(Py_TYPE(x), sv != NULL);
    int elide = y != NULL && can_elide(c, x, 1);
    if (y == NULL || (!elide && memo_put(c, x, y) < 0)) {
        Py_XDECREF(y);
        Py_XDECREF(dict);
        return V_ERROR;
    }
    if (dict == NULL || PyDict_GET_SIZE(dict) == 0) {    /* state None: nothing to set */
        Py_XDECREF(dict);
        return elide ? visit_finished_elided(c, x, y, out)
                     : visit_finished(c, x, y, 1, out);
    }
    Frame *f = frame_push(c, F_PLAIN, x);
    if (f == NULL) {
        Py_DECREF(y);
        Py_DECREF(dict);
        return V_ERROR;
    }
    c->reduce_depth++;
    f->y = y;
    f->a = dict;
#if FC_HAS_INLINE_VALUES
    if (sv != NULL && fc_values_for(y, sv, nstate) != NULL) {
        f->phase = PLAIN_INLINE;
        f->i = 0;
        f->n = nstate;
        f->n2 = -1;
        /* every index below the keys' entry count now fits y's values */
        Py_ssize_t ne = FC_CACHED_KEYS(Py_TYPE(x))->dk_nentries;
        f->lim = (uint8_t)(ne < 255 ? ne : 255);
        c->ninline++;
    }
#else
    (void)nstate, (void)sv;
#endif
    if (elide && elided_frame_push(c, f) < 0) {
        return V_ERROR;
    }
    return V_PUSHED;
}

/* An instance of a STRAT_SLOTS class (layout e): the new object, memoized,
 * and a frame copying the slots that are set (read now: the stdlib reads
 * them all, through __reduce_ex__, before copying any). */
static VisitResult
visit_slots(Copier *c, PyObject *x, const FcTypeEntry *e, PyObject **out)
{
    if (c->reduce_depth >= FC_MAX_REDUCE_DEPTH) {
        return V_FALLBACK;
    }
    PyTypeObject *tp = Py_TYPE(x);
    if (c->nsl + e->nslots > c->slcap) {
        SlotItem *ns = grow_array(c->sl, c->sl_small, &c->slcap, c->nsl + e->nslots,
                                  sizeof(SlotItem), NULL);
        if (ns == NULL) {
            return V_ERROR;
        }
        c->sl = ns;
    }
    Py_ssize_t base = c->nsl, n = 0;
    FC_BEGIN_CRITICAL_SECTION(x);   /* the lock setattr takes on free-threaded builds */
    for (int k = 0; k < e->nslots; k++) {
        PyObject *v = *(PyObject **)((char *)x + e->slot_off[k]);
        if (v != NULL) {
            c->sl[base + n].off = e->slot_off[k];
            c->sl[base + n].v = Py_NewRef(v);
            c->sl[base + n].y = NULL;
            n++;
        }
    }
    FC_END_CRITICAL_SECTION();
    PyObject *noargs = PyTuple_New(0), *y = NULL;
    if (noargs != NULL) {
        y = tp->tp_new(tp, noargs, NULL);
        Py_DECREF(noargs);
    }
    int elide = y != NULL && can_elide(c, x, 1);
    if (y == NULL || (!elide && memo_put(c, x, y) < 0)) {
        for (Py_ssize_t k = 0; k < n; k++) {
            Py_DECREF(c->sl[base + k].v);
        }
        Py_XDECREF(y);
        return V_ERROR;
    }
    if (n == 0) {                   /* state None: nothing to set */
        return elide ? visit_finished_elided(c, x, y, out)
                     : visit_finished(c, x, y, 1, out);
    }
    c->nsl = base + n;              /* owned by the frame from here */
    Frame *f = frame_push(c, F_SLOTS, x);
    if (f == NULL) {
        for (Py_ssize_t k = 0; k < n; k++) {
            Py_DECREF(c->sl[base + k].v);
        }
        c->nsl = base;
        Py_DECREF(y);
        return V_ERROR;
    }
    c->reduce_depth++;
    f->y = y;
    f->n2 = base;
    f->n = n;
    if (elide && elided_frame_push(c, f) < 0) {
        return V_ERROR;
    }
    return V_PUSHED;
}

/* memo_checked: the caller already looked x up in the native memo and
 * missed (nothing can have run in between). */
static VisitResult
visit(Copier *c, PyObject *x, PyObject **out, int memo_checked)
{
    FcState *st = c->st;
    PyTypeObject *tp = Py_TYPE(x);
    PyObject *y;

    if (c->stale && copier_wake(c) < 0) {    /* the collector, the tables */
        return V_ERROR;
    }
#if FC_GC_HOLD
    c->visits++;
#endif
    /* 3.14: `if cls in _atomic_types: return x` comes first */
    if (st->atomic_first && fc_is_deep_atomic(st, tp)) {
        *out = Py_NewRef(x);
        return V_DONE;
    }

    /* y = memo.get(id(x), _nil); if y is not _nil: return y */
    int rc = memo_checked ? 0 : memo_get(c, x, &y);
    if (rc != 0) {
        if (rc < 0) {
            return V_ERROR;
        }
        *out = y;
        return V_DONE;
    }

    /* copier = _deepcopy_dispatch.get(cls) */
    int in_dispatch = 1;
    PyObject *overrides = FC_LOAD(st->deep_overrides);
    if (overrides != NULL) {
        PyObject *copier;
        rc = fc_dict_getitem(overrides, (PyObject *)tp, &copier);
        if (rc < 0) {
            return V_ERROR;
        }
        if (rc > 0) {
            if (copier == Py_None) {
                in_dispatch = 0;     /* removed from the table */
                Py_DECREF(copier);
            }
            else {
                VisitResult v = visit_python(c, x, copier, NULL, 1, out);
                Py_DECREF(copier);
                return v;
            }
        }
    }
    if (in_dispatch) {
        if (tp == &PyList_Type) {
            return visit_list(c, x, out, 1);
        }
        if (tp == &PyDict_Type) {
            return visit_dict(c, x, out, 1);
        }
        if (tp == &PyTuple_Type) {
            return visit_tuple(c, x, out);
        }
#if FC_HAS_FROZENDICT
        if (tp == &PyFrozenDict_Type) {
            return visit_frozendict(c, x);
        }
#endif
        if (fc_is_deep_atomic(st, tp)) {
            *out = Py_NewRef(x);
            return V_DONE;
        }
        if (tp == st->method_type) {
            Frame *f = frame_push(c, F_METHOD, x);
            return f == NULL ? V_ERROR : V_PUSHED;
        }
    }

    /* issubclass(cls, type): classes are atomic */
    if (PyType_Check(x)) {
        *out = Py_NewRef(x);
        return V_DONE;
    }

    /* Exact builtins without __deepcopy__ that the stdlib reduces; copied
     * natively unless copyreg gives them a reducer, or Python code can see
     * the memo (then the temporary list the stdlib memoizes matters). */
    if (c->mode == MEMO_NATIVE) {
        if ((tp == &PySet_Type && !FC_LOAD_INT(st->set_reduced)) ||
            (tp == &PyFrozenSet_Type && !FC_LOAD_INT(st->frozenset_reduced))) {
            return visit_set(c, x);
        }
        if (tp == &PyByteArray_Type && !FC_LOAD_INT(st->bytearray_reduced)) {
            return visit_finished(c, x, fc_bytearray_copy(x), 0, out);
        }
    }

    /* Classes whose answers to the protocol are known from the type (see
     * fc_type_strategy): the reduce value without the lookups on the way. */
    int strategy = fc_type_strategy_cached(st, tp);
    if (strategy == 0) {
        /* computing it may run Python code (copyreg._slotnames, module
         * attributes) */
        if (memo_flush_if_needed(c) < 0) {
            return V_ERROR;
        }
        strategy = fc_type_strategy(st, tp);
        if (strategy < 0) {
            return V_ERROR;
        }
    }
    if (strategy >= STRAT_SELF) {
        /* known standard-library types (known.c) */
        rc = fc_known_copy(st, x, strategy, c->mode != MEMO_NATIVE, &y);
        if (rc < 0) {
            return V_ERROR;
        }
        if (rc > 0) {
            if (strategy == STRAT_SELF) {   /* deepcopy records nothing */
                *out = y;
                return V_DONE;
            }
            if (y == x) {
                /* a reduce rebuilt the object itself (3.13's timedelta(0)):
                 * _reconstruct memoizes it, deepcopy adds no keep-alive */
                if (memo_put(c, x, y) < 0) {
                    Py_DECREF(y);
                    return V_ERROR;
                }
                *out = y;
                return V_DONE;
            }
            return visit_finished(c, x, y, 0, out);
        }
    }
    if (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        if (strategy == STRAT_PLAIN_DICT && c->fast_atoms) {
            /* fast_atoms: deepcopy(cls, memo) would not consult the memo */
            VisitResult v = visit_plain(c, x, out);
            if (v != V_FALLBACK) {
                return v;
            }
        }
        else if (strategy == STRAT_SLOTS && c->fast_atoms && c->mode == MEMO_NATIVE) {
            /* native memo only: the stdlib's memo would also hold the
             * state tuple and dict, temporaries this path never builds */
            const FcTypeEntry *e = fc_type_entry(st, tp);
            VisitResult v = e != NULL ? visit_slots(c, x, e, out) : V_FALLBACK;
            if (v != V_FALLBACK) {
                return v;
            }
        }
        else if (strategy == STRAT_PLAIN || strategy == STRAT_PLAIN_DICT ||
                 strategy == STRAT_REDUCE) {
            if (memo_flush_if_needed(c) < 0) {
                return V_ERROR;
            }
            PyObject *rv = strategy == STRAT_REDUCE ? reduce_overridden(st, x)
                                                    : reduce_plain(st, x);
            if (rv == NULL) {
                return V_ERROR;
            }
            if (rv != Py_None) {
                return visit_reduce(c, x, rv, out);
            }
            Py_DECREF(rv);
        }
    }

    /* From here on Python code may run (__getattr__, hooks, reducers):
     * the memo must be the stdlib's. */
    if (memo_flush_if_needed(c) < 0) {
        return V_ERROR;
    }
    /* copier = getattr(x, "__deepcopy__", None) */
    PyObject *hook;
    rc = fc_lookup_attr(x, st->s_deepcopy, &hook);
    if (rc < 0) {
        return V_ERROR;
    }
    if (rc > 0) {
        if (hook != Py_None) {
            VisitResult v = visit_python(c, x, hook, NULL, 0, out);
            Py_DECREF(hook);
            return v;
        }
        Py_DECREF(hook);
    }
    return visit_reduce(c, x, NULL, out);
}

/* ------------------------------------------------------------------ */
/* entry point                                                        */

static PyObject *
run(Copier *c, PyObject *root)
{
    PyObject *result = NULL, *incoming = NULL;
    c->elide_extra = FC_ROOT_EXTRA;     /* the root is never elided */
    VisitResult v = visit(c, root, &result, 0);
    c->elide_extra = 0;
    if (v == V_DONE) {
        return result;
    }
    if (v == V_ERROR) {
        return NULL;
    }
    for (;;) {
        PyObject *done = NULL;
        StepResult s = step(c, incoming, &done);
        incoming = NULL;
        if (s == S_PUSHED) {
            continue;
        }
        if (s == S_ERROR) {
            return NULL;
        }
        frame_pop_done(c);
        if (c->depth == 0) {
            return done;
        }
        incoming = done;
    }
}

PyObject *
fc_deepcopy(FcState *st, PyObject *x, PyObject *memo)
{
    if (fc_state_sync(st) < 0) {
        return NULL;
    }
    int native = (memo == NULL || memo == Py_None);
    if (native && FC_LOAD(st->deep_overrides) == NULL &&
        fc_is_deep_atomic(st, Py_TYPE(x))) {
        return Py_NewRef(x);
    }

    if (fc_gc_checkpoint(&st->gc_owed) < 0) {     /* see gc_hold */
        return NULL;
    }
    Copier c;
    c.st = st;
    c.frames = c.small;
    c.depth = 0;
    c.reduce_depth = 0;
    c.npatch = 0;
    c.cap = FC_SMALL_FRAMES;
    c.ticks = 0;
    c.done = c.done_small;
    c.ndone = 0;
    c.done_cap = FC_SMALL_FRAMES;
    c.late = 0;
    c.elide = 1;      /* copier_update_fast_atoms adds 1 to late if not */
    c.elided_frames = c.elided_small;
    c.n_elided_frames = 0;
    c.elided_cap = FC_SMALL_FRAMES;
    c.flush_from = 0;
    c.ninline = 0;
    c.elide_extra = 0;
    c.atomic_gen = st->atomic_gen;
    c.nest = 0;
    c.stale = 0;      /* set below, once c.gc is known */
    c.gc = FC_GC_HOLD ? GC_RELEASED : GC_UNMANAGED;
    c.visits = 0;
    c.sl = c.sl_small;
    c.nsl = 0;
    c.slcap = FC_SMALL_FRAMES;
    c.memo = NULL;
    c.memo_id = NULL;
    memo_init(&c.table, &st->scratch[FC_SCRATCH_MEMO]);
    if (native) {
        c.mode = MEMO_NATIVE;
    }
    else {
        c.mode = PyDict_CheckExact(memo) ? MEMO_DICT : MEMO_MAPPING;
        if (c.mode == MEMO_MAPPING) {
            c.gc = GC_UNMANAGED;
        }
        c.memo = Py_NewRef(memo);
        c.memo_id = PyLong_FromVoidPtr(memo);
        if (c.memo_id == NULL) {
            Py_DECREF(c.memo);
            return NULL;
        }
    }
    copier_update_fast_atoms(&c);
    c.stale = c.gc == GC_RELEASED ? STALE_GC : 0;    /* the first visit holds it */

    PyObject *result = NULL;
    if (Py_EnterRecursiveCall(" in deepcopy") == 0) {
        result = run(&c, x);
        Py_LeaveRecursiveCall();
    }
    gc_release(&c);     /* before any object is released below */
    if (c.gc != GC_UNMANAGED) {
        st->gc_owed += c.visits;      /* for fc_gc_checkpoint */
    }

    /* Unwind whatever is left (only after an error). */
    while (c.depth > 0) {
        frame_pop(&c);
    }
    if (c.frames != c.small) {
        fc_scratch_give(&st->scratch[FC_SCRATCH_FRAMES], c.frames,
                        (size_t)c.cap * sizeof(Frame));
    }
    if (c.done != c.done_small) {
        fc_scratch_give(&st->scratch[FC_SCRATCH_DONE], c.done,
                        (size_t)c.done_cap * sizeof(DoneEntry));
    }
    if (c.elided_frames != c.elided_small) {
        fc_scratch_give(&st->scratch[FC_SCRATCH_ELIDED], c.elided_frames,
                        (size_t)c.elided_cap * sizeof(Py_ssize_t));
    }
    if (c.sl != c.sl_small) {
        PyMem_Free(c.sl);
    }
    memo_clear(&c.table);
    Py_XDECREF(c.memo);
    Py_XDECREF(c.memo_id);
    return result;
}
