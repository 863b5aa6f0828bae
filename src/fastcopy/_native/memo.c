/* memo.c -- the native memo table (see memo.h for the invariants). */
#include "memo.h"

void
memo_init(MemoTable *t, FcScratch *scratch)
{
    memset(t->small, 0, sizeof(t->small));
    t->slots = t->small;
    t->bytes = 0;
    t->scratch = scratch;
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
    /* The kept block (FcScratch), if this step needs at least a quarter
     * of it: then with all its room, so that the table grows no more
     * until it is full (each step's old table is the copy's transient
     * memory).  Not for a table much smaller than the block: it would pay
     * for clearing and, at the end, scanning the block's every slot. */
    size_t need = new_cap * sizeof(MemoEntry), bytes = need;
    MemoEntry *fresh = NULL;
    if (t->scratch != NULL && t->scratch->block != NULL && need >= t->scratch->bytes / 4) {
        fresh = fc_scratch_take(t->scratch, need, &bytes);
    }
    if (fresh != NULL) {
        while ((new_cap << 1) * sizeof(MemoEntry) <= bytes) {
            new_cap <<= 1;
            step++;
        }
        memset(fresh, 0, new_cap * sizeof(MemoEntry));
    }
    else {
        fresh = PyMem_Calloc(new_cap, sizeof(MemoEntry));
        if (fresh == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    MemoEntry *old = t->slots;
    size_t old_bytes = t->bytes;
    t->slots = fresh;
    t->bytes = bytes;
    t->mask = new_cap - 1;
    t->shift -= step;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key != NULL) {
            memo_place(t, old[i].key, old[i].value);
        }
    }
    if (old != t->small) {
        fc_scratch_give(t->scratch, old, old_bytes);
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
        fc_scratch_give(t->scratch, t->slots, t->bytes);
        t->slots = t->small;
        t->bytes = 0;
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
