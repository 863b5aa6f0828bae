/* memo.h -- the native memo table: an open-addressing hash table keyed by
 * object address, used by deepcopy when the caller passed no memo.
 *
 * Invariants
 *   - capacity is a power of two, at least MEMO_SMALL; at most half full
 *     (grows when an insert would pass 1/2: x4 below MEMO_BIG slots, x2
 *     from there, or at once to all the room of a kept block it takes,
 *     see memo_grow), so a probe sequence always ends at an empty slot;
 *   - an entry owns a strong reference to its key (the original object: it
 *     keeps the address from being reused while the copy runs, the job the
 *     stdlib's keep-alive list does) and to its value (the copy);
 *   - no deletions, so no tombstones.
 * The hash is Fibonacci hashing of the address (one multiply, top bits), so
 * no Python int is ever created for a key.  A table's entries live for one
 * top-level deepcopy call only: nothing of them survives into the next
 * call, at most the heap block, empty (FcScratch below).
 */
#ifndef FASTCOPY_MEMO_H
#define FASTCOPY_MEMO_H

#include "compat.h"

/* Scratch blocks kept between top-level deepcopy calls
 * ------------------------------------------------------------------
 * A copy's working arrays (the frame stack, the done log, the elided
 * frames' indices, the memo table) start inline in the Copier and move to
 * the heap when they outgrow it.
 * Instead of freeing that heap block at the end of the call, the engine
 * keeps one block per array kind in its module state, up to
 * FC_SCRATCH_KEEP bytes each, and the next call that outgrows its inline
 * array takes it instead of calling malloc: a repeated copy of the same
 * shape then allocates nothing but the copy (docs/design.md, "Memory").
 *
 * Ownership: a block belongs either to the state (s->block) or to exactly
 * one running copy, which took it with fc_scratch_take (the state's
 * pointer is cleared at once) and hands it back with fc_scratch_give.  A
 * copy started meanwhile (a hook's, a finalizer's, another thread's) finds
 * the state empty and allocates its own.  Take and give run with the GIL
 * held and no Python code between the test and the store, which is what
 * makes a plain field enough; free-threaded builds keep nothing (every
 * give frees). */
typedef struct {
    void *block;        /* PyMem_Malloc'ed, or NULL */
    size_t bytes;       /* its size */
} FcScratch;

#define FC_SCRATCH_KEEP ((size_t)128 * 1024)
enum { FC_SCRATCH_FRAMES, FC_SCRATCH_DONE, FC_SCRATCH_ELIDED, FC_SCRATCH_MEMO, FC_SCRATCH_N };

/* The kept block if it has at least `need` bytes (its size in *bytes; the
 * caller owns it now), else NULL.  s may be NULL (nothing kept). */
static inline void *
fc_scratch_take(FcScratch *s, size_t need, size_t *bytes)
{
    if (FC_FREE_THREADED || s == NULL || s->block == NULL || s->bytes < need) {
        return NULL;
    }
    void *b = s->block;
    *bytes = s->bytes;
    s->block = NULL;
    s->bytes = 0;
    return b;
}

/* Hand back a heap block of `bytes` bytes: kept if it is no larger than
 * FC_SCRATCH_KEEP and larger than the block kept now (which is freed),
 * else freed. */
static inline void
fc_scratch_give(FcScratch *s, void *block, size_t bytes)
{
    if (!FC_FREE_THREADED && s != NULL && bytes <= FC_SCRATCH_KEEP && bytes > s->bytes) {
        void *old = s->block;
        s->block = block;
        s->bytes = bytes;
        PyMem_Free(old);
        return;
    }
    PyMem_Free(block);
}

/* Free the kept block (module teardown). */
static inline void
fc_scratch_free(FcScratch *s)
{
    PyMem_Free(s->block);
    s->block = NULL;
    s->bytes = 0;
}

#define MEMO_SMALL 8    /* inline slots: small copies never call malloc */
#define MEMO_BIG 2048   /* capacity from which the table grows x2, not x4 */

typedef struct {
    PyObject *key;      /* strong, NULL when the slot is empty */
    PyObject *value;    /* strong */
} MemoEntry;

typedef struct {
    MemoEntry *slots;   /* == small, or a PyMem_Malloc'ed block */
    size_t bytes;       /* the heap block's size (it may have more room
                           than the capacity: one taken from scratch) */
    FcScratch *scratch; /* where heap blocks come from and go back, or NULL */
    size_t mask;        /* capacity - 1 */
    unsigned shift;     /* 64 - log2(capacity) */
    size_t used;
    MemoEntry small[MEMO_SMALL];
} MemoTable;

/* An empty table; scratch: see FcScratch (NULL: plain malloc/free). */
void memo_init(MemoTable *t, FcScratch *scratch);
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
