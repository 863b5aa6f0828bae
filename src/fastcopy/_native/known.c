/* known.c -- standard-library types whose deep copy is known from the type.
 *
 * deepcopy() of these goes through Python code in the stdlib -- a
 * __deepcopy__ method that returns self, or the reduce protocol -- and so,
 * in a naive engine, it costs a Python call, a memo handed to Python (which
 * forces fastcopy to materialise its memo as a dict) and temporary objects.
 * The result is known in advance:
 *
 *   STRAT_SELF      decimal.Decimal, fractions.Fraction, re.Pattern (exact
 *                   types) and enum members (3.11+: Enum.__deepcopy__):
 *                   their __deepcopy__ returns self, and deepcopy then
 *                   records nothing in the memo.  Returned as they are.
 *   STRAT_DATETIME  datetime.date, datetime, time, timedelta (exact types):
 *                   reduced to (cls, (state bytes[, tzinfo])) and rebuilt;
 *                   the copy is a new equal object.  Built with the
 *                   datetime C API.  Naive values leave exactly the stdlib's
 *                   memo; aware ones (tzinfo timezone.utc only, whose deep
 *                   copy is itself) skip the memo entries the stdlib makes
 *                   for the temporaries of copying the tzinfo.
 *   STRAT_UUID      uuid.UUID: object.__reduce_ex__ with UUID.__getstate__
 *                   / __setstate__; the copy is a new UUID with the same
 *                   `int` and `is_safe`.  The stdlib's memo also holds the
 *                   temporary state dict.
 *
 * A type qualifies only while its behaviour is the standard one: the exact
 * type, the original methods (checked by identity or by qualified name),
 * no copyreg reducer for it (copyreg comes before __reduce_ex__).  The
 * answer is cached per type by fc_type_strategy, guarded by the type's
 * version tag, and dropped when the dispatch tables change.  The modules
 * are never imported by fastcopy: a type can only be one of these if its
 * module is already in sys.modules.
 */
#include "known.h"

#include <datetime.h>   /* the C API is kept per state (datetime_api), not in its PyDateTimeAPI */


/* sys.modules[mod].name, new reference; NULL without an exception when the
 * module is not imported or has no such attribute. */
static PyObject *
module_attr(const char *mod, const char *name)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *m;
    if (!fc_dict_getitem_str(modules, mod, &m)) {
        return NULL;
    }
    PyObject *a = PyObject_GetAttrString(m, name);
    Py_DECREF(m);
    if (a == NULL) {
        PyErr_Clear();
    }
    return a;
}

/* *slot, resolved on first success from sys.modules[mod].name and kept
 * (strong, in the module state).  Borrowed; NULL while unresolved. */
static PyObject *
known_get(PyObject **slot, const char *mod, const char *name)
{
#ifdef Py_GIL_DISABLED
    /* several threads may resolve it at once: the first to publish wins,
     * the others drop theirs (the same object, or an equally valid one) */
    PyObject *cur = FC_LOAD(*slot);
    if (cur == NULL) {
        PyObject *v = module_attr(mod, name);
        if (v == NULL) {
            return NULL;
        }
        void *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(
                (_Atomic(void *) *)(void *)slot, &expected, (void *)v,
                memory_order_acq_rel, memory_order_acquire)) {
            return v;
        }
        Py_DECREF(v);
        cur = expected;
    }
    return cur;
#else
    if (*slot == NULL) {
        *slot = module_attr(mod, name);
    }
    return *slot;
#endif
}

static int
is_module_type(PyTypeObject *tp, PyObject **slot, const char *mod, const char *name)
{
    PyObject *t = known_get(slot, mod, name);
    return t != NULL && t == (PyObject *)tp;
}

/* Is getattr(tp, name) a Python function with this __qualname__ and
 * __module__ (i.e. the library's own, not a replacement)? */
static int
is_function_named(PyTypeObject *tp, const char *name, const char *qualname,
                  const char *module)
{
    PyObject *f = PyObject_GetAttrString((PyObject *)tp, name);
    if (f == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = 0;
    if (PyFunction_Check(f)) {
        PyObject *q = PyObject_GetAttrString(f, "__qualname__");
        PyObject *m = PyObject_GetAttrString(f, "__module__");
        ok = q != NULL && PyUnicode_Check(q) && PyUnicode_CompareWithASCIIString(q, qualname) == 0 &&
             m != NULL && PyUnicode_Check(m) && PyUnicode_CompareWithASCIIString(m, module) == 0;
        Py_XDECREF(q);
        Py_XDECREF(m);
        PyErr_Clear();
    }
    Py_DECREF(f);
    return ok;
}

/* Is getattr(tp, name) a method defined in C (_decimal's own; its type
 * is immutable, static before 3.13 and a heap type since)? */
static int
is_c_method(PyTypeObject *tp, const char *name)
{
    PyObject *f = PyObject_GetAttrString((PyObject *)tp, name);
    if (f == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = Py_IS_TYPE(f, &PyMethodDescr_Type) && (tp->tp_flags & Py_TPFLAGS_IMMUTABLETYPE);
    Py_DECREF(f);
    return ok;
}

/* getattr(tp, name) is `want`?  (want NULL: absent) */
static int
attr_is(PyTypeObject *tp, const char *name, PyObject *want)
{
    PyObject *f = PyObject_GetAttrString((PyObject *)tp, name);
    if (f == NULL) {
        PyErr_Clear();
    }
    int same = f == want;
    Py_XDECREF(f);
    return same;
}

static int
in_copyreg(FcState *st, PyTypeObject *tp)
{
    PyObject *table = FC_LOAD(st->dispatch_table);   /* one snapshot */
    if (!PyDict_CheckExact(table)) {
        return 1;
    }
    return PyDict_Contains(table, (PyObject *)tp);
}

static int
member_offset(PyTypeObject *tp, const char *name, Py_ssize_t *off)
{
    PyObject *d;
    if (!fc_dict_getitem_str(tp->tp_dict, name, &d)) {
        return 0;
    }
    PyMemberDef *def = Py_IS_TYPE(d, &PyMemberDescr_Type) ? ((PyMemberDescrObject *)d)->d_member : NULL;
    Py_DECREF(d);   /* def points into tp's own member table, which lives as long as tp */
    if (def == NULL || def->type != FC_T_OBJECT_EX || (def->flags & FC_READONLY_FLAG)) {
        return 0;
    }
    *off = def->offset;
    return 1;
}

static int
known_uuid(FcState *st, PyTypeObject *tp)
{
    if (!is_module_type(tp, &st->k_uuid, "uuid", "UUID")) {
        return 0;
    }
    int in_table = in_copyreg(st, tp);
    if (in_table != 0) {
        return in_table < 0 ? -1 : 0;
    }
    Py_ssize_t off_int, off_safe;
    if (tp->tp_dictoffset != 0 || tp->tp_new != PyBaseObject_Type.tp_new ||
        !attr_is(tp, "__deepcopy__", NULL) ||
        !attr_is(tp, "__reduce_ex__", st->obj_reduce_ex) ||
        !attr_is(tp, "__reduce__", st->obj_reduce) ||
        !is_function_named(tp, "__getstate__", "UUID.__getstate__", "uuid") ||
        !is_function_named(tp, "__setstate__", "UUID.__setstate__", "uuid") ||
        !member_offset(tp, "int", &off_int) || !member_offset(tp, "is_safe", &off_safe)) {
        return 0;
    }
    PyObject *safe = module_attr("uuid", "SafeUUID");
    if (safe == NULL || !PyType_Check(safe)) {
        Py_XDECREF(safe);
        return 0;
    }
#ifdef Py_GIL_DISABLED
    /* Several threads may get here at once (with the same answers: tp is
     * the one uuid.UUID resolved by known_get).  The swap keeps the old
     * SafeUUID's release single; the type and offsets are only ever set
     * to these same values, before the (thread-local) cache entry that
     * leads fc_known_copy to read them. */
    PyObject *old_safe = atomic_exchange_explicit(
        (_Atomic(void *) *)(void *)&st->uuid_safe_type, (void *)safe, memory_order_acq_rel);
    Py_XDECREF(old_safe);
    atomic_store_explicit((_Atomic(Py_ssize_t) *)&st->uuid_off_int, off_int, memory_order_relaxed);
    atomic_store_explicit((_Atomic(Py_ssize_t) *)&st->uuid_off_safe, off_safe, memory_order_relaxed);
    FC_STORE(st->uuid_type, tp);
#else
    Py_XSETREF(st->uuid_safe_type, safe);
    st->uuid_type = tp;
    st->uuid_off_int = off_int;
    st->uuid_off_safe = off_safe;
#endif
    return STRAT_UUID;
}

static int
known_datetime(FcState *st, PyTypeObject *tp)
{
    /* (free-threaded builds: threads may race to set it, all to the same
     * capsule pointer; FC_LOAD/FC_STORE keep that a clean atomic store) */
    (void)PyDateTimeAPI;    /* datetime.h's own static, unused (state.h says why) */
    if (FC_LOAD(st->datetime_api) == NULL) {
        /* The capsule is kept too: the API it points to is freed with it.
         * Keeping only the pointer crashed on 3.10 (a call through a freed
         * API, in test_subinterpreters' teardown test: subinterpreters
         * importing datetime one after another, the main interpreter never;
         * 3.10 shares single-phase modules' dicts such as _datetime's
         * between interpreters and re-runs their init when the interpreter
         * that first ran it is gone). */
        PyObject *capsule = known_get(&st->k_datetime_capi, "datetime", "datetime_CAPI");
        if (capsule == NULL) {
            return 0;
        }
        void *got = PyCapsule_GetPointer(capsule, PyDateTime_CAPSULE_NAME);
        if (got == NULL) {
            PyErr_Clear();
            return 0;
        }
        FC_STORE(st->datetime_api, got);
    }
    PyDateTime_CAPI *api = FC_LOAD(st->datetime_api);
    if (tp != api->DateType && tp != api->DateTimeType && tp != api->TimeType &&
        tp != api->DeltaType) {
        return 0;
    }
    int in_table = in_copyreg(st, tp);
    if (in_table != 0) {
        return in_table < 0 ? -1 : 0;
    }
    /* (a lookup also gives the type a version tag, which the strategy
     * cache needs to keep the answer) */
    return attr_is(tp, "__deepcopy__", NULL) ? STRAT_DATETIME : 0;
}

int
fc_known_strategy(FcState *st, PyTypeObject *tp)
{
    /* __deepcopy__ returning self */
    if ((is_module_type(tp, &st->k_decimal, "decimal", "Decimal") &&
         (is_c_method(tp, "__deepcopy__") ||
          is_function_named(tp, "__deepcopy__", "Decimal.__deepcopy__", "_pydecimal"))) ||
        (is_module_type(tp, &st->k_fraction, "fractions", "Fraction") &&
         is_function_named(tp, "__deepcopy__", "Fraction.__deepcopy__", "fractions")) ||
        is_module_type(tp, &st->k_pattern, "re", "Pattern")) {
        return STRAT_SELF;
    }
    PyObject *enum_base = known_get(&st->k_enum, "enum", "Enum");   /* borrowed */
    if (enum_base != NULL) {
        int self = 0;
        if (PyType_Check(enum_base) && PyType_IsSubtype(tp, (PyTypeObject *)enum_base)) {
            PyObject *base_hook = PyObject_GetAttrString(enum_base, "__deepcopy__");
            if (base_hook == NULL) {
                PyErr_Clear();      /* 3.10: Enum has no __deepcopy__ */
            }
            else {
                self = attr_is(tp, "__deepcopy__", base_hook);
                Py_DECREF(base_hook);
            }
        }
        if (self) {
            return STRAT_SELF;
        }
    }
    int k = known_datetime(st, tp);
    if (k != 0) {
        return k;
    }
    return known_uuid(st, tp);
}

/* Does the instance dict of x shadow __deepcopy__?  1 yes or unknown (a
 * key that is not an exact str: comparing it could run code), 0 no. */
static int
shadows_deepcopy(FcState *st, PyObject *x)
{
    PyObject *dict;
    if (fc_existing_dict(x, &dict) < 0) {
        PyErr_Clear();
        return 1;
    }
    if (dict == NULL) {
        return 0;
    }
    int shadow = !PyDict_CheckExact(dict);
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    /* the dict's lock on free-threaded builds: the keys are borrowed (the
     * comparisons, of exact strs only, run no code) */
    FC_BEGIN_CRITICAL_SECTION(dict);
    while (!shadow && PyDict_Next(dict, &pos, &k, &v)) {
        shadow = !PyUnicode_CheckExact(k) || k == st->s_deepcopy ||
                 PyUnicode_Compare(k, st->s_deepcopy) == 0;
    }
    FC_END_CRITICAL_SECTION();
    Py_DECREF(dict);
    return shadow;
}

int
fc_known_copy(FcState *st, PyObject *x, int strategy, int exact_memo, PyObject **y)
{
    *y = NULL;
    if (strategy == STRAT_SELF) {
        if (Py_TYPE(x)->tp_dictoffset != 0 && shadows_deepcopy(st, x)) {
            return 0;
        }
        *y = Py_NewRef(x);
        return 1;
    }
    if (strategy == STRAT_DATETIME) {
        PyDateTime_CAPI *api = FC_LOAD(st->datetime_api);
        PyTypeObject *tp = Py_TYPE(x);
        if (tp == api->DeltaType) {
            *y = api->Delta_FromDelta(PyDateTime_DELTA_GET_DAYS(x), PyDateTime_DELTA_GET_SECONDS(x),
                                      PyDateTime_DELTA_GET_MICROSECONDS(x), 0, tp);
        }
        else if (tp == api->DateType) {
            *y = api->Date_FromDate(PyDateTime_GET_YEAR(x), PyDateTime_GET_MONTH(x),
                                    PyDateTime_GET_DAY(x), tp);
        }
        else if (tp == api->DateTimeType) {
            PyObject *tz = PyDateTime_DATE_GET_TZINFO(x);    /* borrowed */
            if (tz != Py_None && (tz != api->TimeZone_UTC || exact_memo)) {
                return 0;
            }
            *y = api->DateTime_FromDateAndTimeAndFold(
                PyDateTime_GET_YEAR(x), PyDateTime_GET_MONTH(x), PyDateTime_GET_DAY(x),
                PyDateTime_DATE_GET_HOUR(x), PyDateTime_DATE_GET_MINUTE(x),
                PyDateTime_DATE_GET_SECOND(x), PyDateTime_DATE_GET_MICROSECOND(x), tz,
                PyDateTime_DATE_GET_FOLD(x), tp);
        }
        else {
            PyObject *tz = PyDateTime_TIME_GET_TZINFO(x);
            if (tz != Py_None && (tz != api->TimeZone_UTC || exact_memo)) {
                return 0;
            }
            *y = api->Time_FromTimeAndFold(
                PyDateTime_TIME_GET_HOUR(x), PyDateTime_TIME_GET_MINUTE(x),
                PyDateTime_TIME_GET_SECOND(x), PyDateTime_TIME_GET_MICROSECOND(x), tz,
                PyDateTime_TIME_GET_FOLD(x), tp);
        }
        return *y == NULL ? -1 : 1;
    }
    if (strategy == STRAT_UUID) {
        PyTypeObject *tp = Py_TYPE(x);
        if (exact_memo || tp != FC_LOAD(st->uuid_type)) {
            return 0;
        }
#ifdef Py_GIL_DISABLED
        /* setattr on a member slot takes x's lock on free-threaded builds:
         * read both under it, with references of our own */
        Py_ssize_t off_int = atomic_load_explicit(
            (_Atomic(Py_ssize_t) *)&st->uuid_off_int, memory_order_relaxed);
        Py_ssize_t off_safe = atomic_load_explicit(
            (_Atomic(Py_ssize_t) *)&st->uuid_off_safe, memory_order_relaxed);
        PyObject *v_int, *v_safe;
        Py_BEGIN_CRITICAL_SECTION(x);
        v_int = Py_XNewRef(*(PyObject **)((char *)x + off_int));
        v_safe = Py_XNewRef(*(PyObject **)((char *)x + off_safe));
        Py_END_CRITICAL_SECTION();
        if (v_int == NULL || v_safe == NULL || !PyLong_CheckExact(v_int) ||
            (PyObject *)Py_TYPE(v_safe) != FC_LOAD(st->uuid_safe_type)) {
            Py_XDECREF(v_int);
            Py_XDECREF(v_safe);
            return 0;
        }
        PyObject *noargs = PyTuple_New(0);
        PyObject *r = noargs == NULL ? NULL : tp->tp_new(tp, noargs, NULL);
        Py_XDECREF(noargs);
        if (r == NULL) {
            Py_DECREF(v_int);
            Py_DECREF(v_safe);
            return -1;
        }
        PyObject **slot_int = (PyObject **)((char *)r + off_int);
        PyObject **slot_safe = (PyObject **)((char *)r + off_safe);
        Py_XSETREF(*slot_int, v_int);
        Py_XSETREF(*slot_safe, v_safe);
#else
        PyObject *v_int = *(PyObject **)((char *)x + st->uuid_off_int);
        PyObject *v_safe = *(PyObject **)((char *)x + st->uuid_off_safe);
        if (v_int == NULL || v_safe == NULL || !PyLong_CheckExact(v_int) ||
            (PyObject *)Py_TYPE(v_safe) != st->uuid_safe_type) {
            return 0;
        }
        PyObject *noargs = PyTuple_New(0);
        if (noargs == NULL) {
            return -1;
        }
        PyObject *r = tp->tp_new(tp, noargs, NULL);
        Py_DECREF(noargs);
        if (r == NULL) {
            return -1;
        }
        PyObject **slot_int = (PyObject **)((char *)r + st->uuid_off_int);
        PyObject **slot_safe = (PyObject **)((char *)r + st->uuid_off_safe);
        Py_XSETREF(*slot_int, Py_NewRef(v_int));
        Py_XSETREF(*slot_safe, Py_NewRef(v_safe));
#endif
        *y = r;
        return 1;
    }
    return 0;
}
