/* memo.h -- the native memo table: an open-addressing hash table keyed by
 * object address, used by deepcopy when the caller passed no memo.
 *
 * Invariants
 *   - capacity is a power of two, at least MEMO_SMALL; at most half full
 *     (grows when an insert would pass 1/2: x4 below MEMO_BIG slots, x2
 *     from there), so a probe sequence always ends at an empty slot;
 *   - an entry owns a strong reference to its key (the original object: it
 *     keeps the address from being reused while the copy runs, the job the
 *     stdlib's keep-alive list does) and to its value (the copy);
 *   - no deletions, so no tombstones.
 * The hash is Fibonacci hashing of the address (one multiply, top bits), so
 * no Python int is ever created for a key.  A table lives for one top-level
 * deepcopy call only: nothing survives into the next call.
 */
#ifndef FASTCOPY_MEMO_H
#define FASTCOPY_MEMO_H

#include "compat.h"

#define MEMO_SMALL 8    /* inline slots: small copies never call malloc */
#define MEMO_BIG 2048   /* capacity from which the table grows x2, not x4 */

typedef struct {
    PyObject *key;      /* strong, NULL when the slot is empty */
    PyObject *value;    /* strong */
} MemoEntry;

typedef struct {
    MemoEntry *slots;   /* == small, or a PyMem_Malloc'ed block */
    size_t mask;        /* capacity - 1 */
    unsigned shift;     /* 64 - log2(capacity) */
    size_t used;
    MemoEntry small[MEMO_SMALL];
} MemoTable;

void memo_init(MemoTable *t);
static inline size_t
memo_hash(const MemoTable *t, PyObject *key)
{
    return (size_t)(((uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull) >> t->shift);
}

/* Borrowed reference to the copy recorded for `key`, or NULL if none.
 * Never fails, never sets an exception.  (Inline: it runs once per
 * container visited.) */
static inline PyObject *
memo_lookup(const MemoTable *t, PyObject *key)
{
    size_t i = memo_hash(t, key);
    for (;;) {
        const MemoEntry *e = &t->slots[i];
        if (e->key == key) {
            return e->value;
        }
        if (e->key == NULL) {
            return NULL;
        }
        i = (i + 1) & t->mask;
    }
}
/* Record key -> value (both increfed); replaces an existing value.
 * Returns 0, or -1 with MemoryError set. */
int memo_insert(MemoTable *t, PyObject *key, PyObject *value);
/* Releases every reference and any heap block; memo_init before reuse. */
void memo_clear(MemoTable *t);
/* Copy every entry into a Python dict as {id(key): value}.  Returns 0, or
 * -1 with an exception set. */
int memo_export(const MemoTable *t, PyObject *dict);

#ifdef FASTCOPY_DEBUG
void memo_check(const MemoTable *t);
#else
#define memo_check(t) ((void)0)
#endif

#endif
