/* reduce.c -- reduce values: getting them (the stdlib's reductor chain) and
 * replaying them (the stdlib's copy._reconstruct), minus the deep copies,
 * which the engine in deepcopy.c interleaves.
 *
 * Anything the native code does not recognise as a well-formed reduce value
 * is handed to the stdlib's own copy._reconstruct through a trampoline, so
 * malformed values raise exactly what the running interpreter raises.
 */
#include "reduce.h"
#include "known.h"


/* dispatch_table.get(cls): 1 and a new reference, 0 if absent, -1 error. */
static int
reduce_table_get(FcState *st, PyObject *cls, PyObject **reductor)
{
    PyObject *table = FC_LOAD(st->dispatch_table);   /* one snapshot */
    if (PyDict_CheckExact(table)) {
        return fc_dict_getitem(table, cls, reductor);
    }
    PyObject *r = PyObject_CallMethodObjArgs(table, st->s_get, cls, NULL);
    if (r == NULL) {
        *reductor = NULL;
        return -1;
    }
    if (r == Py_None) {
        Py_DECREF(r);
        *reductor = NULL;
        return 0;
    }
    *reductor = r;
    return 1;
}

PyObject *
reduce_get(FcState *st, PyObject *x, int deep)
{
    PyObject *cls = (PyObject *)Py_TYPE(x);
    PyObject *reductor = NULL;
    PyObject *rv = NULL;

    int rc = reduce_table_get(st, cls, &reductor);
    if (rc < 0) {
        return NULL;
    }
    if (rc > 0) {
        int use;
        if (deep) {
            use = PyObject_IsTrue(reductor);     /* `if reductor:` */
            if (use < 0) {
                goto done;
            }
        }
        else {
            use = (reductor != Py_None);          /* `is not None` */
        }
        if (use) {
            rv = PyObject_CallOneArg(reductor, x);
            goto done;
        }
        Py_CLEAR(reductor);
    }

    rc = fc_lookup_attr(x, st->s_reduce_ex, &reductor);
    if (rc < 0) {
        return NULL;
    }
    if (rc > 0 && reductor != Py_None) {
        rv = PyObject_CallOneArg(reductor, st->int4);
        goto done;
    }
    Py_CLEAR(reductor);

    rc = fc_lookup_attr(x, st->s_reduce, &reductor);
    if (rc < 0) {
        return NULL;
    }
    if (rc > 0) {
        int use = PyObject_IsTrue(reductor);
        if (use < 0) {
            goto done;
        }
        if (use) {
            rv = PyObject_CallNoArgs(reductor);
            goto done;
        }
    }
    PyErr_Format(st->copy_error, deep ? "un(deep)copyable object of type %S"
                                      : "un(shallow)copyable object of type %S",
                 cls);
done:
    Py_XDECREF(reductor);
    return rv;
}

ReduceKind
reduce_parse(PyObject *rv, ReduceParts *parts)
{
    if (PyUnicode_Check(rv)) {
        return REDUCE_IS_STRING;
    }
    if (!PyTuple_CheckExact(rv)) {
        return REDUCE_DELEGATE;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(rv);
    if (n < 2 || n > 5 || !PyTuple_CheckExact(PyTuple_GET_ITEM(rv, 1))) {
        return REDUCE_DELEGATE;
    }
    parts->func = PyTuple_GET_ITEM(rv, 0);
    parts->args = PyTuple_GET_ITEM(rv, 1);
    parts->state = n > 2 ? PyTuple_GET_ITEM(rv, 2) : NULL;
    parts->listiter = n > 3 ? PyTuple_GET_ITEM(rv, 3) : NULL;
    parts->dictiter = n > 4 ? PyTuple_GET_ITEM(rv, 4) : NULL;
    if (parts->state == Py_None) {
        parts->state = NULL;
    }
    if (parts->listiter == Py_None) {
        parts->listiter = NULL;
    }
    if (parts->dictiter == Py_None) {
        parts->dictiter = NULL;
    }
    return REDUCE_NATIVE;
}

/* Can cls.__new__(cls, ...) be replaced by cls->tp_new(cls, ...)?  For a
 * class whose metaclass is exactly `type`, attribute lookup of __new__ on
 * the class and the tp_new slot agree: slot_tp_new itself looks __new__ up
 * and calls it, and an inherited C __new__ is the inherited slot. */
static inline int
reduce_direct_new(PyObject *cls)
{
    return PyType_Check(cls) && Py_IS_TYPE(cls, &PyType_Type) &&
           ((PyTypeObject *)cls)->tp_new != NULL;
}

/* Is tp.__new__ (looked up on the class, no code run) a C function? */
static int
reduce_c_new(FcState *st, PyObject *cls)
{
    PyObject *new = fc_type_lookup_ref((PyTypeObject *)cls, st->s_new);
    int c_new = new != NULL && PyCFunction_Check(new);
    Py_XDECREF(new);
    return c_new;
}

int
reduce_new_runs_python(FcState *st, PyObject *func, PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if ((func == st->newobj || func == st->newobj_ex) && n >= 1 &&
        reduce_direct_new(PyTuple_GET_ITEM(args, 0))) {
        return !reduce_c_new(st, PyTuple_GET_ITEM(args, 0));
    }
    return 1;
}

int
reduce_state_runs_python(FcState *st, PyObject *y, PyObject *state)
{
    PyTypeObject *tp = Py_TYPE(y);
    if (!PyDict_CheckExact(state) || tp->tp_getattro != PyObject_GenericGetAttr ||
        tp->tp_setattro != PyObject_GenericSetAttr) {
        return 1;
    }
    PyObject *setstate = fc_type_lookup_ref(tp, st->s_setstate);
    if (setstate != NULL) {
        Py_DECREF(setstate);
        return 1;
    }
    /* y.__dict__.update(state): the standard descriptor gives an exact dict */
    PyObject *descr = fc_type_lookup_ref(tp, st->s_dict);
    int runs = descr != NULL && !Py_IS_TYPE(descr, &PyGetSetDescr_Type);
    Py_XDECREF(descr);
    return runs;
}

PyObject *
reduce_new_object(FcState *st, PyObject *func, PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (func == st->newobj && n >= 1 && reduce_direct_new(PyTuple_GET_ITEM(args, 0))) {
        /* copyreg.__newobj__(cls, *rest) is cls.__new__(cls, *rest) */
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(args, 0);
        PyObject *rest = PyTuple_GetSlice(args, 1, n);
        if (rest == NULL) {
            return NULL;
        }
        PyObject *y = cls->tp_new(cls, rest, NULL);
        Py_DECREF(rest);
        return y;
    }
    if (func == st->newobj_ex && n == 3 &&
        reduce_direct_new(PyTuple_GET_ITEM(args, 0)) &&
        PyTuple_CheckExact(PyTuple_GET_ITEM(args, 1)) &&
        PyDict_CheckExact(PyTuple_GET_ITEM(args, 2))) {
        /* copyreg.__newobj_ex__(cls, a, kw) is cls.__new__(cls, *a, **kw);
         * the callee gets its own kwargs dict, as with a ** call. */
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(args, 0);
        PyObject *kw = PyTuple_GET_ITEM(args, 2);
        PyObject *kwcopy = NULL;
        if (PyDict_GET_SIZE(kw) > 0) {
            kwcopy = PyDict_Copy(kw);
            if (kwcopy == NULL) {
                return NULL;
            }
        }
        PyObject *y = cls->tp_new(cls, PyTuple_GET_ITEM(args, 1), kwcopy);
        Py_XDECREF(kwcopy);
        return y;
    }
    return PyObject_Call(func, args, NULL);
}

/* for key, value in slotstate.items(): setattr(y, key, value) */
static int
reduce_set_slots(FcState *st, PyObject *y, PyObject *slotstate)
{
    PyObject *items = NULL, *it = NULL, *item = NULL, *key = NULL, *value = NULL;
    int result = -1;

    items = PyObject_CallMethodNoArgs(slotstate, st->s_items);
    if (items == NULL) {
        goto error;
    }
    it = PyObject_GetIter(items);
    if (it == NULL) {
        goto error;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        if (reduce_unpack_pair(st, item, &key, &value) < 0) {
            goto error;
        }
        Py_CLEAR(item);
        if (PyObject_SetAttr(y, key, value) < 0) {
            goto error;
        }
        Py_CLEAR(key);
        Py_CLEAR(value);
    }
    if (!PyErr_Occurred()) {
        result = 0;
    }
error:
    Py_XDECREF(items);
    Py_XDECREF(it);
    Py_XDECREF(item);
    Py_XDECREF(key);
    Py_XDECREF(value);
    return result;
}

int
reduce_set_state(FcState *st, PyObject *y, PyObject *state)
{
    PyObject *probe = NULL;
    PyObject *dictstate = NULL, *slotstate = NULL;
    PyObject *ydict = NULL, *r = NULL;
    int result = -1;

    /* if hasattr(y, '__setstate__'): y.__setstate__(state) */
    int rc = fc_lookup_attr(y, st->s_setstate, &probe);
    if (rc < 0) {
        return -1;
    }
    if (rc > 0) {
        Py_DECREF(probe);
        r = PyObject_CallMethodOneArg(y, st->s_setstate, state);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
        return 0;
    }

    /* if isinstance(state, tuple) and len(state) == 2:
     *     state, slotstate = state */
    if (PyTuple_Check(state)) {
        Py_ssize_t len = PyTuple_CheckExact(state) ? PyTuple_GET_SIZE(state)
                                                   : PyObject_Size(state);
        if (len < 0) {
            return -1;
        }
        if (len == 2) {
            if (reduce_unpack_pair(st, state, &dictstate, &slotstate) < 0) {
                return -1;
            }
        }
    }
    if (dictstate == NULL && slotstate == NULL) {
        dictstate = Py_NewRef(state);
    }
    if (dictstate != NULL && dictstate != Py_None) {
        /* y.__dict__.update(state) */
        ydict = PyObject_GetAttr(y, st->s_dict);
        if (ydict == NULL) {
            goto error;
        }
        if (PyDict_CheckExact(ydict) && PyDict_CheckExact(dictstate)) {
            if (PyDict_Update(ydict, dictstate) < 0) {
                goto error;
            }
        }
        else {
            r = PyObject_CallMethodOneArg(ydict, st->s_update, dictstate);
            if (r == NULL) {
                goto error;
            }
            Py_DECREF(r);
        }
    }
    if (slotstate != NULL && slotstate != Py_None) {
        if (reduce_set_slots(st, y, slotstate) < 0) {
            goto error;
        }
    }
    result = 0;
error:
    Py_XDECREF(dictstate);
    Py_XDECREF(slotstate);
    Py_XDECREF(ydict);
    return result;
}

int
reduce_append(FcState *st, PyObject *y, PyObject *item)
{
    if (PyList_CheckExact(y)) {
        return PyList_Append(y, item);
    }
    PyObject *r = PyObject_CallMethodOneArg(y, st->s_append, item);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

int
reduce_setitem(PyObject *y, PyObject *key, PyObject *value)
{
    if (PyDict_CheckExact(y)) {
        return PyDict_SetItem(y, key, value);
    }
    return PyObject_SetItem(y, key, value);
}

int
reduce_unpack_pair(FcState *st, PyObject *item, PyObject **key, PyObject **value)
{
    PyObject *pair = NULL;
    if (!(PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2)) {
        /* Let the interpreter unpack it: same errors, same iteration. */
        pair = PyObject_CallOneArg(st->tramp_pair, item);
        if (pair == NULL) {
            *key = *value = NULL;
            return -1;
        }
        item = pair;
    }
    *key = Py_NewRef(PyTuple_GET_ITEM(item, 0));
    *value = Py_NewRef(PyTuple_GET_ITEM(item, 1));
    Py_XDECREF(pair);
    return 0;
}

PyObject *
reduce_delegate(FcState *st, PyObject *x, PyObject *memo, PyObject *rv)
{
    PyObject *args[3] = {x, memo, rv};
    return PyObject_Vectorcall(st->tramp_reconstruct, args, 3, NULL);
}

PyObject *
reduce_shallow(FcState *st, PyObject *x, PyObject *rv)
{
    ReduceParts p;
    PyObject *y = NULL, *it = NULL, *item = NULL, *key = NULL, *value = NULL;

    switch (reduce_parse(rv, &p)) {
    case REDUCE_IS_STRING:
        return Py_NewRef(x);
    case REDUCE_DELEGATE:
        return reduce_delegate(st, x, Py_None, rv);
    case REDUCE_NATIVE:
        break;
    }
    y = reduce_new_object(st, p.func, p.args);
    if (y == NULL) {
        return NULL;
    }
    if (p.state != NULL && reduce_set_state(st, y, p.state) < 0) {
        goto error;
    }
    if (p.listiter != NULL) {
        it = PyObject_GetIter(p.listiter);
        if (it == NULL) {
            goto error;
        }
        while ((item = PyIter_Next(it)) != NULL) {
            if (reduce_append(st, y, item) < 0) {
                goto error;
            }
            Py_CLEAR(item);
        }
        if (PyErr_Occurred()) {
            goto error;
        }
        Py_CLEAR(it);
    }
    if (p.dictiter != NULL) {
        it = PyObject_GetIter(p.dictiter);
        if (it == NULL) {
            goto error;
        }
        while ((item = PyIter_Next(it)) != NULL) {
            if (reduce_unpack_pair(st, item, &key, &value) < 0 ||
                reduce_setitem(y, key, value) < 0) {
                goto error;
            }
            Py_CLEAR(item);
            Py_CLEAR(key);
            Py_CLEAR(value);
        }
        if (PyErr_Occurred()) {
            goto error;
        }
        Py_CLEAR(it);
    }
    return y;
error:
    Py_XDECREF(y);
    Py_XDECREF(it);
    Py_XDECREF(item);
    Py_XDECREF(key);
    Py_XDECREF(value);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* per-type strategies                                                */

/* Is getattr(tp, name) exactly `want` (want NULL: absent)?  1 yes, 0 no,
 * -1 error. */
static int
strategy_attr_is(PyTypeObject *tp, PyObject *name, PyObject *want)
{
    PyObject *got;
    int rc = fc_lookup_attr((PyObject *)tp, name, &got);
    if (rc < 0) {
        return -1;
    }
    int same = (got == want);
    Py_XDECREF(got);
    return same;
}

/* Decide how instances of tp are copied (see FcStrategy in state.h).
 * STRAT_PLAIN needs every condition under which the stdlib's
 * object.__reduce_ex__(4) returns (copyreg.__newobj__, (cls,), state) with
 * state = the instance __dict__ (None if empty): a pure-Python class (heap
 * type, metaclass `type`, solid base `object`, no __slots__, generic
 * attribute access) that inherits __reduce_ex__, __reduce__ and
 * __getstate__ from object, defines no __getnewargs(_ex)__ and no
 * __deepcopy__, and has no copyreg reducer.  Instance attributes that
 * shadow these names are checked per object by the caller. */
/* Does tp take its state and constructor arguments from object's
 * protocol: __getstate__ inherited from object (absent before 3.11), no
 * __getnewargs_ex__, no __getnewargs__?  1 yes, 0 no, -1 error. */
static int
strategy_default_state(FcState *st, PyTypeObject *tp)
{
    PyObject *getstate = st->obj_getstate == Py_None ? NULL : st->obj_getstate;
    struct { PyObject *name, *want; } checks[] = {
        {st->s_getstate, getstate},
        {st->s_getnewargs_ex, NULL},
        {st->s_getnewargs, NULL},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        int ok = strategy_attr_is(tp, checks[i].name, checks[i].want);
        if (ok <= 0) {
            return ok;
        }
    }
    return 1;
}

/* STRAT_SLOTS for a class with __slots__ and no __dict__ whose other
 * answers are object's (checked by the caller), or STRAT_GENERIC: the
 * stdlib's state is then (None, {name: getattr(x, name)}) over `names`
 * (copyreg._slotnames) for the slots that are set, restored with setattr;
 * every name must be a plain writable member of the instance layout. */
static int
strategy_slots(FcState *st, PyTypeObject *tp, PyObject *names, FcTypeEntry *out)
{
    Py_ssize_t n = PyList_GET_SIZE(names);
    if (n == 0 || n > FC_MAX_SLOTS || tp->tp_new != PyBaseObject_Type.tp_new ||
        tp->tp_setattro != PyObject_GenericSetAttr) {
        return STRAT_GENERIC;
    }
    /* object.__getstate__'s own layout check ("cannot pickle" otherwise) */
    Py_ssize_t expect = PyBaseObject_Type.tp_basicsize + n * (Py_ssize_t)sizeof(PyObject *) +
                        (tp->tp_weaklistoffset > 0 ? (Py_ssize_t)sizeof(PyObject *) : 0);
    if (tp->tp_basicsize > expect) {
        return STRAT_GENERIC;
    }
    int ok = strategy_default_state(st, tp);
    if (ok <= 0) {
        return ok < 0 ? -1 : STRAT_GENERIC;
    }
    ok = strategy_attr_is(tp, st->s_setstate, NULL);
    if (ok <= 0) {
        return ok < 0 ? -1 : STRAT_GENERIC;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyList_GET_ITEM(names, i);
        PyObject *d;
        if (!PyUnicode_Check(name) || fc_lookup_attr((PyObject *)tp, name, &d) < 0) {
            PyErr_Clear();
            return STRAT_GENERIC;
        }
        int ok = d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)d)->d_member->type == FC_T_OBJECT_EX &&
                 !(((PyMemberDescrObject *)d)->d_member->flags & FC_READONLY_FLAG);
        if (ok) {
            out->slot_off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        }
        Py_XDECREF(d);
        if (!ok) {
            return STRAT_GENERIC;
        }
    }
    out->nslots = (int)n;
    return STRAT_SLOTS;
}

static int
strategy_compute(FcState *st, PyTypeObject *tp, FcTypeEntry *out)
{
    const unsigned long bad = Py_TPFLAGS_LIST_SUBCLASS | Py_TPFLAGS_DICT_SUBCLASS;
    int known = fc_known_strategy(st, tp);
    if (known != 0) {
        return known;
    }
    PyObject *table = FC_LOAD(st->dispatch_table);   /* one snapshot */
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) ||
        tp->tp_getattro != PyObject_GenericGetAttr || !PyDict_Check(table)) {
        return STRAT_GENERIC;
    }
    /* STRAT_REDUCE: no copyreg reducer, no __deepcopy__, __reduce_ex__
     * inherited from object, __reduce__ overridden. */
    int in_table = PyDict_Contains(table, (PyObject *)tp);
    if (in_table != 0) {
        return in_table < 0 ? -1 : STRAT_GENERIC;
    }
    int ok = strategy_attr_is(tp, st->s_deepcopy, NULL);
    if (ok <= 0) {
        return ok < 0 ? -1 : STRAT_GENERIC;
    }
    ok = strategy_attr_is(tp, st->s_reduce_ex, st->obj_reduce_ex);
    if (ok <= 0) {
        return ok < 0 ? -1 : STRAT_GENERIC;
    }
    ok = strategy_attr_is(tp, st->s_reduce, st->obj_reduce);
    if (ok <= 0) {
        return ok < 0 ? -1 : STRAT_REDUCE;
    }

    /* STRAT_PLAIN (STRAT_SLOTS without an instance __dict__) */
    if ((tp->tp_flags & bad) || !Py_IS_TYPE((PyObject *)tp, &PyType_Type) ||
        tp->tp_itemsize != 0 || tp->tp_new == NULL) {
        return STRAT_GENERIC;
    }
    for (PyTypeObject *b = tp->tp_base; b != &PyBaseObject_Type; b = b->tp_base) {
        if (b == NULL || !(b->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            return STRAT_GENERIC;
        }
    }
    /* copyreg._slotnames caches its answer on the class (as the stdlib's
     * first copy would), which changes the version tag: ask it first. */
    PyObject *names = PyObject_CallOneArg(st->slotnames, (PyObject *)tp);
    if (names == NULL) {
        return -1;
    }
    if (tp->tp_dictoffset == 0) {
        int s = PyList_Check(names) ? strategy_slots(st, tp, names, out) : STRAT_GENERIC;
        Py_DECREF(names);
        return s;
    }
    int no_slots = PyList_Check(names) && PyList_GET_SIZE(names) == 0;
    Py_DECREF(names);
    if (!no_slots) {
        return STRAT_GENERIC;
    }
    ok = strategy_default_state(st, tp);
    if (ok <= 0) {
        return ok < 0 ? -1 : STRAT_GENERIC;
    }

    /* STRAT_PLAIN_DICT: y = object.__new__(cls) has an empty __dict__, so
     * hasattr(y, '__setstate__') is the class's answer, and y.__dict__ is
     * the instance dict when the first "__dict__" in the MRO is the getset
     * descriptor type() creates. */
    if (tp->tp_new != PyBaseObject_Type.tp_new) {
        return STRAT_PLAIN;
    }
    ok = strategy_attr_is(tp, st->s_setstate, NULL);
    if (ok <= 0) {
        return ok < 0 ? -1 : STRAT_PLAIN;
    }
    PyObject *mro = tp->tp_mro;
    if (mro == NULL || !PyTuple_Check(mro)) {
        return STRAT_PLAIN;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (base == &PyBaseObject_Type) {
            break;
        }
        if (!(base->tp_flags & Py_TPFLAGS_HEAPTYPE) || base->tp_dict == NULL) {
            return STRAT_PLAIN;
        }
        PyObject *descr;
        int rc = fc_dict_getitem(base->tp_dict, st->s_dict, &descr);
        if (rc < 0) {
            return -1;
        }
        if (rc > 0) {
            int plain_dict = Py_IS_TYPE(descr, &PyGetSetDescr_Type);
            Py_DECREF(descr);
            return plain_dict ? STRAT_PLAIN_DICT : STRAT_PLAIN;
        }
    }
    return STRAT_PLAIN;
}

#ifdef Py_GIL_DISABLED
_Thread_local FcThreadCache fc_thread_cache;
#endif

int
fc_type_strategy(FcState *st, PyTypeObject *tp)
{
    /* the calling thread's cache on free-threaded builds (state.h), so no
     * lock: nothing else reads or writes it */
    const FcTypeEntry *hit = fc_type_entry(st, tp);
    if (hit != NULL && hit->strategy > 0) {
        return hit->strategy;
    }
    FcTypeEntry *set = &fc_type_cache(st)[fc_type_set(tp)];
    unsigned int tag;
    int strategy;
    FcTypeEntry made;
    made.nslots = 0;
    strategy = strategy_compute(st, tp, &made);
    tag = fc_type_tag(tp);          /* computing may have assigned one */
    if (strategy > 0 && tag == 0) {
        /* A type gets its version tag on its first attribute lookup
         * through the type cache; ask for one so the answer can be kept
         * (a type that cannot have a tag keeps 0 and is never cached). */
        PyObject *attr;
        if (fc_lookup_attr((PyObject *)tp, st->s_deepcopy, &attr) < 0) {
            return -1;
        }
        Py_XDECREF(attr);
        tag = fc_type_tag(tp);
    }
    if (strategy > 0 && tag != 0) {
        made.type = tp;
        made.tag = tag;
        made.strategy = strategy;
        /* a stale entry of tp itself is replaced where it is; otherwise the
         * newer entry goes first and the other one moves second (the
         * entries' types are borrowed and may be gone: never read here) */
        if (set[0].type == tp) {
            set[0] = made;
        }
        else if (set[1].type == tp) {
            set[1] = made;
        }
        else {
            set[1] = set[0];
            set[0] = made;
        }
    }
    else if (strategy == STRAT_SLOTS) {
        strategy = STRAT_GENERIC;    /* the layout must stay in the cache */
    }
    return strategy;
}

int
reduce_dict_shadows(FcState *st, PyObject *dict)
{
    PyObject *names[] = {st->s_deepcopy, st->s_reduce_ex, st->s_reduce, st->s_getstate};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int has = PyDict_Contains(dict, names[i]);
        if (has != 0) {
            return has;
        }
    }
    return 0;
}

/* Does x's own __dict__ (a new reference in *dict, or NULL if x has none)
 * hold any of the names that would shadow the class's answers?  1 yes,
 * 0 no, -1 error. */
int
reduce_shadowed(FcState *st, PyObject *x, PyObject **dict)
{
    if (fc_existing_dict(x, dict) < 0) {
        return -1;
    }
    return *dict == NULL ? 0 : reduce_dict_shadows(st, *dict);
}

PyObject *
reduce_overridden(FcState *st, PyObject *x)
{
    PyObject *dict;
    int shadowed = reduce_shadowed(st, x, &dict);
    Py_XDECREF(dict);
    if (shadowed != 0) {
        return shadowed < 0 ? NULL : Py_NewRef(Py_None);
    }
    /* what object.__reduce_ex__(4) does when __reduce__ is overridden */
    return PyObject_CallMethodNoArgs(x, st->s_reduce);
}

PyObject *
reduce_plain(FcState *st, PyObject *x)
{
    PyObject *dict;
    int shadowed = reduce_shadowed(st, x, &dict);
    if (shadowed != 0) {
        Py_XDECREF(dict);
        return shadowed < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *state = dict != NULL && PyDict_GET_SIZE(dict) > 0 ? dict : Py_None;
    PyObject *args = PyTuple_Pack(1, (PyObject *)Py_TYPE(x));
    PyObject *rv = args ? PyTuple_Pack(3, st->newobj, args, state) : NULL;
    Py_XDECREF(args);
    Py_XDECREF(dict);
    return rv;
}
