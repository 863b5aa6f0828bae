/* memo.c -- the native memo table (see memo.h for the invariants). */
#include "memo.h"

void
memo_init(MemoTable *t)
{
    memset(t->small, 0, sizeof(t->small));
    t->slots = t->small;
    t->mask = MEMO_SMALL - 1;
    t->shift = 64 - 3;   /* log2(MEMO_SMALL) == 3 */
    t->used = 0;
}

/* Place an entry known not to be present into a table with room. */
static void
memo_place(MemoTable *t, PyObject *key, PyObject *value)
{
    size_t i = memo_hash(t, key);
    while (t->slots[i].key != NULL) {
        i = (i + 1) & t->mask;
    }
    t->slots[i].key = key;
    t->slots[i].value = value;
}

static int
memo_grow(MemoTable *t)
{
    size_t old_cap = t->mask + 1;
    /* x4 while small (few rehashes for typical copies), x2 from MEMO_BIG
     * slots on, so a big table is at worst 4 slots (64 bytes) per entry:
     * never more memory than the stdlib's memo dict for the same copy. */
    unsigned step = old_cap < MEMO_BIG ? 2 : 1;
    size_t new_cap = old_cap << step;
    if (new_cap > PY_SSIZE_T_MAX / sizeof(MemoEntry)) {
        PyErr_NoMemory();
        return -1;
    }
    MemoEntry *fresh = PyMem_Calloc(new_cap, sizeof(MemoEntry));
    if (fresh == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    MemoEntry *old = t->slots;
    t->slots = fresh;
    t->mask = new_cap - 1;
    t->shift -= step;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key != NULL) {
            memo_place(t, old[i].key, old[i].value);
        }
    }
    if (old != t->small) {
        PyMem_Free(old);
    }
    memo_check(t);   /* O(n), as the rehash itself */
    return 0;
}

int
memo_insert(MemoTable *t, PyObject *key, PyObject *value)
{
    size_t i = memo_hash(t, key);
    for (;;) {
        MemoEntry *e = &t->slots[i];
        if (e->key == key) {
            Py_SETREF(e->value, Py_NewRef(value));
            return 0;
        }
        if (e->key == NULL) {
            break;
        }
        i = (i + 1) & t->mask;
    }
    if ((t->used + 1) * 2 > t->mask + 1) {
        if (memo_grow(t) < 0) {
            return -1;
        }
    }
    memo_place(t, Py_NewRef(key), Py_NewRef(value));
    t->used++;
    if ((t->used & (t->used - 1)) == 0) {
        memo_check(t);   /* O(n): only at powers of two, O(n) overall */
    }
    return 0;
}

void
memo_clear(MemoTable *t)
{
    /* Called once, when the owning Copier is finished with the table; a
     * __del__ run by a release below cannot reach this table. */
    if (t->used > 0) {
        for (size_t i = 0; i <= t->mask; i++) {
            MemoEntry *e = &t->slots[i];
            if (e->key != NULL) {
                Py_DECREF(e->key);
                Py_DECREF(e->value);
                e->key = e->value = NULL;
            }
        }
    }
    if (t->slots != t->small) {
        PyMem_Free(t->slots);
        t->slots = t->small;
    }
    t->used = 0;
}

int
memo_export(const MemoTable *t, PyObject *dict)
{
    for (size_t i = 0; i <= t->mask; i++) {
        const MemoEntry *e = &t->slots[i];
        if (e->key == NULL) {
            continue;
        }
        PyObject *id = PyLong_FromVoidPtr(e->key);
        if (id == NULL) {
            return -1;
        }
        int rc = PyDict_SetItem(dict, id, e->value);
        Py_DECREF(id);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

#ifdef FASTCOPY_DEBUG
void
memo_check(const MemoTable *t)
{
    size_t count = 0;
    assert(((t->mask + 1) & t->mask) == 0);
    assert((t->mask + 1) >> (64 - t->shift) == 1);
    for (size_t i = 0; i <= t->mask; i++) {
        const MemoEntry *e = &t->slots[i];
        if (e->key == NULL) {
            continue;
        }
        count++;
        assert(e->value != NULL);
        assert(Py_REFCNT(e->key) > 0 && Py_REFCNT(e->value) > 0);
        assert(memo_lookup(t, e->key) == e->value);
    }
    assert(count == t->used);
    assert(t->used * 2 <= t->mask + 1);
}
#endif
