/* module.c -- the fastcopy._fastcopy module: state set-up (multi-phase
 * init), dispatch-table change detection, and the Python-facing functions.
 *
 * Dispatch tables.  The stdlib lets third parties change how types are
 * copied through copy._deepcopy_dispatch, copy._copy_dispatch and
 * copyreg.dispatch_table.  At start-up fastcopy records what the stdlib
 * itself put in the first two ("expected"); before every call it checks,
 * in O(1), whether any of the tables (or the copy module's globals that
 * name them) changed, and if so recomputes the "overrides": every type
 * whose current entry differs from the expected one.  With no overrides
 * (the normal case) the engine uses its native paths only.
 *
 * 3.14 replaced copy._copy_dispatch and the atomic entries of
 * copy._deepcopy_dispatch with three sets of types (_atomic_types,
 * _copy_atomic_types, _copy_builtin_containers; frozensets from 3.15).
 * fastcopy reads their members on every rebuild, and a call also
 * rebuilds when a set was changed in place (FcTypeSet, state.h).
 */
#include "deepcopy.h"
#include "dispatch.h"
#include "floor.h"
#include "patch.h"
#include "shallow.h"
#include "state.h"
#include "template.h"

/* ------------------------------------------------------------------ */
/* change detection                                                   */

#if FC_HAS_DICT_WATCHERS
/* Bumped by the watcher on any change to a watched dict.  Shared by all
 * module instances: a spurious bump only costs one recomputation.
 * Interpreters with GILs of their own (FC_PARALLEL_INTERPRETERS) bump and
 * read it at the same time, so it is atomic there; on free-threaded builds
 * the watcher runs in whichever thread changed the dict, so the state's
 * copy of it and `synced` (read by fc_state_sync outside the rebuild lock)
 * are atomic too.  On builds with a GIL a state is only used by the threads
 * of its own interpreter, which hold that interpreter's GIL. */
#if FC_PARALLEL_INTERPRETERS
static _Atomic(unsigned long) fc_generation = 1;
#define FC_GENERATION() atomic_load_explicit(&fc_generation, memory_order_acquire)
#define FC_BUMP_GENERATION() atomic_fetch_add_explicit(&fc_generation, 1, memory_order_acq_rel)
#else
static unsigned long fc_generation = 1;
#define FC_GENERATION() fc_generation
#define FC_BUMP_GENERATION() (fc_generation++)
#endif
#ifdef Py_GIL_DISABLED
#define FC_SEEN_GENERATION(st) \
    atomic_load_explicit((_Atomic(unsigned long) *)&(st)->seen_generation, memory_order_acquire)
#define FC_SET_SEEN_GENERATION(st, g) \
    atomic_store_explicit((_Atomic(unsigned long) *)&(st)->seen_generation, (g), memory_order_release)
#else
#define FC_SEEN_GENERATION(st) ((st)->seen_generation)
#define FC_SET_SEEN_GENERATION(st, g) ((st)->seen_generation = (g))
#endif
#endif

#ifdef Py_GIL_DISABLED
#define FC_SYNCED(st) atomic_load_explicit((_Atomic(int) *)&(st)->synced, memory_order_acquire)
#define FC_SET_SYNCED(st, v) \
    atomic_store_explicit((_Atomic(int) *)&(st)->synced, (v), memory_order_release)
/* Process-wide source of the strategy caches' epochs (state.h). */
static _Atomic(uint64_t) fc_epochs = 1;
#else
#define FC_SYNCED(st) ((st)->synced)
#define FC_SET_SYNCED(st, v) ((st)->synced = (v))
#endif

#if FC_HAS_DICT_WATCHERS

static int
state_watch_cb(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
               PyObject *new_value)
{
    (void)event;
    (void)dict;
    (void)key;
    (void)new_value;
    FC_BUMP_GENERATION();
    return 0;
}
#endif

/* {type: entry} of `current` that differ from `expected`, with None for
 * expected types missing from `current`.  New dict, or Py_None when there
 * is no difference, or NULL on error. */
static PyObject *
state_diff(PyObject *current, PyObject *expected)
{
#ifdef Py_GIL_DISABLED
    /* current is a dict of the copy module other threads may change:
     * walk a snapshot of it (PyDict_Copy takes the dict's lock) */
    current = PyDict_Copy(current);
    if (current == NULL) {
        return NULL;
    }
#define FC_DIFF_RETURN(v) do { Py_DECREF(current); return (v); } while (0)
#else
#define FC_DIFF_RETURN(v) return (v)
#endif
    PyObject *out = PyDict_New();
    if (out == NULL) {
        FC_DIFF_RETURN(NULL);
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(current, &pos, &key, &value)) {
        PyObject *want = PyDict_GetItemWithError(expected, key);
        if (want == NULL && PyErr_Occurred()) {
            goto error;
        }
        if (want != value && PyDict_SetItem(out, key, value) < 0) {
            goto error;
        }
    }
    pos = 0;
    while (PyDict_Next(expected, &pos, &key, &value)) {
        int has = PyDict_Contains(current, key);
        if (has < 0 || (has == 0 && PyDict_SetItem(out, key, Py_None) < 0)) {
            goto error;
        }
    }
    if (PyDict_GET_SIZE(out) == 0) {
        Py_DECREF(out);
        FC_DIFF_RETURN(Py_NewRef(Py_None));
    }
    FC_DIFF_RETURN(out);
error:
    Py_DECREF(out);
    FC_DIFF_RETURN(NULL);
#undef FC_DIFF_RETURN
}

/* copy.<name>, which must be a dict.  New reference or NULL. */
static PyObject *
state_copy_global_dict(FcState *st, const char *name)
{
    PyObject *d;
    int rc = fc_dict_getitem_cstr(st->copy_dict, name, &d);
    if (rc < 0) {
        return NULL;              /* (a MemoryError, not a missing name) */
    }
    if (rc == 0 || !PyDict_Check(d)) {
        Py_XDECREF(d);
        PyErr_Format(PyExc_RuntimeError,
                     "fastcopy: copy.%s is missing or not a dict", name);
        return NULL;
    }
    return d;
}

static int
state_add_atomic(PyTypeObject **arr, int *n, PyObject *type)
{
    if (!PyType_Check(type)) {
        return 0;
    }
    for (int i = 0; i < *n; i++) {
        if (arr[i] == (PyTypeObject *)type) {
            return 0;
        }
    }
    if (*n >= FC_MAX_ATOMIC) {
        PyErr_SetString(PyExc_RuntimeError, "fastcopy: too many atomic types");
        return -1;
    }
    arr[(*n)++] = (PyTypeObject *)type;
    return 0;
}

/* The deep-copy atomic types (all_atomic, n_all of them) into the state:
 * the five hot types tested inline when all of them are atomic, the rest
 * in deep_atomic, and the flags no atomic type has. */
static void
state_set_deep_atomics(FcState *st, PyTypeObject *const *all_atomic, int n_all)
{
    PyTypeObject *hot[5] = {&PyUnicode_Type, &PyLong_Type, &PyFloat_Type,
                            &PyBool_Type, Py_TYPE(Py_None)};
    int hot_found = 0;
    for (int i = 0; i < n_all; i++) {
        for (int j = 0; j < 5; j++) {
            hot_found += (all_atomic[i] == hot[j]);
        }
    }
    st->hot_atomic = (hot_found == 5);
    st->non_atomic_flags = Py_TPFLAGS_HEAPTYPE | Py_TPFLAGS_LIST_SUBCLASS |
                           Py_TPFLAGS_TUPLE_SUBCLASS | Py_TPFLAGS_DICT_SUBCLASS;
    for (int i = 0; i < n_all; i++) {
        st->non_atomic_flags &= ~PyType_GetFlags(all_atomic[i]);
    }
    st->n_deep_atomic = 0;
    for (int i = 0; i < n_all; i++) {
        int is_hot = 0;
        for (int j = 0; j < 5; j++) {
            is_hot |= (all_atomic[i] == hot[j]);
        }
        if (!(is_hot && st->hot_atomic)) {
            st->deep_atomic[st->n_deep_atomic++] = all_atomic[i];
        }
    }
}

/* 3.14+: copy.<name>, which must be an exact set or frozenset: its
 * members that are types into arr (*n of them), and where each member
 * sits in its table into ts (state.h, FcTypeSet).  The table is read
 * through PySetObject, a struct of the public non-limited API
 * (cpython/setobject.h), by its documented invariants: an unused slot
 * has a NULL key, a dummy (a removed member) the hash -1. */
static int
state_read_typeset(FcState *st, const char *name, FcTypeSet *ts, PyTypeObject **arr, int *n)
{
    PyObject *set;
    int rc = fc_dict_getitem_cstr(st->copy_dict, name, &set);
    if (rc < 0) {
        return -1;
    }
    if (rc == 0 || !PyAnySet_CheckExact(set)) {
        Py_XDECREF(set);
        PyErr_Format(PyExc_RuntimeError,
                     "fastcopy: copy.%s is missing or not a set or frozenset", name);
        return -1;
    }
    int ok = 1;
    *n = 0;
    FC_BEGIN_CRITICAL_SECTION(set);
    PySetObject *so = (PySetObject *)set;
    ts->frozen = PyFrozenSet_CheckExact(set);
    ts->n = 0;
    ts->mask = so->mask;
    if (so->used > FC_MAX_ATOMIC) {
        ok = 0;
    }
    for (Py_ssize_t i = 0; ok && i <= so->mask; i++) {
        PyObject *key = so->table[i].key;
        if (key == NULL || so->table[i].hash == -1) {
            continue;
        }
        ts->at[ts->n].key = key;
        ts->at[ts->n++].off = (Py_ssize_t)((char *)&so->table[i].key - (char *)so->table);
        if (PyType_Check(key)) {
            arr[(*n)++] = (PyTypeObject *)key;
        }
    }
    /* (an empty set has nothing to repeat: n4 stays 0) */
    for (ts->n4 = ts->n; ts->n4 % 4 != 0; ts->n4++) {
        ts->at[ts->n4] = ts->at[0];
    }
    FC_END_CRITICAL_SECTION();
    if (!ok) {
        Py_DECREF(set);
        PyErr_Format(PyExc_RuntimeError, "fastcopy: more than %d types in copy.%s",
                     FC_MAX_ATOMIC, name);
        return -1;
    }
#ifdef Py_GIL_DISABLED
    /* copies in other threads read ts->set without a lock (fc_state_sync):
     * a replaced set is kept in st->retired, as state_rebuild keeps the
     * dispatch dicts it replaces */
    PyObject *old = ts->set;
    if (old != NULL && old != set &&
        ((st->retired == NULL && (st->retired = PyList_New(0)) == NULL) ||
         PyList_Append(st->retired, old) < 0)) {
        Py_DECREF(set);
        return -1;
    }
    FC_STORE(ts->set, set);
    Py_XDECREF(old);
#else
    Py_XSETREF(ts->set, set);
#endif
    return 0;
}

/* Do a[0..na) and b[0..nb) hold the same types (in any order)? */
static int
state_same_types(PyTypeObject *const *a, int na, PyTypeObject *const *b, int nb)
{
    if (na != nb) {
        return 0;
    }
    for (int i = 0; i < na; i++) {
        int found = 0;
        for (int j = 0; j < nb && !found; j++) {
            found = a[i] == b[j];
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

/* 3.14+: the three sets read again (state_rebuild).  Free-threaded
 * builds: copies in other threads read the atomic types without a lock,
 * so they are set once, at start-up; a later change to the sets' members
 * is a RuntimeError there (docs/design.md, "Python 3.14 and 3.15"). */
static int
state_read_type_sets(FcState *st)
{
    PyTypeObject *deep[FC_MAX_ATOMIC], *shallow[FC_MAX_ATOMIC], *cont[FC_MAX_ATOMIC];
    int n_deep, n_shallow, n_cont;
    if (state_read_typeset(st, "_atomic_types", &st->deep_set, deep, &n_deep) < 0 ||
        state_read_typeset(st, "_copy_atomic_types", &st->shallow_set, shallow, &n_shallow) < 0 ||
        state_read_typeset(st, "_copy_builtin_containers", &st->containers_set, cont,
                           &n_cont) < 0) {
        return -1;
    }
    if (!st->types_read) {
        /* the stdlib's own members (or what was there when fastcopy was
         * imported) */
        memcpy(st->deep_init, deep, sizeof(deep));
        st->n_deep_init = n_deep;
#ifdef Py_GIL_DISABLED
        memcpy(st->shallow_init, shallow, sizeof(shallow));
        st->n_shallow_init = n_shallow;
        memcpy(st->cont_init, cont, sizeof(cont));
        st->n_cont_init = n_cont;
#endif
        st->types_read = 1;
    }
    int same = state_same_types(deep, n_deep, st->deep_init, st->n_deep_init);
#ifdef Py_GIL_DISABLED
    if (!same || !state_same_types(shallow, n_shallow, st->shallow_init, st->n_shallow_init) ||
        !state_same_types(cont, n_cont, st->cont_init, st->n_cont_init)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "fastcopy: a change to the members of copy._atomic_types, "
                        "copy._copy_atomic_types or copy._copy_builtin_containers is "
                        "not supported on free-threaded builds");
        return -1;
    }
#endif
    st->atomic_custom = !same;
    if (!state_same_types(deep, n_deep, st->deep_now, st->n_deep_now)) {
        st->atomic_gen++;
        memcpy(st->deep_now, deep, sizeof(deep));
        st->n_deep_now = n_deep;
    }
    state_set_deep_atomics(st, deep, n_deep);
    memcpy(st->shallow_atomic, shallow, sizeof(shallow));
    st->n_shallow_atomic = n_shallow;
    st->cont_list = st->cont_dict = st->cont_set = st->cont_bytearray = 0;
    st->n_shallow_containers = 0;
    for (int i = 0; i < n_cont; i++) {
        PyTypeObject *tp = cont[i];
        if (tp == &PyList_Type) {
            st->cont_list = 1;
        }
        else if (tp == &PyDict_Type) {
            st->cont_dict = 1;
        }
        else if (tp == &PySet_Type) {
            st->cont_set = 1;
        }
        else if (tp == &PyByteArray_Type) {
            st->cont_bytearray = 1;
        }
        else {
            st->shallow_containers[st->n_shallow_containers++] = tp;
        }
    }
    return 0;
}

static int
state_rebuild(FcState *st)
{
    PyObject *deep = NULL, *shallow = NULL, *table = NULL;
    PyObject *dover = NULL, *sover = NULL;

    /* Not synced until this rebuild has finished: a failure part way (no
     * memory) leaves the state to be rebuilt by the next call, rather than
     * marked current (the generation below) with the old tables. */
    FC_SET_SYNCED(st, 0);
    deep = state_copy_global_dict(st, "_deepcopy_dispatch");
    if (deep == NULL) {
        goto error;
    }
    if (st->atomic_first) {
        if (state_read_type_sets(st) < 0) {
            goto error;
        }
    }
    else if ((shallow = state_copy_global_dict(st, "_copy_dispatch")) == NULL) {
        goto error;
    }
    int has_table = fc_dict_getitem_cstr(st->copy_dict, "dispatch_table", &table);
    if (has_table <= 0) {
        if (has_table == 0) {
            PyErr_SetString(PyExc_RuntimeError, "fastcopy: copy.dispatch_table is missing");
        }
        goto error;
    }
    dover = state_diff(deep, st->deep_expected);
    if (dover == NULL) {
        goto error;
    }
    sover = shallow ? state_diff(shallow, st->shallow_expected) : Py_NewRef(Py_None);
    if (sover == NULL) {
        goto error;
    }
    if (PyDict_Check(table)) {
        int a = PyDict_Contains(table, (PyObject *)&PySet_Type);
        int b = PyDict_Contains(table, (PyObject *)&PyFrozenSet_Type);
        int c = PyDict_Contains(table, (PyObject *)&PyByteArray_Type);
        if (a < 0 || b < 0 || c < 0) {
            goto error;
        }
        FC_STORE_INT(st->set_reduced, a);
        FC_STORE_INT(st->frozenset_reduced, b);
        FC_STORE_INT(st->bytearray_reduced, c);
    }
    else {
        FC_STORE_INT(st->set_reduced, 1);
        FC_STORE_INT(st->frozenset_reduced, 1);
        FC_STORE_INT(st->bytearray_reduced, 1);
    }
#if FC_HAS_DICT_WATCHERS
    FC_SET_SEEN_GENERATION(st, FC_GENERATION());
    if (PyDict_Watch(st->watcher_id, st->copy_dict) < 0 ||
        PyDict_Watch(st->watcher_id, deep) < 0 ||
        (shallow != NULL && PyDict_Watch(st->watcher_id, shallow) < 0) ||
        (PyDict_Check(table) && PyDict_Watch(st->watcher_id, table) < 0)) {
        goto error;
    }
#endif
#ifdef Py_GIL_DISABLED
    /* Copies running in other threads read these fields without a lock
     * (FC_LOAD) and use what they read without a reference of their own,
     * so nothing replaced here may be freed while one of them could still
     * hold it.  Instead of a reclamation scheme, a replaced object is kept
     * in st->retired until the module is cleared: a rebuild retires only
     * what it actually replaced (the dispatch dicts are normally the same
     * objects, changed in place) and the override dicts, which exist only
     * while copy._deepcopy_dispatch or copy._copy_dispatch differ from
     * the stdlib's.  The rebuild itself runs under the critical section
     * of fc_state_sync, which also guards st->retired. */
    if (st->retired == NULL && (st->retired = PyList_New(0)) == NULL) {
        goto error;
    }
    {
        PyObject *new_dover = dover == Py_None ? NULL : dover;
        PyObject *new_sover = sover == Py_None ? NULL : sover;
        PyObject *old[5] = {st->deep_dispatch, st->shallow_dispatch, st->dispatch_table,
                            st->deep_overrides, st->shallow_overrides};
        PyObject *now[5] = {deep, shallow, table, new_dover, new_sover};
        for (int i = 0; i < 5; i++) {
            if (old[i] != NULL && old[i] != now[i] &&
                PyList_Append(st->retired, old[i]) < 0) {
                goto error;
            }
        }
        FC_STORE(st->deep_dispatch, deep);
        FC_STORE(st->shallow_dispatch, shallow);
        FC_STORE(st->dispatch_table, table);
        FC_STORE(st->deep_overrides, Py_XNewRef(new_dover));
        FC_STORE(st->shallow_overrides, Py_XNewRef(new_sover));
        for (int i = 0; i < 5; i++) {
            Py_XDECREF(old[i]);    /* st->retired holds the replaced ones */
        }
    }
#else
    Py_XSETREF(st->deep_dispatch, deep);
    Py_XSETREF(st->shallow_dispatch, shallow);
    Py_XSETREF(st->dispatch_table, table);
    Py_CLEAR(st->deep_overrides);
    Py_CLEAR(st->shallow_overrides);
    st->deep_overrides = dover == Py_None ? NULL : Py_NewRef(dover);
    st->shallow_overrides = sover == Py_None ? NULL : Py_NewRef(sover);
#endif
    Py_DECREF(dover);
    Py_DECREF(sover);
#if !FC_HAS_DICT_WATCHERS
    st->seen_dicts[0] = st->copy_dict;
    st->seen_dicts[1] = st->deep_dispatch;
    st->seen_dicts[2] = st->shallow_dispatch;
    st->seen_dicts[3] = PyDict_Check(table) ? table : NULL;
    for (int i = 0; i < 4; i++) {
        st->seen_version[i] = st->seen_dicts[i] ? fc_dict_version(st->seen_dicts[i]) : 0;
    }
#endif
#ifdef Py_GIL_DISABLED
    /* every thread's cache for st is stale from now on (state.h) */
    atomic_store_explicit((_Atomic(uint64_t) *)&st->cache_epoch,
                          atomic_fetch_add_explicit(&fc_epochs, 1, memory_order_relaxed) + 1,
                          memory_order_release);
#else
    memset(st->type_cache, 0, sizeof(st->type_cache));
#endif
    FC_SET_SYNCED(st, 1);
    return 0;
error:
    Py_XDECREF(deep);
    Py_XDECREF(shallow);
    Py_XDECREF(table);
    Py_XDECREF(dover);
    Py_XDECREF(sover);
    return -1;
}

/* Are the sets of 3.14+ as they were read (state.h)?  Free-threaded
 * builds read a set's table under its lock. */
static int
state_typeset_same(const FcTypeSet *ts)
{
    int same;
    if (ts->frozen) {
        return 1;
    }
    PyObject *set = FC_LOAD(ts->set);
    FC_BEGIN_CRITICAL_SECTION(set);
    same = fc_typeset_same(ts, set);
    FC_END_CRITICAL_SECTION();
    return same;
}

static int
state_sync_rebuild(FcState *st)
{
    /* Free-threaded builds: one rebuild at a time (the lock is the copy
     * module's namespace, the dict the snapshot is taken from). */
    int rc;
    FC_BEGIN_CRITICAL_SECTION(st->copy_dict);
    rc = state_rebuild(st);
    FC_END_CRITICAL_SECTION();
    return rc;
}

int
fc_state_sync(FcState *st)
{
#if FC_HAS_DICT_WATCHERS
    if (FC_SYNCED(st) && FC_SEEN_GENERATION(st) == FC_GENERATION() &&
        (!st->atomic_first || state_typeset_same(&st->deep_set))) {
        return 0;
    }
#else
    if (st->synced) {
        int same = 1;
        for (int i = 0; i < 4 && same; i++) {
            PyObject *d = st->seen_dicts[i];
            same = d == NULL || fc_dict_version(d) == st->seen_version[i];
        }
        if (same) {
            return 0;
        }
    }
#endif
    return state_sync_rebuild(st);
}

int
fc_state_sync_shallow(FcState *st)
{
    if (fc_state_sync(st) < 0) {
        return -1;
    }
    if (st->atomic_first &&
        (!state_typeset_same(&st->shallow_set) || !state_typeset_same(&st->containers_set))) {
        return state_sync_rebuild(st);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* set-up                                                             */

/* Python helpers for the rare paths where the interpreter's own behaviour
 * (its exact error messages) is wanted. */
static const char trampoline_src[] =
    "import copy as _copy\n"
    "def reconstruct(x, memo, rv):\n"
    "    return _copy._reconstruct(x, memo, *rv)\n"
    "def pair(item):\n"
    "    key, value = item\n"
    "    return key, value\n";

static PyObject *
state_optional_attr(PyObject *obj, const char *name)
{
    PyObject *s = PyUnicode_FromString(name), *r = NULL;
    if (s == NULL) {
        return NULL;
    }
    if (fc_lookup_attr(obj, s, &r) == 0) {
        r = Py_NewRef(Py_None);   /* absent: None never equals a table entry */
    }
    Py_DECREF(s);
    return r;
}

static int
state_expect(PyObject *expected, PyObject *type, PyObject *fn)
{
    if (fn == Py_None) {
        return 0;
    }
    return PyDict_SetItem(expected, type, fn);
}

static int
state_init(FcState *st)
{
    /* deep and shallow are borrowed (from the copy module's dict) */
    PyObject *copyreg = NULL, *deep = NULL, *shallow = NULL, *atomic = NULL;
    PyObject *globals = NULL, *res = NULL;

    st->copy_module = PyImport_ImportModule("copy");
    copyreg = PyImport_ImportModule("copyreg");
    if (st->copy_module == NULL || copyreg == NULL) {
        goto error;
    }
    st->copy_dict = Py_NewRef(PyModule_GetDict(st->copy_module));
    st->copy_error = PyObject_GetAttrString(st->copy_module, "Error");
    st->newobj = PyObject_GetAttrString(copyreg, "__newobj__");
    st->newobj_ex = PyObject_GetAttrString(copyreg, "__newobj_ex__");
    if (!st->copy_error || !st->newobj || !st->newobj_ex) {
        goto error;
    }
#define GET(field, obj, name)                                      \
    if ((st->field = state_optional_attr((obj), (name))) == NULL) { \
        goto error;                                                \
    }
    GET(fn_stdlib_deepcopy, st->copy_module, "deepcopy")
    GET(fn_deep_atomic, st->copy_module, "_deepcopy_atomic")
    GET(fn_deep_list, st->copy_module, "_deepcopy_list")
    GET(fn_deep_tuple, st->copy_module, "_deepcopy_tuple")
    GET(fn_deep_dict, st->copy_module, "_deepcopy_dict")
    GET(fn_deep_method, st->copy_module, "_deepcopy_method")
#if FC_HAS_FROZENDICT
    GET(fn_deep_frozendict, st->copy_module, "_deepcopy_frozendict")
#endif
    GET(fn_copy_immutable, st->copy_module, "_copy_immutable")
    GET(fn_list_copy, (PyObject *)&PyList_Type, "copy")
    GET(fn_dict_copy, (PyObject *)&PyDict_Type, "copy")
    GET(fn_set_copy, (PyObject *)&PySet_Type, "copy")
    GET(fn_bytearray_copy, (PyObject *)&PyByteArray_Type, "copy")
    GET(obj_reduce_ex, (PyObject *)&PyBaseObject_Type, "__reduce_ex__")
    GET(obj_reduce, (PyObject *)&PyBaseObject_Type, "__reduce__")
    GET(obj_getstate, (PyObject *)&PyBaseObject_Type, "__getstate__")
    GET(slotnames, copyreg, "_slotnames")
#undef GET

#define INTERN(field, text)                                      \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) { \
        goto error;                                              \
    }
    INTERN(s_deepcopy, "__deepcopy__")
    INTERN(s_copy, "__copy__")
    INTERN(s_reduce_ex, "__reduce_ex__")
    INTERN(s_reduce, "__reduce__")
    INTERN(s_setstate, "__setstate__")
    INTERN(s_dict, "__dict__")
    INTERN(s_update, "update")
    INTERN(s_append, "append")
    INTERN(s_get, "get")
    INTERN(s_replace, "__replace__")
    INTERN(s_name, "__name__")
    INTERN(s_class, "__class__")
    INTERN(s_items, "items")
    INTERN(s_getstate, "__getstate__")
    INTERN(s_getnewargs, "__getnewargs__")
    INTERN(s_getnewargs_ex, "__getnewargs_ex__")
    INTERN(s_new, "__new__")
#undef INTERN
    st->int4 = PyLong_FromLong(4);
    st->nil = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (st->int4 == NULL || st->nil == NULL) {
        goto error;
    }
    st->method_type = &PyMethod_Type;

    globals = PyDict_New();
    if (globals == NULL ||
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0) {
        goto error;
    }
    res = PyRun_String(trampoline_src, Py_file_input, globals, globals);
    if (res == NULL) {
        goto error;
    }
    st->tramp_reconstruct = Py_XNewRef(PyDict_GetItemString(globals, "reconstruct"));
    st->tramp_pair = Py_XNewRef(PyDict_GetItemString(globals, "pair"));
    if (!st->tramp_reconstruct || !st->tramp_pair) {
        PyErr_SetString(PyExc_RuntimeError, "fastcopy: trampolines missing");
        goto error;
    }

    /* Atomic types and the expected contents of the dispatch tables, as
     * the stdlib set them up. */
    atomic = state_optional_attr(st->copy_module, "_atomic_types");
    if (atomic == NULL) {
        goto error;
    }
    /* 3.14+: the atomic types are in sets, checked before the memo (read
     * by state_rebuild), and there is no copy._copy_dispatch */
    st->atomic_first = (atomic != Py_None);
    deep = PyDict_GetItemString(st->copy_dict, "_deepcopy_dispatch");
    shallow = st->atomic_first ? NULL : PyDict_GetItemString(st->copy_dict, "_copy_dispatch");
    if (deep == NULL || !PyDict_Check(deep) ||
        (!st->atomic_first && (shallow == NULL || !PyDict_Check(shallow)))) {
        PyErr_SetString(PyExc_RuntimeError, "fastcopy: unexpected copy module layout");
        goto error;
    }
    st->deep_expected = PyDict_New();
    st->shallow_expected = PyDict_New();
    if (!st->deep_expected || !st->shallow_expected) {
        goto error;
    }
    if (state_expect(st->deep_expected, (PyObject *)&PyList_Type, st->fn_deep_list) < 0 ||
        state_expect(st->deep_expected, (PyObject *)&PyTuple_Type, st->fn_deep_tuple) < 0 ||
        state_expect(st->deep_expected, (PyObject *)&PyDict_Type, st->fn_deep_dict) < 0 ||
        state_expect(st->deep_expected, (PyObject *)&PyMethod_Type, st->fn_deep_method) < 0) {
        goto error;
    }
#if FC_HAS_FROZENDICT
    if (state_expect(st->deep_expected, (PyObject *)&PyFrozenDict_Type,
                     st->fn_deep_frozendict) < 0) {
        goto error;
    }
#endif
    if (!st->atomic_first) {
        /* 3.10-3.13: the atomic types are the entries of the two tables
         * whose copier is _deepcopy_atomic / _copy_immutable */
        PyTypeObject *all_atomic[FC_MAX_ATOMIC];
        int n_all = 0;
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(deep, &pos, &key, &value)) {
            if (value == st->fn_deep_atomic) {
                if (state_add_atomic(all_atomic, &n_all, key) < 0 ||
                    state_expect(st->deep_expected, key, value) < 0) {
                    goto error;
                }
            }
        }
        state_set_deep_atomics(st, all_atomic, n_all);
        pos = 0;
        st->n_shallow_atomic = 0;
        while (PyDict_Next(shallow, &pos, &key, &value)) {
            if (value == st->fn_copy_immutable) {
                if (state_add_atomic(st->shallow_atomic, &st->n_shallow_atomic, key) < 0 ||
                    state_expect(st->shallow_expected, key, value) < 0) {
                    goto error;
                }
            }
        }
        if (state_expect(st->shallow_expected, (PyObject *)&PyList_Type, st->fn_list_copy) < 0 ||
            state_expect(st->shallow_expected, (PyObject *)&PyDict_Type, st->fn_dict_copy) < 0 ||
            state_expect(st->shallow_expected, (PyObject *)&PySet_Type, st->fn_set_copy) < 0 ||
            state_expect(st->shallow_expected, (PyObject *)&PyByteArray_Type,
                         st->fn_bytearray_copy) < 0) {
            goto error;
        }
    }

#if FC_HAS_DICT_WATCHERS
    st->watcher_id = PyDict_AddWatcher(state_watch_cb);
    if (st->watcher_id < 0) {
        goto error;
    }
#endif
    Py_DECREF(copyreg);
    Py_DECREF(globals);
    Py_DECREF(res);
    Py_DECREF(atomic);
    return state_rebuild(st);
error:
    Py_XDECREF(copyreg);
    Py_XDECREF(globals);
    Py_XDECREF(res);
    Py_XDECREF(atomic);
    return -1;
}

/* Every owned reference of the state, for traverse and clear. */
#define FC_STATE_OBJECTS(X)                                                   \
    X(copy_module) X(copy_dict) X(copy_error) X(deep_dispatch)                \
    X(shallow_dispatch) X(dispatch_table) X(fn_deep_atomic) X(fn_deep_list)   \
    X(fn_deep_tuple) X(fn_deep_dict) X(fn_deep_method) X(fn_copy_immutable)   \
    X(fn_list_copy) X(fn_dict_copy) X(fn_set_copy) X(fn_bytearray_copy)       \
    X(newobj) X(newobj_ex) X(tramp_reconstruct) X(tramp_pair)                 \
    X(deep_expected) X(shallow_expected) X(deep_overrides)                    \
    X(shallow_overrides) X(s_deepcopy) X(s_copy) X(s_reduce_ex) X(s_reduce)   \
    X(s_setstate) X(s_dict) X(s_update) X(s_append) X(s_get) X(s_replace)     \
    X(s_name) X(s_class) X(s_items) X(s_getstate) X(s_getnewargs)          \
    X(s_getnewargs_ex) X(int4) X(nil) X(obj_reduce_ex) X(obj_reduce)         \
    X(obj_getstate) X(slotnames) X(fn_stdlib_deepcopy) X(template_type) X(uuid_safe_type) \
    X(k_decimal) X(k_fraction) X(k_pattern) X(k_enum) X(k_uuid) X(k_datetime_capi) \
    X(s_new) X(deep_set.set) X(shallow_set.set) X(containers_set.set)        \
    FC_STATE_FD_OBJECTS(X) FC_STATE_FT_OBJECTS(X)
#if FC_HAS_FROZENDICT
#define FC_STATE_FD_OBJECTS(X) X(fn_deep_frozendict)
#else
#define FC_STATE_FD_OBJECTS(X)
#endif
#ifdef Py_GIL_DISABLED
#define FC_STATE_FT_OBJECTS(X) X(retired)
#else
#define FC_STATE_FT_OBJECTS(X)
#endif

static int
mod_traverse(PyObject *m, visitproc visit, void *arg)
{
    FcState *st = fc_get_state(m);
#define VISIT(f) Py_VISIT(st->f);
    FC_STATE_OBJECTS(VISIT)
#undef VISIT
    return 0;
}

static int
mod_clear(PyObject *m)
{
    FcState *st = fc_get_state(m);
#define CLEAR(f) Py_CLEAR(st->f);
    FC_STATE_OBJECTS(CLEAR)
#undef CLEAR
    FC_SET_SYNCED(st, 0);
    return 0;
}

static void
mod_free(void *m)
{
    patch_remove_all(fc_get_state((PyObject *)m));
    for (int k = 0; k < FC_SCRATCH_N; k++) {
        fc_scratch_free(&fc_get_state((PyObject *)m)->scratch[k]);
    }
#if FC_HAS_DICT_WATCHERS
    FcState *st = fc_get_state((PyObject *)m);
    if (st->watcher_id >= 0) {
        PyObject *exc = PyErr_GetRaisedException();
        if (PyDict_ClearWatcher(st->watcher_id) < 0) {
            PyErr_WriteUnraisable((PyObject *)m);
        }
        PyErr_SetRaisedException(exc);
        st->watcher_id = -1;
    }
#endif
    (void)mod_clear((PyObject *)m);
}

/* ------------------------------------------------------------------ */
/* module functions                                                   */

PyDoc_STRVAR(mod_deepcopy_doc,
"deepcopy($module, x, memo=None, /)\n--\n\n"
"Deep copy operation on arbitrary Python objects.\n\n"
"Same result, sharing, cycles and exceptions as copy.deepcopy of the\n"
"running interpreter.  memo, when given, is used and left exactly as\n"
"copy.deepcopy would leave it.");

static PyObject *
mod_deepcopy(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
             PyObject *kwnames)
{
    PyObject *x = nargs >= 1 ? args[0] : NULL;
    PyObject *memo = nargs >= 2 ? args[1] : NULL;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError,
                     "deepcopy() takes from 1 to 2 positional arguments but %zd were given",
                     nargs);
        return NULL;
    }
    if (kwnames != NULL) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i);
            PyObject **slot;
            if (PyUnicode_CompareWithASCIIString(name, "x") == 0) {
                slot = &x;
            }
            else if (PyUnicode_CompareWithASCIIString(name, "memo") == 0) {
                slot = &memo;
            }
            else {
                PyErr_Format(PyExc_TypeError,
                             "deepcopy() got an unexpected keyword argument '%U'", name);
                return NULL;
            }
            if (*slot != NULL) {
                PyErr_Format(PyExc_TypeError,
                             "deepcopy() got multiple values for argument '%U'", name);
                return NULL;
            }
            *slot = args[nargs + i];
        }
    }
    if (x == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "deepcopy() missing 1 required positional argument: 'x'");
        return NULL;
    }
    return fc_deepcopy(fc_get_state(module), x, memo);
}

PyDoc_STRVAR(mod_copy_doc,
"copy($module, x, /)\n--\n\n"
"Shallow copy operation on arbitrary Python objects, as copy.copy.");

static PyObject *
mod_copy(PyObject *module, PyObject *x)
{
    return fc_copy(fc_get_state(module), x);
}

PyDoc_STRVAR(mod_replace_doc,
"replace($module, obj, /, **changes)\n--\n\n"
"Return a new object replacing specified fields with new values, as\n"
"copy.replace of Python 3.13 (offered on every supported version).");

static PyObject *
mod_replace(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    return fc_replace(fc_get_state(module), args, PyVectorcall_NARGS(nargs), kwnames);
}

PyDoc_STRVAR(mod_deepcopy_list_c_doc,
"deepcopy_list_c($module, x, memo, deepcopy=copy.deepcopy, /)\n--\n\n"
"copy._deepcopy_list in C (the design report's interface).");
PyDoc_STRVAR(mod_deepcopy_dict_c_doc,
"deepcopy_dict_c($module, x, memo, deepcopy=copy.deepcopy, /)\n--\n\n"
"copy._deepcopy_dict in C (the design report's interface).");
PyDoc_STRVAR(mod_deepcopy_tuple_c_doc,
"deepcopy_tuple_c($module, x, memo, deepcopy=copy.deepcopy, /)\n--\n\n"
"copy._deepcopy_tuple in C (the design report's interface).");

static PyObject *
mod_deepcopy_list_c(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return dispatch_list(fc_get_state(module), args, nargs, kwnames);
}

static PyObject *
mod_deepcopy_dict_c(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return dispatch_dict(fc_get_state(module), args, nargs, kwnames);
}

static PyObject *
mod_deepcopy_tuple_c(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return dispatch_tuple(fc_get_state(module), args, nargs, kwnames);
}

PyDoc_STRVAR(mod_set_vectorcall_doc,
"_set_vectorcall($module, func, kind, /)\n--\n\n"
"Route calls of the stdlib function `func` to fastcopy (kind 'deepcopy' or\n"
"'copy'), keeping the function object; 3.10 and 3.12+ only.  Used by\n"
"patch().");

static PyObject *
mod_set_vectorcall(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "_set_vectorcall(func, kind)");
        return NULL;
    }
    int deep = PyUnicode_CompareWithASCIIString(args[1], "deepcopy") == 0;
    if (patch_install(fc_get_state(module), args[0], deep) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(mod_reset_vectorcall_doc,
"_reset_vectorcall($module, func, /)\n--\n\n"
"Undo _set_vectorcall(func).  Used by unpatch().");

static PyObject *
mod_reset_vectorcall(PyObject *module, PyObject *func)
{
    (void)module;
    if (patch_remove(func) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(mod_describe_doc,
"_describe($module, obj, /)\n--\n\n"
"The descriptor of obj's object graph: (bytes, list of leaf objects).\n"
"See docs/descriptor.md; fastcopy.fca.describe() is the public face.");

static PyObject *
mod_describe(PyObject *module, PyObject *obj)
{
    return fc_describe(fc_get_state(module), obj);
}

static PyMethodDef mod_methods[] = {
    {"_describe", (PyCFunction)mod_describe, METH_O, mod_describe_doc},
    {"deepcopy", (PyCFunction)(void (*)(void))mod_deepcopy,
     METH_FASTCALL | METH_KEYWORDS, mod_deepcopy_doc},
    {"copy", (PyCFunction)mod_copy, METH_O, mod_copy_doc},
    {"replace", (PyCFunction)(void (*)(void))mod_replace,
     METH_FASTCALL | METH_KEYWORDS, mod_replace_doc},
    {"deepcopy_list_c", (PyCFunction)(void (*)(void))mod_deepcopy_list_c,
     METH_FASTCALL | METH_KEYWORDS, mod_deepcopy_list_c_doc},
    {"deepcopy_dict_c", (PyCFunction)(void (*)(void))mod_deepcopy_dict_c,
     METH_FASTCALL | METH_KEYWORDS, mod_deepcopy_dict_c_doc},
    {"deepcopy_tuple_c", (PyCFunction)(void (*)(void))mod_deepcopy_tuple_c,
     METH_FASTCALL | METH_KEYWORDS, mod_deepcopy_tuple_c_doc},
    {"_set_vectorcall", (PyCFunction)(void (*)(void))mod_set_vectorcall,
     METH_FASTCALL, mod_set_vectorcall_doc},
    {"_reset_vectorcall", (PyCFunction)mod_reset_vectorcall, METH_O,
     mod_reset_vectorcall_doc},
    {"_alloc_floor", (PyCFunction)fc_alloc_floor, METH_O, FC_ALLOC_FLOOR_DOC},
    {NULL, NULL, 0, NULL},
};

static int
mod_exec(PyObject *m)
{
    FcState *st = fc_get_state(m);
#if FC_HAS_DICT_WATCHERS
    st->watcher_id = -1;
#endif
    if (state_init(st) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(m, "Error", st->copy_error) < 0 ||
        fc_template_init_type(m, st) < 0) {
        return -1;
    }
    return PyModule_AddIntConstant(m, "MAX_DEPTH", (long)FC_MAX_DEPTH);
}

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
#if defined(Py_mod_multiple_interpreters) && FC_PARALLEL_INTERPRETERS
    /* Every interpreter has its own module state; what is shared is
     * guarded for interpreters that run at once (compat.h,
     * FC_PARALLEL_INTERPRETERS). */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#elif defined(Py_mod_multiple_interpreters)
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED},
#endif
#if defined(Py_mod_gil) && defined(Py_GIL_DISABLED)
    /* Free-threaded builds: the code paths that relied on the GIL take
     * strong references, critical sections or atomics there (see "Threads
     * and free-threading" in docs/design.md), so the interpreter need not
     * re-enable the GIL when it imports fastcopy. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#elif defined(Py_mod_gil)
    /* Builds with a GIL (3.13+ defines the slot everywhere): said, as it
     * always was; the GIL is there anyway. */
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(mod_doc, "Native core of fastcopy: deepcopy, copy and replace.");

static struct PyModuleDef fastcopy_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fastcopy._fastcopy",
    .m_doc = mod_doc,
    .m_size = sizeof(FcState),
    .m_methods = mod_methods,
    .m_slots = mod_slots,
    .m_traverse = mod_traverse,
    .m_clear = mod_clear,
    .m_free = mod_free,
};

PyMODINIT_FUNC
PyInit__fastcopy(void)
{
    return PyModuleDef_Init(&fastcopy_module);
}
