/* patch.c -- swap how copy.deepcopy and copy.copy are called (3.10, 3.12+).
 *
 * Code that did `from copy import deepcopy` before fastcopy.patch() holds
 * the stdlib's function object itself, so patching must change what that
 * object does when called.  CPython 3.12 made the vectorcall entry point of
 * a Python function settable (PyFunction_SetVectorcall, which also resets
 * the function's version so specialised call sites stop inlining it).  We
 * point it at a C function that parses deepcopy's arguments and runs
 * fc_deepcopy; anything unusual (unknown keywords, wrong arity) goes to the
 * original entry point, i.e. the stdlib's own code, for its own error.
 * The function object keeps its name, module, signature, docstring and
 * code.
 *
 * 3.10 has no setter, but every call of a Python function goes through the
 * same slot there (the eval loop's call_function -> PyObject_Vectorcall,
 * tp_call = PyVectorcall_Call; 3.10 has no specialising call sites), so we
 * write PyFunctionObject.vectorcall directly -- a field of the public
 * cpython/funcobject.h struct.  The alternative, swapping __code__, is not
 * safe on 3.10 while other threads call the function: _PyFrame_New_NoTrack
 * allocates the frame for the code it read first (the allocation can run a
 * collection, gc.callbacks, and so another thread), then stores
 * func.__code__ as it is *afterwards*, so a swap in between leaves a frame
 * sized for one code object running another (seen as crashes in
 * tests/test_threads.py).  3.11 has neither the setter nor a slot its
 * specialiser respects (CALL_PY_EXACT_ARGS inlines the code), but its frame
 * push reads func_code once with nothing in between, so _patch.py swaps
 * __code__ there.
 */
#include "patch.h"
#include "deepcopy.h"
#include "shallow.h"

/* Where patching by entry point works: see the comment at the top. */
#define FC_PATCH_VECTORCALL (FC_PY312_PLUS || !FC_PY311_PLUS)

static void
patch_set_entry(PyObject *func, vectorcallfunc entry)
{
#if FC_PY312_PLUS
    PyFunction_SetVectorcall((PyFunctionObject *)func, entry);
#elif !FC_PY311_PLUS
    ((PyFunctionObject *)func)->vectorcall = entry;
#else
    (void)func;
    (void)entry;
#endif
}

typedef struct {
    PyObject *func;          /* owned while patched (a strong reference) */
    FcState *st;
    vectorcallfunc original;
    int deep;
#if FC_PARALLEL_INTERPRETERS
    int active;              /* patched now (see patch_remove) */
#endif
} PatchSlot;

/* Process-wide, in chunks of FC_PATCH_CHUNK slots: the first is static, the
 * others are added as needed and never moved or freed, so patch_call can
 * read a slot while another thread adds a chunk.  Each interpreter that
 * patches takes two slots (its own copy module has its own function
 * objects), and a host may run many: legacy subinterpreters, each of which
 * runs fastcopy-autopatch.pth when it imports site.  A module's slots are
 * freed by patch_remove_all when it goes (mod_free).
 *
 * patch()/unpatch() are serialised within an interpreter by _patch.py's
 * lock, and across interpreters by patch_lock where they may run at once
 * (3.12+, whose interpreters may each have a GIL of their own, and
 * free-threaded builds; 3.10 and 3.11 by the one GIL).  patch_call reads a
 * slot without a lock.  There (FC_PARALLEL_INTERPRETERS): a call may be
 * running patch_call in another thread while
 * unpatch() restores the function, so patch_remove leaves the slot's
 * fields as they are (only `active` goes to 0, and the reference is
 * released: the running call's caller holds its own), and patching the
 * same function again reuses its slot, writing the same values back (same
 * function, same entry point, same module state unless the module itself
 * was re-created). */
#define FC_PATCH_CHUNK 8

typedef struct PatchChunk {
    PatchSlot slot[FC_PATCH_CHUNK];
    struct PatchChunk *next;
} PatchChunk;

static PatchChunk patch_chunks;

#if FC_PARALLEL_INTERPRETERS
#if FC_PY313_PLUS
static PyMutex patch_lock;
#define PATCH_LOCK() PyMutex_Lock(&patch_lock)
#define PATCH_UNLOCK() PyMutex_Unlock(&patch_lock)
#else
/* 3.12 has no public PyMutex.  The lock is held for a few stores and at
 * most one allocation, and only while interpreters patch or unpatch at the
 * same moment, so a spin lock does. */
static atomic_flag patch_lock = ATOMIC_FLAG_INIT;
#define PATCH_LOCK() \
    do { \
    } while (atomic_flag_test_and_set_explicit(&patch_lock, memory_order_acquire))
#define PATCH_UNLOCK() atomic_flag_clear_explicit(&patch_lock, memory_order_release)
#endif
#define PATCH_NEXT(ch) \
    atomic_load_explicit((_Atomic(PatchChunk *) *)&(ch)->next, memory_order_acquire)
#define PATCH_PUBLISH(ch, n) \
    atomic_store_explicit((_Atomic(PatchChunk *) *)&(ch)->next, (n), memory_order_release)
#else
#define PATCH_LOCK() ((void)0)
#define PATCH_UNLOCK() ((void)0)
#define PATCH_NEXT(ch) ((ch)->next)
#define PATCH_PUBLISH(ch, n) ((ch)->next = (n))
#endif

static PatchSlot *
patch_find(PyObject *func)
{
    for (PatchChunk *ch = &patch_chunks; ch != NULL; ch = PATCH_NEXT(ch)) {
        for (int i = 0; i < FC_PATCH_CHUNK; i++) {
            if (ch->slot[i].func == func) {
                return &ch->slot[i];
            }
        }
    }
    return NULL;
}

#if FC_PATCH_VECTORCALL
/* A new chunk's first slot, or NULL with MemoryError. */
static PatchSlot *
patch_grow(void)
{
    PatchChunk *last = &patch_chunks;
    while (PATCH_NEXT(last) != NULL) {
        last = PATCH_NEXT(last);
    }
    PatchChunk *ch = PyMem_RawCalloc(1, sizeof(PatchChunk));
    if (ch == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    PATCH_PUBLISH(last, ch);
    return &ch->slot[0];
}
#endif

static PyObject *
patch_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PatchSlot *slot = patch_find(callable);
    if (slot == NULL) {
        PyErr_SetString(PyExc_SystemError, "fastcopy: patched function lost its slot");
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (!slot->deep) {
        if (nargs == 1 && kwnames == NULL) {
            return fc_copy(slot->st, args[0]);
        }
        return slot->original(callable, args, nargsf, kwnames);
    }
    /* deepcopy(x, memo=None, _nil=[]); 3.15: deepcopy(x, memo=None).
     * Anything else is the stdlib's own call (and TypeError). */
    PyObject *x = nargs >= 1 ? args[0] : NULL;
    PyObject *memo = nargs >= 2 ? args[1] : NULL;
    int ok = nargs <= (FC_MEMO_CONTAINS ? 2 : 3);
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; ok && i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        if (x == NULL && PyUnicode_CompareWithASCIIString(name, "x") == 0) {
            x = args[nargs + i];
        }
        else if (memo == NULL && PyUnicode_CompareWithASCIIString(name, "memo") == 0) {
            memo = args[nargs + i];
        }
        else if (!FC_MEMO_CONTAINS && nargs < 3 &&
                 PyUnicode_CompareWithASCIIString(name, "_nil") == 0) {
            continue;
        }
        else {
            ok = 0;
        }
    }
    if (!ok || x == NULL) {
        return slot->original(callable, args, nargsf, kwnames);
    }
    return fc_deepcopy(slot->st, x, memo);
}

#if FC_PATCH_VECTORCALL
/* The slot to patch `func` in: its own (NULL when it is patched already),
 * a free one, or one of a new chunk.  *err on failure. */
static PatchSlot *
patch_take(PyObject *func, int *err)
{
    *err = 0;
    PatchSlot *slot = patch_find(func);
#if FC_PARALLEL_INTERPRETERS
    if (slot != NULL) {
        return slot->active ? NULL : slot;
    }
    slot = patch_find(NULL);
    for (PatchChunk *ch = &patch_chunks; slot == NULL && ch != NULL; ch = PATCH_NEXT(ch)) {
        for (int i = 0; slot == NULL && i < FC_PATCH_CHUNK; i++) {
            /* reuse one unpatched earlier, rather than grow for every
             * interpreter ever created (a call that raced with that unpatch
             * and is still before its patch_find would then get the "lost
             * its slot" SystemError, not a crash) */
            if (!ch->slot[i].active) {
                slot = &ch->slot[i];
            }
        }
    }
#else
    if (slot != NULL) {
        return NULL;
    }
    slot = patch_find(NULL);
#endif
    if (slot == NULL && (slot = patch_grow()) == NULL) {
        *err = 1;
    }
    return slot;
}
#endif

int
patch_install(FcState *st, PyObject *func, int deep)
{
#if FC_PATCH_VECTORCALL
    if (!PyFunction_Check(func)) {
        PyErr_SetString(PyExc_TypeError, "fastcopy: can only patch a Python function");
        return -1;
    }
    PATCH_LOCK();
    int err;
    PatchSlot *slot = patch_take(func, &err);
    if (slot != NULL) {
        slot->func = Py_NewRef(func);
        slot->st = st;
        slot->deep = deep;
        slot->original = ((PyFunctionObject *)func)->vectorcall;
#if FC_PARALLEL_INTERPRETERS
        slot->active = 1;
#endif
        patch_set_entry(func, patch_call);
    }
    PATCH_UNLOCK();
    return err ? -1 : 0;
#else
    (void)st;
    (void)func;
    (void)deep;
    (void)patch_find;
    (void)patch_call;
    (void)patch_set_entry;
    PyErr_SetString(PyExc_NotImplementedError,
                    "fastcopy: patching by entry point is not used on Python 3.11");
    return -1;
#endif
}

/* Undo patch_install for `slot`; returns the reference it held, for the
 * caller to release once no slot is being changed. */
static PyObject *
patch_clear(PatchSlot *slot)
{
    PyObject *func = slot->func;
#if FC_PARALLEL_INTERPRETERS
    if (!slot->active) {
        return NULL;
    }
    patch_set_entry(func, slot->original);
    slot->active = 0;     /* the rest stays for calls still in patch_call */
#else
#if FC_PATCH_VECTORCALL
    patch_set_entry(func, slot->original);
#endif
    memset(slot, 0, sizeof(*slot));
#endif
    return func;
}

int
patch_remove(PyObject *func)
{
    if (func == NULL) {
        return 0;
    }
    PATCH_LOCK();
    PatchSlot *slot = patch_find(func);
    PyObject *held = slot != NULL ? patch_clear(slot) : NULL;
    PATCH_UNLOCK();
    Py_XDECREF(held);
    return 0;
}

void
patch_remove_all(FcState *st)
{
    for (PatchChunk *ch = &patch_chunks; ch != NULL; ch = PATCH_NEXT(ch)) {
        for (int i = 0; i < FC_PATCH_CHUNK; i++) {
            PATCH_LOCK();
            PatchSlot *slot = &ch->slot[i];
            PyObject *held = slot->func != NULL && slot->st == st ? patch_clear(slot) : NULL;
            PATCH_UNLOCK();
            Py_XDECREF(held);
        }
    }
}
