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

#define FC_PATCH_SLOTS 4

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
    PyObject *func;          /* borrowed identity; kept alive by `copy` */
    FcState *st;
    vectorcallfunc original;
    int deep;
#ifdef Py_GIL_DISABLED
    int active;              /* patched now (see patch_remove) */
#endif
} PatchSlot;

/* Process-wide: the stdlib function objects are process-wide too.
 * patch()/unpatch() are serialised by _patch.py's lock; patch_call reads a
 * slot without it.  Free-threaded builds: a call may be running
 * patch_call in another thread while unpatch() restores the function, so
 * patch_remove leaves the slot's fields as they are (only `active` goes
 * to 0), and patching the same function again reuses its slot, writing
 * the same values back (same function, same entry point, same module
 * state unless the module itself was re-created). */
static PatchSlot patch_slots[FC_PATCH_SLOTS];

static PatchSlot *
patch_find(PyObject *func)
{
    for (int i = 0; i < FC_PATCH_SLOTS; i++) {
        if (patch_slots[i].func == func) {
            return &patch_slots[i];
        }
    }
    return NULL;
}

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
    /* deepcopy(x, memo=None, _nil=[]) */
    PyObject *x = nargs >= 1 ? args[0] : NULL;
    PyObject *memo = nargs >= 2 ? args[1] : NULL;
    int ok = nargs <= 3;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; ok && i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        if (x == NULL && PyUnicode_CompareWithASCIIString(name, "x") == 0) {
            x = args[nargs + i];
        }
        else if (memo == NULL && PyUnicode_CompareWithASCIIString(name, "memo") == 0) {
            memo = args[nargs + i];
        }
        else if (nargs < 3 && PyUnicode_CompareWithASCIIString(name, "_nil") == 0) {
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

int
patch_install(FcState *st, PyObject *func, int deep)
{
#if FC_PATCH_VECTORCALL
    if (!PyFunction_Check(func)) {
        PyErr_SetString(PyExc_TypeError, "fastcopy: can only patch a Python function");
        return -1;
    }
#ifdef Py_GIL_DISABLED
    PatchSlot *slot = patch_find(func);
    if (slot != NULL) {
        if (slot->active) {
            return 0;
        }
    }
    else {
        slot = patch_find(NULL);
        for (int i = 0; slot == NULL && i < FC_PATCH_SLOTS; i++) {
            /* all taken: reuse one unpatched earlier (a call that raced
             * with that unpatch and is still before its patch_find would
             * then get the "lost its slot" SystemError, not a crash) */
            if (!patch_slots[i].active) {
                slot = &patch_slots[i];
            }
        }
    }
#else
    if (patch_find(func) != NULL) {
        return 0;
    }
    PatchSlot *slot = patch_find(NULL);
#endif
    if (slot == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "fastcopy: too many patched functions");
        return -1;
    }
    slot->func = func;
    slot->st = st;
    slot->deep = deep;
    slot->original = ((PyFunctionObject *)func)->vectorcall;
#ifdef Py_GIL_DISABLED
    slot->active = 1;
#endif
    patch_set_entry(func, patch_call);
    return 0;
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

int
patch_remove(PyObject *func)
{
    PatchSlot *slot = patch_find(func);
    if (slot == NULL || func == NULL) {
        return 0;
    }
#ifdef Py_GIL_DISABLED
    if (!slot->active) {
        return 0;
    }
    patch_set_entry(func, slot->original);
    slot->active = 0;     /* the rest stays for calls still in patch_call */
#else
#if FC_PATCH_VECTORCALL
    patch_set_entry(func, slot->original);
#endif
    memset(slot, 0, sizeof(*slot));
#endif
    return 0;
}

void
patch_remove_all(FcState *st)
{
    for (int i = 0; i < FC_PATCH_SLOTS; i++) {
        if (patch_slots[i].func != NULL && patch_slots[i].st == st) {
            (void)patch_remove(patch_slots[i].func);
        }
    }
}
