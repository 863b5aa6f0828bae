/* template.c -- descriptors of object graphs, and Templates that replay them.
 *
 * Describing (one traversal, explicit stack)
 * ------------------------------------------
 * The builder walks the graph in the order deepcopy would, and classifies
 * every object the way the engine's visit() does:
 *   leaf       deepcopy returns the object itself: atomic types, classes,
 *              tuples whose items are all leaves;
 *   node       a container the replay rebuilds: list, dict, tuple, set,
 *              frozenset, bytearray, and instances of classes on object's
 *              default protocol (FCD_PLAIN: new object + its __dict__);
 *   python     anything that needs Python code to copy (a __deepcopy__ hook,
 *              a reducer, a subclass of a builtin, ...).
 * Child references are pushed on a "ref stack" as they are resolved; when a
 * container is finished its children are the top of that stack, which is
 * how a container's record gets its references without any recursion.
 * Containers get a provisional id when first seen (so a reference back to a
 * container that is still being described can be written), and their final
 * index -- the order in which they were finished (post-order) -- at the
 * end; a last pass rewrites every reference.  A tuple all of whose items
 * turn out to be leaves becomes a leaf itself.
 *
 * Replaying
 * ---------
 * A replayable descriptor (no python nodes, no tuple on a cycle, no
 * instance __dict__ shared with anything else, stdlib dispatch tables) is
 * replayed in one pass over the nodes in post-order: each node's children
 * are then already built, except references back to an enclosing container
 * (a cycle), which is a list, dict or instance: such a target is
 * allocated on demand, filled when its own turn comes.  This is exactly
 * what deepcopy does for these types (they are memoized before their items
 * are copied), so the copy has the same sharing and cycles.  Nothing in a
 * replay runs Python code except hashing of keys that are themselves
 * copies (tuples, frozensets), which deepcopy does too.
 *
 * A Template whose descriptor is not replayable keeps a private deep copy
 * of the object (the snapshot) and replays by deep-copying that snapshot
 * with the engine; so does a replayable one whose assumptions no longer
 * hold when it is called (dispatch tables or a class changed since): it
 * first rebuilds the snapshot from the descriptor, then deep-copies it.
 *
 * References: the Builder owns `leaves`, `keep` and every frame's `seq`;
 * a Template owns its module, descriptor, leaves, snapshot and dict
 * prototypes; during a replay, objs[i] owns the copy of node i.
 */
#include "template.h"
#include "deepcopy.h"
#include "reduce.h"

#include <stddef.h>
#include <string.h>


#define REF_LEAF(k) ((((uint32_t)(k)) << 1) | 1u)
#define REF_NODE(i) (((uint32_t)(i)) << 1)
#define REF_IS_LEAF(r) ((r) & 1u)
#define REF_INDEX(r) ((r) >> 1)
#define FCD_MAX_ITEMS ((size_t)0x7FFFFFFF)

/* ------------------------------------------------------------------ */
/* small growable arrays                                              */

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        ncap *= 2;
    }
    if (ncap > FCD_MAX_ITEMS + 1 || ncap > PY_SSIZE_T_MAX / elem) {
        PyErr_SetString(PyExc_OverflowError, "object graph too large to describe");
        return -1;
    }
    void *q = PyMem_Realloc(*p, ncap * elem);
    if (q == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *p = q;
    *cap = ncap;
    return 0;
}

/* ------------------------------------------------------------------ */
/* address -> reference map (open addressing, linear probing)         */

typedef struct {
    PyObject *key;   /* borrowed; kept alive by Builder.keep or .leaves */
    uint32_t val;
} PMEntry;

typedef struct {
    PMEntry *slots;
    size_t mask, used;
} PtrMap;

static inline size_t
pmap_slot(const PtrMap *m, PyObject *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & m->mask;
}

static int
pmap_init(PtrMap *m)
{
    m->mask = 63;
    m->used = 0;
    m->slots = PyMem_Calloc(64, sizeof(PMEntry));
    if (m->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static inline int
pmap_get(const PtrMap *m, PyObject *key, uint32_t *val)
{
    for (size_t i = pmap_slot(m, key);; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) {
            *val = m->slots[i].val;
            return 1;
        }
        if (m->slots[i].key == NULL) {
            return 0;
        }
    }
}

static int
pmap_put(PtrMap *m, PyObject *key, uint32_t val)
{
    if ((m->used + 1) * 2 > m->mask + 1) {
        size_t ncap = (m->mask + 1) * 2;
        PMEntry *old = m->slots;
        size_t oldcap = m->mask + 1;
        m->slots = PyMem_Calloc(ncap, sizeof(PMEntry));
        if (m->slots == NULL) {
            m->slots = old;
            PyErr_NoMemory();
            return -1;
        }
        m->mask = ncap - 1;
        for (size_t i = 0; i < oldcap; i++) {
            if (old[i].key != NULL) {
                size_t j = pmap_slot(m, old[i].key);
                while (m->slots[j].key != NULL) {
                    j = (j + 1) & m->mask;
                }
                m->slots[j] = old[i];
            }
        }
        PyMem_Free(old);
    }
    size_t i = pmap_slot(m, key);
    while (m->slots[i].key != NULL && m->slots[i].key != key) {
        i = (i + 1) & m->mask;
    }
    if (m->slots[i].key == NULL) {
        m->used++;
    }
    m->slots[i].key = key;
    m->slots[i].val = val;
    return 0;
}

/* ------------------------------------------------------------------ */
/* the builder                                                        */

typedef struct {
    uint8_t kind, flags;
    uint16_t pad;
    uint32_t count, first, aux;
} NodeRec;

typedef struct {
    uint8_t kind, flags, done;
    uint32_t final;          /* REF_NODE(post-order index) or a leaf ref */
} OldInfo;

typedef struct {
    PyObject *seq;           /* owned: the children, as a list or tuple */
    Py_ssize_t i, n;
    size_t base;             /* ref-stack height when pushed */
    uint32_t old, aux;
    uint8_t kind;
} BFrame;

typedef struct {
    FcState *st;
    PtrMap map;
    PyObject *leaves;        /* list of leaf objects (owned) */
    PyObject *keep;          /* containers seen, kept alive (owned) */
    BFrame *frames;
    size_t nframes, capframes;
    uint32_t *stack;
    size_t nstack, capstack;
    uint32_t *refs;
    size_t nrefs, caprefs;
    NodeRec *nodes;
    size_t nnodes, capnodes;
    OldInfo *old;
    size_t nold, capold;
    unsigned hflags;
    uint32_t root;
} Builder;

static void
builder_free(Builder *b)
{
    for (size_t i = 0; i < b->nframes; i++) {
        Py_XDECREF(b->frames[i].seq);
    }
    PyMem_Free(b->frames);
    PyMem_Free(b->stack);
    PyMem_Free(b->refs);
    PyMem_Free(b->nodes);
    PyMem_Free(b->old);
    PyMem_Free(b->map.slots);
    Py_XDECREF(b->leaves);
    Py_XDECREF(b->keep);
    memset(b, 0, sizeof(*b));
}

static int
push_ref(Builder *b, uint32_t r)
{
    if (grow((void **)&b->stack, &b->capstack, b->nstack + 1, sizeof(uint32_t)) < 0) {
        return -1;
    }
    b->stack[b->nstack++] = r;
    return 0;
}

/* The leaf reference of x (added to the leaves on first sight). */
static int
leaf_ref(Builder *b, PyObject *x, uint32_t *r)
{
    if (pmap_get(&b->map, x, r)) {
        return 0;
    }
    size_t k = (size_t)PyList_GET_SIZE(b->leaves);
    if (k >= FCD_MAX_ITEMS) {
        PyErr_SetString(PyExc_OverflowError, "object graph too large to describe");
        return -1;
    }
    if (PyList_Append(b->leaves, x) < 0) {
        return -1;
    }
    *r = REF_LEAF(k);
    return pmap_put(&b->map, x, *r);
}

/* A new provisional id for container x, remembered in the map. */
static int
new_old(Builder *b, PyObject *x, uint8_t kind, uint32_t *old)
{
    if (grow((void **)&b->old, &b->capold, b->nold + 1, sizeof(OldInfo)) < 0) {
        return -1;
    }
    *old = (uint32_t)b->nold;
    b->old[b->nold++] = (OldInfo){kind, 0, 0, 0};
    if (PyList_Append(b->keep, x) < 0) {
        return -1;
    }
    return pmap_put(&b->map, x, REF_NODE(*old));
}

/* Record node `old` as finished, with the top `nref` refs as children. */
static int
emit_node(Builder *b, uint32_t old, size_t nref, uint32_t count, uint32_t aux)
{
    if (grow((void **)&b->nodes, &b->capnodes, b->nnodes + 1, sizeof(NodeRec)) < 0 ||
        grow((void **)&b->refs, &b->caprefs, b->nrefs + nref, sizeof(uint32_t)) < 0) {
        return -1;
    }
    OldInfo *o = &b->old[old];
    NodeRec *rec = &b->nodes[b->nnodes];
    rec->kind = o->kind;
    rec->flags = o->flags;
    rec->pad = 0;
    rec->count = count;
    rec->first = (uint32_t)b->nrefs;
    rec->aux = aux;
    if (nref > 0) {      /* (with none, both arrays may still be NULL) */
        memcpy(b->refs + b->nrefs, b->stack + b->nstack - nref, nref * sizeof(uint32_t));
    }
    b->nrefs += nref;
    b->nstack -= nref;
    o->done = 1;
    o->final = REF_NODE(b->nnodes);
    b->nnodes++;
    return push_ref(b, REF_NODE(old));
}

/* A node with no children to describe, finished at once. */
static int
emit_atomic_node(Builder *b, PyObject *x, uint8_t kind, PyObject *auxobj)
{
    uint32_t old, aux;
    if (leaf_ref(b, auxobj, &aux) < 0 || new_old(b, x, kind, &old) < 0) {
        return -1;
    }
    return emit_node(b, old, 0, 0, REF_INDEX(aux));
}

static int
push_frame(Builder *b, PyObject *x, uint8_t kind, PyObject *seq, uint32_t aux)
{
    /* seq: a new reference (or NULL for no children), stolen */
    uint32_t old;
    if (grow((void **)&b->frames, &b->capframes, b->nframes + 1, sizeof(BFrame)) < 0 ||
        new_old(b, x, kind, &old) < 0) {
        Py_XDECREF(seq);
        return -1;
    }
    if ((size_t)b->nframes >= (size_t)FC_MAX_DEPTH) {
        Py_XDECREF(seq);
        PyErr_SetString(PyExc_RecursionError,
                        "maximum nesting depth exceeded while describing an object");
        return -1;
    }
    BFrame *f = &b->frames[b->nframes++];
    f->seq = seq;
    f->i = 0;
    f->n = seq == NULL ? 0 : Py_SIZE(seq);
    f->base = b->nstack;
    f->old = old;
    f->aux = aux;
    f->kind = kind;
    return 1;
}

/* Classify x; push its ref (0) or a frame for it (1); -1 on error. */
static int
b_visit(Builder *b, PyObject *x)
{
    FcState *st = b->st;
    PyTypeObject *tp = Py_TYPE(x);
    uint32_t r;
    if (fc_is_deep_atomic(st, tp)) {
        return leaf_ref(b, x, &r) < 0 ? -1 : push_ref(b, r);
    }
    if (pmap_get(&b->map, x, &r)) {
        if (!REF_IS_LEAF(r)) {
            OldInfo *o = &b->old[REF_INDEX(r)];
            if (!o->done) {     /* a reference back into an unfinished container */
                o->flags |= FCD_NF_BACKREF;
                /* deepcopy memoizes these only once built: re-entering
                 * one copies it again (the replay cannot) */
                if (o->kind == FCD_TUPLE || o->kind == FCD_FROZENSET ||
                    o->kind == FCD_SET) {
                    b->hflags |= FCD_HF_TUPLE_CYCLE;
                }
            }
        }
        return push_ref(b, r);
    }
    if (tp == &PyList_Type) {
        return push_frame(b, x, FCD_LIST, Py_NewRef(x), 0);
    }
    if (tp == &PyTuple_Type) {
        return push_frame(b, x, FCD_TUPLE, Py_NewRef(x), 0);
    }
    if (tp == &PyDict_Type) {
        /* children: key0, value0, key1, value1, ... (a snapshot) */
        PyObject *seq;
        Py_ssize_t pos = 0, j = 0;
        PyObject *k, *v;
        /* free-threaded builds: size and items read under the dict's lock.
         * Before 3.12, PyList_New may run the garbage collector, and with
         * it Python code that changes x: the items are read only after it,
         * and a size that no longer matches is the stdlib's RuntimeError
         * (the copy would iterate x while it changes) rather than a write
         * past seq's end or NULL items left in it. */
        Py_ssize_t want = 2 * PyDict_GET_SIZE(x);
        FC_BEGIN_CRITICAL_SECTION(x);
        seq = PyList_New(want);
        if (seq != NULL && 2 * PyDict_GET_SIZE(x) == want) {
            while (j < want && PyDict_Next(x, &pos, &k, &v)) {
                PyList_SET_ITEM(seq, j++, Py_NewRef(k));
                PyList_SET_ITEM(seq, j++, Py_NewRef(v));
            }
        }
        FC_END_CRITICAL_SECTION();
        if (seq == NULL) {
            return -1;
        }
        if (j != want) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            return -1;
        }
        return push_frame(b, x, FCD_DICT, seq, 0);
    }
    if (tp == st->method_type) {
        b->hflags |= FCD_HF_HAS_PYTHON;
        return emit_atomic_node(b, x, FCD_PYTHON, x);
    }
    if (PyType_Check(x)) {
        return leaf_ref(b, x, &r) < 0 ? -1 : push_ref(b, r);
    }
    if ((tp == &PySet_Type && !FC_LOAD_INT(st->set_reduced)) ||
        (tp == &PyFrozenSet_Type && !FC_LOAD_INT(st->frozenset_reduced))) {
        PyObject *seq = PySequence_List(x);
        if (seq == NULL) {
            return -1;
        }
        return push_frame(b, x, tp == &PySet_Type ? FCD_SET : FCD_FROZENSET, seq, 0);
    }
    if (tp == &PyByteArray_Type && !FC_LOAD_INT(st->bytearray_reduced)) {
        PyObject *data;
        FC_BEGIN_CRITICAL_SECTION(x);   /* its buffer may be resized */
        data = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(x),
                                         PyByteArray_GET_SIZE(x));
        FC_END_CRITICAL_SECTION();
        if (data == NULL) {
            return -1;
        }
        int rc = emit_atomic_node(b, x, FCD_BYTEARRAY, data);
        Py_DECREF(data);
        return rc;
    }
    if (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        int strategy = fc_type_strategy(st, tp);
        if (strategy < 0) {
            return -1;
        }
        if (strategy == STRAT_PLAIN_DICT) {
            PyObject *dict;
            int shadowed = reduce_shadowed(st, x, &dict);
            if (shadowed < 0) {
                Py_XDECREF(dict);
                return -1;
            }
            /* no __dict__ yet (dict NULL) is an empty state */
            if (shadowed == 0 && (dict == NULL || PyDict_CheckExact(dict))) {
                uint32_t cls;
                if (leaf_ref(b, (PyObject *)tp, &cls) < 0) {
                    Py_XDECREF(dict);
                    return -1;
                }
                PyObject *seq = NULL;
                if (dict != NULL && PyDict_GET_SIZE(dict) > 0) {
                    seq = PyTuple_Pack(1, dict);
                    if (seq == NULL) {
                        Py_DECREF(dict);
                        return -1;
                    }
                }
                Py_XDECREF(dict);
                return push_frame(b, x, FCD_PLAIN, seq, REF_INDEX(cls));
            }
            Py_XDECREF(dict);
        }
    }
    b->hflags |= FCD_HF_HAS_PYTHON;
    return emit_atomic_node(b, x, FCD_PYTHON, x);
}


/* The top frame has no children left: record it.  keep[old] is the
 * container (new_old appends to keep in id order). */
static int
b_finish_frame(Builder *b)
{
    BFrame *f = &b->frames[b->nframes - 1];
    size_t nref = b->nstack - f->base;
    uint32_t old = f->old, aux = f->aux;
    uint8_t kind = f->kind;
    Py_CLEAR(f->seq);
    b->nframes--;
    if (kind == FCD_TUPLE) {
        size_t j = 0;
        while (j < nref && REF_IS_LEAF(b->stack[b->nstack - nref + j])) {
            j++;
        }
        if (j == nref) {
            /* every item is its own copy: deepcopy returns the tuple itself */
            uint32_t r;
            PyObject *t = PyList_GET_ITEM(b->keep, old);
            size_t k = (size_t)PyList_GET_SIZE(b->leaves);
            if (PyList_Append(b->leaves, t) < 0) {
                return -1;
            }
            r = REF_LEAF(k);
            b->old[old].done = 1;
            b->old[old].final = r;
            b->nstack -= nref;
            if (pmap_put(&b->map, t, r) < 0) {
                return -1;
            }
            return push_ref(b, r);
        }
    }
    uint32_t count = kind == FCD_DICT ? (uint32_t)(nref / 2) : (uint32_t)nref;
    return emit_node(b, old, nref, count, aux);
}

/* Rewrite provisional ids, check the replay conditions. */
static int
b_finalize(Builder *b)
{
    b->root = b->stack[0];
    for (size_t j = 0; j < b->nrefs; j++) {
        if (!REF_IS_LEAF(b->refs[j])) {
            b->refs[j] = b->old[REF_INDEX(b->refs[j])].final;
        }
    }
    if (!REF_IS_LEAF(b->root)) {
        b->root = b->old[REF_INDEX(b->root)].final;
    }
    /* An instance's __dict__ is replayed straight into the new instance's
     * __dict__: only sound if nothing else refers to that dict. */
    uint32_t *indeg = PyMem_Calloc(b->nnodes + 1, sizeof(uint32_t));
    if (indeg == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t j = 0; j < b->nrefs; j++) {
        if (!REF_IS_LEAF(b->refs[j])) {
            indeg[REF_INDEX(b->refs[j])]++;
        }
    }
    if (!REF_IS_LEAF(b->root)) {
        indeg[REF_INDEX(b->root)]++;
    }
    for (size_t i = 0; i < b->nnodes; i++) {
        NodeRec *n = &b->nodes[i];
        if (n->kind == FCD_PLAIN && n->count == 1) {
            uint32_t r = b->refs[n->first];
            if (REF_IS_LEAF(r) || indeg[REF_INDEX(r)] != 1 || REF_INDEX(r) >= i) {
                b->hflags |= FCD_HF_SHARED_STATE;
            }
        }
    }
    PyMem_Free(indeg);
    if (FC_LOAD(b->st->deep_overrides) != NULL || b->st->atomic_custom) {
        b->hflags |= FCD_HF_OVERRIDES;
    }
    if (!(b->hflags & (FCD_HF_HAS_PYTHON | FCD_HF_TUPLE_CYCLE |
                       FCD_HF_SHARED_STATE | FCD_HF_OVERRIDES))) {
        b->hflags |= FCD_HF_REPLAYABLE;
    }
    return 0;
}

/* Describe obj into b (initialised here; builder_free() it in any case). */
static int
b_build(Builder *b, FcState *st, PyObject *obj)
{
    memset(b, 0, sizeof(*b));
    b->st = st;
    if (fc_state_sync(st) < 0 || pmap_init(&b->map) < 0) {
        return -1;
    }
    b->leaves = PyList_New(0);
    b->keep = PyList_New(0);
    if (b->leaves == NULL || b->keep == NULL) {
        return -1;
    }
    if (b_visit(b, obj) < 0) {
        return -1;
    }
    while (b->nframes > 0) {
        BFrame *f = &b->frames[b->nframes - 1];
        if (f->i < f->n) {
            if (PyList_CheckExact(f->seq) && f->kind == FCD_LIST &&
                PyList_GET_SIZE(f->seq) != f->n) {
                PyErr_SetString(PyExc_RuntimeError,
                                "list changed size while it was being described");
                return -1;
            }
#ifdef Py_GIL_DISABLED
            /* f->seq is the list being described itself for FCD_LIST
             * (another thread may change it: a strong reference, or the
             * size check's error when the item is gone); a private
             * list or tuple otherwise */
            PyObject *child = PyList_CheckExact(f->seq)
                ? PyList_GetItemRef(f->seq, f->i)
                : Py_NewRef(PySequence_Fast_GET_ITEM(f->seq, f->i));
            if (child == NULL) {
                PyErr_SetString(PyExc_RuntimeError,
                                "list changed size while it was being described");
                return -1;
            }
            f->i++;
#else
            PyObject *child = PySequence_Fast_GET_ITEM(f->seq, f->i);
            f->i++;
            Py_INCREF(child);       /* Python code may run while visiting */
#endif
            int rc = b_visit(b, child);
            Py_DECREF(child);
            if (rc < 0) {
                return -1;
            }
            continue;
        }
        if (f->kind == FCD_LIST && PyList_GET_SIZE(f->seq) != f->n) {
            PyErr_SetString(PyExc_RuntimeError,
                            "list changed size while it was being described");
            return -1;
        }
        if (b_finish_frame(b) < 0) {
            return -1;
        }
    }
    return b_finalize(b);
}

static inline void
put_u16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v & 0xFF);
    p[1] = (unsigned char)((v >> 8) & 0xFF);
}

static inline void
put_u32(unsigned char *p, uint32_t v)
{
    put_u16(p, v & 0xFFFF);
    put_u16(p + 2, v >> 16);
}

/* The descriptor as bytes (docs/descriptor.md). */
static PyObject *
b_serialize(const Builder *b)
{
    size_t size = FCD_HEADER_SIZE + FCD_NODE_SIZE * b->nnodes + 4 * b->nrefs;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (out == NULL) {
        return NULL;
    }
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(out);
    memcpy(p, FCD_MAGIC, 4);
    put_u16(p + 4, FCD_VERSION);
    put_u16(p + 6, b->hflags);
    put_u32(p + 8, (uint32_t)b->nnodes);
    put_u32(p + 12, (uint32_t)PyList_GET_SIZE(b->leaves));
    put_u32(p + 16, (uint32_t)b->nrefs);
    put_u32(p + 20, b->root);
    put_u32(p + 24, 0);
    put_u32(p + 28, 0);
    p += FCD_HEADER_SIZE;
    for (size_t i = 0; i < b->nnodes; i++, p += FCD_NODE_SIZE) {
        const NodeRec *n = &b->nodes[i];
        p[0] = n->kind;
        p[1] = n->flags;
        put_u16(p + 2, 0);
        put_u32(p + 4, n->count);
        put_u32(p + 8, n->first);
        put_u32(p + 12, n->aux);
    }
    for (size_t j = 0; j < b->nrefs; j++, p += 4) {
        put_u32(p, b->refs[j]);
    }
    return out;
}

PyObject *
fc_describe(FcState *st, PyObject *obj)
{
    Builder b;
    PyObject *result = NULL;
    if (b_build(&b, st, obj) == 0) {
        PyObject *data = b_serialize(&b);
        if (data != NULL) {
            result = PyTuple_Pack(2, data, b.leaves);
            Py_DECREF(data);
        }
    }
    builder_free(&b);
    return result;
}

/* ------------------------------------------------------------------ */
/* Template                                                           */

/* Replay operations, resolved once when the Template is built so that a
 * replay dispatches on one byte per node and tests nothing else. */
enum {
    OP_LIST = 1,      /* PyList_New(count): every item is a node */
    OP_LIST_PROTO,    /* slice of the prototype (leaves in place), the node
                         items patched in */
    OP_DICT_PROTO,    /* PyDict_Copy of the prototype (leaf keys, leaf values
                         in place), the node values patched in */
    OP_DICT,          /* a new dict, every pair set (some key is a node) */
    OP_STATE,         /* a plain instance's __dict__: every pair set into
                         the new instance's own dict */
    OP_TUPLE,
    OP_SET,
    OP_FROZENSET,
    OP_PLAIN,         /* cls.__new__(cls); its __dict__ is an OP_STATE node */
    OP_BYTEARRAY
};

typedef struct {
    uint32_t pos;            /* the item (list) or pair (dict) index */
    uint32_t node;           /* the child's node index */
    PyObject *key;           /* a dict's: the (leaf) key, borrowed */
} Patch;

typedef struct {
    uint8_t op;
    uint8_t late;            /* a child node comes later in post-order (a
                                back-reference): it may not exist yet when
                                this node is filled */
    uint8_t slots;           /* OP_DICT_PROTO: the prototype's value slots
                                were found where expected (compat.h,
                                FC_HAS_DICT_SLOTS): patch copies in place */
    uint8_t dkind;           /* ... and its keys kind */
    uint8_t vpath;           /* OP_STATE: every key was found in the class's
                                shared keys (patch[j].pos its index): the
                                values go straight into the new instance's
                                values array (compat.h, "values path") */
    uint32_t count;
    const uint32_t *refs;
    PyObject *proto;         /* OP_LIST_PROTO, OP_DICT_PROTO: the prototype
                                (owned), holding the leaves (None where a
                                node goes) */
    PyObject *aux;           /* OP_PLAIN: class; OP_BYTEARRAY: bytes
                                (borrowed from leaves) */
    uint32_t owner;          /* OP_STATE: index of the OP_PLAIN node */
    const void *vkeys;       /* OP_STATE with vpath: the shared keys object
                                the indices are in (compared, not read) */
    uint32_t npatch;         /* OP_LIST, OP_LIST_PROTO, OP_DICT_PROTO: the */
    Patch *patch;            /* positions whose child is a node (owned, PyMem) */
} PNode;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *module;        /* strong: its state */
    PyObject *descriptor;    /* bytes */
    PyObject *leaves;        /* list */
    PyObject *snapshot;      /* strong, or NULL when replayable */
    PNode *nodes;
    uint32_t *refs;
    PyObject **leafv;        /* borrowed from leaves */
    Py_ssize_t nnodes;
    uint32_t root;
    unsigned hflags;
    int has_sets, has_bytearrays;
    int replay_hashes;       /* a replay may hash something Python code
                                hashes (a set element or dict key that is
                                a node, or a leaf of a heap type) */
    PyTypeObject **classes;  /* distinct FCD_PLAIN classes (borrowed) */
    Py_ssize_t nclasses;
} TemplateObject;

typedef struct {
    TemplateObject *t;
    PyObject **objs;         /* objs[i]: the copy of node i (owned), or NULL */
    PyObject *noargs;
} Replay;

static int r_alloc(Replay *R, uint32_t i);

/* Borrowed copy of node k, created on the spot if it does not exist yet
 * (a back-reference target, or an instance whose __dict__ comes first). */
static inline PyObject *
r_node(Replay *R, uint32_t k)
{
    if (R->objs[k] == NULL && r_alloc(R, k) < 0) {
        return NULL;
    }
    return R->objs[k];
}

/* Borrowed copy of ref r. */
static inline PyObject *
r_get(Replay *R, uint32_t r)
{
    if (REF_IS_LEAF(r)) {
        return R->t->leafv[REF_INDEX(r)];
    }
    return r_node(R, REF_INDEX(r));
}

/* Create the copy of node i before it is filled: a list (with its leaves),
 * a dict (with its leaf values), a set, an instance, a bytearray. */
static int
r_alloc(Replay *R, uint32_t i)
{
    PNode *p = &R->t->nodes[i];
    PyObject *y = NULL;
    switch (p->op) {
    case OP_LIST:
        y = PyList_New(p->count);
        break;
    case OP_LIST_PROTO:
        y = PyList_GetSlice(p->proto, 0, p->count);
        break;
    case OP_DICT_PROTO:
        y = PyDict_Copy(p->proto);
        break;
    case OP_DICT:
        y = PyDict_New();
        break;
    case OP_STATE: {
        PyObject *inst = r_node(R, p->owner);
        y = inst == NULL ? NULL : PyObject_GenericGetDict(inst, NULL);
        if (y != NULL && !PyDict_CheckExact(y)) {
            Py_DECREF(y);
            PyErr_SetString(PyExc_TypeError, "instance __dict__ is not a dict");
            y = NULL;
        }
        break;
    }
    case OP_SET:
        y = PySet_New(NULL);
        break;
    case OP_PLAIN: {
        PyTypeObject *tp = (PyTypeObject *)p->aux;
        if (R->noargs == NULL && (R->noargs = PyTuple_New(0)) == NULL) {
            return -1;
        }
        y = tp->tp_new(tp, R->noargs, NULL);
        break;
    }
    case OP_BYTEARRAY:
        /* (made empty, then filled: see fc_bytearray_fill) */
        y = PyByteArray_FromStringAndSize(NULL, 0);
        if (y != NULL && fc_bytearray_fill(y, PyBytes_AS_STRING(p->aux), PyBytes_GET_SIZE(p->aux)) < 0) {
            Py_CLEAR(y);
        }
        break;
    default:
        PyErr_SetString(PyExc_SystemError, "fastcopy: bad template node");
        return -1;
    }
    if (y == NULL) {
        return -1;
    }
    R->objs[i] = y;
    return 0;
}

/* Store the node children of a list: items[pos] was NULL (OP_LIST) or a
 * placeholder None (OP_LIST_PROTO).  0 or -1. */
static inline int
r_fill_list(Replay *R, const PNode *p, PyObject *y)
{
    PyObject **items = ((PyListObject *)y)->ob_item;
    PyObject **objs = R->objs;
    const Patch *pt = p->patch, *end = pt + p->npatch;
    if (!p->late) {
        /* every child is an earlier node: already built */
        if (p->op == OP_LIST) {
            /* items of PyList_New(): NULL */
            for (; pt < end; pt++) {
                items[pt->pos] = Py_NewRef(objs[pt->node]);
            }
            return 0;
        }
        for (; pt < end; pt++) {
            PyObject *old = items[pt->pos];     /* the prototype's None */
            items[pt->pos] = Py_NewRef(objs[pt->node]);
            Py_DECREF(old);
        }
        return 0;
    }
    for (; pt < end; pt++) {
        PyObject *v = r_node(R, pt->node);
        if (v == NULL) {
            return -1;
        }
        /* r_node may allocate, and with replay_hashes (the collector not
         * held) a collection before 3.12 runs Python code that may have
         * reached y and changed it: its items read again */
        if (pt->pos >= PyList_GET_SIZE(y)) {
            PyErr_SetString(PyExc_RuntimeError, "list changed size during Template replay");
            return -1;
        }
        items = ((PyListObject *)y)->ob_item;
        PyObject *old = items[pt->pos];
        items[pt->pos] = Py_NewRef(v);
        Py_XDECREF(old);
    }
    return 0;
}

/* Set every pair of refs[] into dict y (keys may be nodes).  0 or -1. */
static int
r_fill_pairs(Replay *R, const PNode *p, PyObject *y)
{
    for (uint32_t j = 0; j < p->count; j++) {
        PyObject *k = r_get(R, p->refs[2 * j]);
        PyObject *v = k == NULL ? NULL : r_get(R, p->refs[2 * j + 1]);
        if (v == NULL || PyDict_SetItem(y, k, v) < 0) {
            return -1;
        }
    }
    return 0;
}

/* OP_STATE with vpath: the state's values written into the new instance's
 * values array (what setting each attribute on it in order would do, see
 * compat.h).  1 done, 0 not applicable now (the dict path runs instead,
 * nothing changed), -1 error. */
static int
r_fill_values(Replay *R, const PNode *p)
{
#if FC_HAS_INLINE_VALUES
    PyObject *vals[32];           /* a shared keys object has at most 30 */
    if (p->count > 32) {
        return 0;
    }
    for (uint32_t j = 0; j < p->count; j++) {
        /* (borrowed: objs[] owns built nodes, leaves own themselves) */
        if ((vals[j] = r_get(R, p->patch[j].node)) == NULL) {
            return -1;
        }
    }
    PyObject *inst = r_node(R, p->owner);
    if (inst == NULL) {
        return -1;
    }
    PyTypeObject *tp = Py_TYPE(inst);
    FcDictKeys *dk = FC_CACHED_KEYS(tp);
    Py_ssize_t room;
    FcDictValues *yv = fc_fresh_values(inst, &room);
    if ((const void *)dk != p->vkeys || yv == NULL || (Py_ssize_t)p->count > room) {
        return 0;
    }
    for (uint32_t j = 0; j < p->count; j++) {
        Py_ssize_t ix = p->patch[j].pos;
        /* 3.11/3.12: the instance was made with room for every index below
         * the keys' entry count, which only grows, and ix was below it when
         * the Template was built; 3.13 records the capacity (room) */
        if (ix >= dk->dk_nentries || fc_inline_key(tp, ix) != p->patch[j].key ||
            yv->values[ix] != NULL || (FC_PY313_PLUS && ix >= room)) {
            return 0;
        }
    }
    for (uint32_t j = 0; j < p->count; j++) {
        fc_values_push(yv, p->patch[j].pos, Py_NewRef(vals[j]));
    }
    return 1;
#else
    (void)R, (void)p;
    return 0;
#endif
}

/* The node values of a dict copied from its prototype.  0 or -1. */
static int
r_fill_dict(Replay *R, const PNode *p, PyObject *y)
{
    const Patch *pt = p->patch, *end = pt + p->npatch;
#if FC_HAS_DICT_SLOTS
    /* Every child already built (nothing allocated, no code run, until the
     * loop ends): write the values into the copy's slots, where the
     * prototype had None (compat.h says why and what is checked). */
    int kind;
    char *entries;
    if (p->slots && !p->late &&
        (entries = fc_dict_entries(y, p->count, &kind)) != NULL && kind == p->dkind) {
        PyObject **objs = R->objs;
        for (; pt < end; pt++) {
            PyObject **slot = fc_dict_value_slot(entries, kind, pt->pos, pt->key);
            if (slot != NULL && *slot == Py_None) {
                *slot = Py_NewRef(objs[pt->node]);
                Py_DECREF(Py_None);
                continue;
            }
            /* y is not the prototype's clone any more: the rest by
             * PyDict_SetItem, which may hash through Python and resize
             * y (entries would then be stale) */
            break;
        }
        /* what PyDict_SetItem would have done: a dict holding containers
         * is tracked by the garbage collector */
        if (p->npatch > 0 && !PyObject_GC_IsTracked(y)) {
            PyObject_GC_Track(y);
        }
        /* (the rest, if any: below) */
    }
#endif
    for (; pt < end; pt++) {
        PyObject *v = p->late ? r_node(R, pt->node) : R->objs[pt->node];
        if (v == NULL || PyDict_SetItem(y, pt->key, v) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Build every node in post-order; new reference to the root's copy. */
static PyObject *
r_run(TemplateObject *t)
{
    if (REF_IS_LEAF(t->root)) {
        return Py_NewRef(t->leafv[REF_INDEX(t->root)]);
    }
    PyObject *small[32];
    Replay R = {t, small, NULL};
    Py_ssize_t n = t->nnodes;
    if (n > (Py_ssize_t)(sizeof(small) / sizeof(small[0]))) {
        R.objs = PyMem_Calloc((size_t)n, sizeof(PyObject *));
        if (R.objs == NULL) {
            return PyErr_NoMemory();
        }
    }
    else {
        memset(small, 0, (size_t)n * sizeof(PyObject *));
    }
    /* a ref resolves to bases[leaf bit][index] */
    PyObject **bases[2] = {R.objs, t->leafv};
    PyObject *result = NULL;
    /* No Python code runs in the loop unless a key or element hashes
     * through Python: collections are held off while it runs (GIL builds),
     * as in the engine (deepcopy.c says why), and released before anything
     * is freed (a partial copy's __del__ is Python code) */
    int gc_held = t->replay_hashes ? 0 : fc_gc_hold_loop(&fc_get_state(t->module)->gc_owed, n);
    if (gc_held < 0) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const PNode *p = &t->nodes[i];
        PyObject *y = R.objs[i];
        switch (p->op) {
        case OP_LIST:
            if (y == NULL && (y = R.objs[i] = PyList_New(p->count)) == NULL) {
                goto error;
            }
            if (r_fill_list(&R, p, y) < 0) {
                goto error;
            }
            break;
        case OP_LIST_PROTO:
            if (y == NULL &&
                (y = R.objs[i] = PyList_GetSlice(p->proto, 0, p->count)) == NULL) {
                goto error;
            }
            if (r_fill_list(&R, p, y) < 0) {
                goto error;
            }
            break;
        case OP_DICT_PROTO:
            if (y == NULL && (y = R.objs[i] = PyDict_Copy(p->proto)) == NULL) {
                goto error;
            }
            if (r_fill_dict(&R, p, y) < 0) {
                goto error;
            }
            break;
        case OP_STATE:
            if (p->vpath && y == NULL) {
                /* the values path; objs[i] stays NULL (nothing else
                 * refers to the state: see the in-degree check) */
                int rc = r_fill_values(&R, p);
                if (rc < 0) {
                    goto error;
                }
                if (rc > 0) {
                    break;
                }
            }
            /* fall through */
        case OP_DICT:
            if (y == NULL) {
                if (r_alloc(&R, (uint32_t)i) < 0) {
                    goto error;
                }
                y = R.objs[i];
            }
            if (r_fill_pairs(&R, p, y) < 0) {
                goto error;
            }
            break;
        case OP_TUPLE: {
            const uint32_t *refs = p->refs;
            uint32_t cnt = p->count;
            y = R.objs[i] = PyTuple_New(cnt);
            if (y == NULL) {
                goto error;
            }
            PyObject **items = ((PyTupleObject *)y)->ob_item;
            if (!p->late) {
                for (uint32_t j = 0; j < cnt; j++) {
                    uint32_t r = refs[j];
                    items[j] = Py_NewRef(bases[REF_IS_LEAF(r)][REF_INDEX(r)]);
                }
                break;
            }
            /* r_get may allocate: with replay_hashes, before 3.12, a
             * collection may run Python code, which must not find y with
             * NULL items (only objs[i] refers to it: no tuple is on a
             * cycle) */
            int hide = t->replay_hashes && cnt > 0;
            if (hide) {
                PyObject_GC_UnTrack(y);
            }
            for (uint32_t j = 0; j < cnt; j++) {
                PyObject *v = r_get(&R, refs[j]);
                if (v == NULL) {
                    goto error;
                }
                items[j] = Py_NewRef(v);
            }
            if (hide) {
                PyObject_GC_Track(y);
            }
            break;
        }
        case OP_SET:
        case OP_FROZENSET:
            if (y == NULL) {
                if (p->op == OP_SET) {
                    if (r_alloc(&R, (uint32_t)i) < 0) {
                        goto error;
                    }
                    y = R.objs[i];
                }
                else {
                    y = R.objs[i] = PyFrozenSet_New(NULL);
                    if (y == NULL) {
                        goto error;
                    }
                }
            }
            for (uint32_t j = 0; j < p->count; j++) {
                PyObject *v = r_get(&R, p->refs[j]);
                if (v == NULL || PySet_Add(y, v) < 0) {
                    goto error;
                }
            }
            break;
        case OP_PLAIN:
        case OP_BYTEARRAY:
            /* an instance's __dict__ was filled in place, before */
            if (y == NULL && r_alloc(&R, (uint32_t)i) < 0) {
                goto error;
            }
            break;
        default:
            PyErr_SetString(PyExc_SystemError, "fastcopy: bad template node");
            goto error;
        }
    }
    result = Py_NewRef(R.objs[REF_INDEX(t->root)]);
error:
    fc_gc_release_loop(gc_held);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(R.objs[i]);
    }
    if (R.objs != small) {
        PyMem_Free(R.objs);
    }
    Py_XDECREF(R.noargs);
    return result;
}

/* Can the descriptor be replayed as it is, now?  Only if the dispatch
 * tables and 3.14's atomic types are the stdlib's (as when it was built)
 * and every instance's
 * class still copies by the default protocol.  1 yes, 0 no, -1 error. */
static int
t_replay_valid(TemplateObject *t, FcState *st)
{
    if (!(t->hflags & FCD_HF_REPLAYABLE)) {
        return 0;
    }
    if (fc_state_sync(st) < 0) {
        return -1;
    }
    if (FC_LOAD(st->deep_overrides) != NULL || st->atomic_custom ||
        (t->has_sets && (st->set_reduced || FC_LOAD_INT(st->frozenset_reduced))) ||
        (t->has_bytearrays && FC_LOAD_INT(st->bytearray_reduced))) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < t->nclasses; i++) {
        int s = fc_type_strategy(st, t->classes[i]);
        if (s != STRAT_PLAIN_DICT) {
            return s < 0 ? -1 : 0;
        }
    }
    return 1;
}

/* One copy. */
static PyObject *
t_copy(TemplateObject *t)
{
    if (t->leaves == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Template has been cleared");
        return NULL;
    }
    FcState *st = fc_get_state(t->module);
    if (t->snapshot != NULL) {
        return fc_deepcopy(st, t->snapshot, NULL);
    }
    int ok = t_replay_valid(t, st);
    if (ok < 0) {
        return NULL;
    }
    if (ok) {
        return r_run(t);
    }
    /* Rebuild the snapshot as it was described, then copy it as deepcopy
     * would copy it today. */
    PyObject *snap = r_run(t);
    if (snap == NULL) {
        return NULL;
    }
    PyObject *y = fc_deepcopy(st, snap, NULL);
    Py_DECREF(snap);
    return y;
}

static PyObject *
t_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    (void)args;
    if (PyVectorcall_NARGS(nargsf) != 0 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Template() takes no arguments");
        return NULL;
    }
    return t_copy((TemplateObject *)self);
}

/* OP_STATE: can the state's values be written straight into the new
 * instance's values array at replay (the engine's values path, compat.h)?
 * Yes when the class keeps its instances' attributes in values over its
 * shared keys and every key of the state is a str leaf found, by identity,
 * among those keys (a split instance dict's keys are those very objects).
 * Then s->patch[j] = {index, value ref, key}; the replay checks again that
 * the keys object and each key are still where they were.  0 (with or
 * without the path), -1 on MemoryError. */
static int
t_state_values(TemplateObject *t, PNode *s, PyTypeObject *tp)
{
#if FC_HAS_INLINE_VALUES
    if ((tp->tp_flags & FC_VALUES_TYPE_FLAGS) != FC_VALUES_TYPE_FLAGS || s->count == 0) {
        return 0;
    }
    FcDictKeys *dk = FC_CACHED_KEYS(tp);
    if (dk == NULL || dk->dk_kind != 2 || (Py_ssize_t)s->count > dk->dk_nentries) {
        return 0;
    }
    Patch *pt = PyMem_Malloc(s->count * sizeof(Patch));
    if (pt == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t j = 0; j < s->count; j++) {
        uint32_t kr = s->refs[2 * j];
        PyObject *key = REF_IS_LEAF(kr) ? t->leafv[REF_INDEX(kr)] : NULL;
        Py_ssize_t ix = -1;
        if (key != NULL && PyUnicode_CheckExact(key)) {
            for (Py_ssize_t e = 0; e < dk->dk_nentries; e++) {
                if (fc_inline_key(tp, e) == key) {
                    ix = e;
                    break;
                }
            }
        }
        if (ix < 0) {
            PyMem_Free(pt);
            return 0;
        }
        pt[j] = (Patch){.pos = (uint32_t)ix, .node = s->refs[2 * j + 1], .key = key};
    }
    s->patch = pt;
    s->npatch = s->count;
    s->vpath = 1;
    s->vkeys = dk;
#else
    (void)t, (void)s, (void)tp;
#endif
    return 0;
}

/* p->patch: the positions (items, or pairs when stride is 2) whose child
 * is a node, `n` of them, with the child's node index.  0 or -1. */
static int
t_patch_list(TemplateObject *t, PNode *p, uint32_t n, uint32_t stride)
{
    p->npatch = 0;
    if (n == 0) {
        return 0;
    }
    p->patch = PyMem_Malloc(n * sizeof(Patch));
    if (p->patch == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t j = 0; j < p->count; j++) {
        uint32_t r = p->refs[stride * j + (stride - 1)];
        if (!REF_IS_LEAF(r)) {
            p->patch[p->npatch++] = (Patch){
                j, REF_INDEX(r),
                stride == 2 ? t->leafv[REF_INDEX(p->refs[2 * j])] : NULL};
        }
    }
    return 0;
}

/* Turn the builder's arrays into the replay plan (takes b's arrays). */
static int
t_compile(TemplateObject *t, Builder *b)
{
    t->leaves = Py_NewRef(b->leaves);
    t->nnodes = (Py_ssize_t)b->nnodes;
    t->root = b->root;
    t->hflags = b->hflags;
    t->refs = b->refs;
    b->refs = NULL;
    t->leafv = ((PyListObject *)t->leaves)->ob_item;
    t->nodes = PyMem_Calloc(b->nnodes ? b->nnodes : 1, sizeof(PNode));
    if (t->nodes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t capclasses = 0;
    for (size_t i = 0; i < b->nnodes; i++) {
        const NodeRec *rec = &b->nodes[i];
        PNode *p = &t->nodes[i];
        p->count = rec->count;
        p->refs = t->refs + rec->first;
        size_t width = rec->kind == FCD_DICT ? 2 * (size_t)rec->count
                       : rec->kind == FCD_PLAIN ? rec->count
                       : rec->kind == FCD_BYTEARRAY || rec->kind == FCD_PYTHON ? 0
                       : rec->count;
        for (size_t j = 0; j < width; j++) {
            if (!REF_IS_LEAF(p->refs[j]) && REF_INDEX(p->refs[j]) > i) {
                p->late = 1;
            }
        }
        if (rec->kind == FCD_SET || rec->kind == FCD_FROZENSET || rec->kind == FCD_DICT) {
            /* the elements, or every other ref (the keys) of a dict */
            size_t step = rec->kind == FCD_DICT ? 2 : 1;
            for (size_t j = 0; j < width; j += step) {
                uint32_t r = p->refs[j];
                if (!REF_IS_LEAF(r) ||
                    (Py_TYPE(t->leafv[REF_INDEX(r)])->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
                    t->replay_hashes = 1;
                }
            }
        }
        switch (rec->kind) {
        case FCD_SET:
            t->has_sets = 1;
            p->op = OP_SET;
            break;
        case FCD_FROZENSET:
            t->has_sets = 1;
            p->op = OP_FROZENSET;
            break;
        case FCD_TUPLE:
            p->op = OP_TUPLE;
            break;
        case FCD_BYTEARRAY:
            t->has_bytearrays = 1;
            p->op = OP_BYTEARRAY;
            p->aux = t->leafv[rec->aux];
            break;
        case FCD_PLAIN: {
            p->op = OP_PLAIN;
            p->aux = t->leafv[rec->aux];
            if (rec->count == 1 && !REF_IS_LEAF(p->refs[0])) {
                /* (its dict is an earlier node: compiled already) */
                PNode *state = &t->nodes[REF_INDEX(p->refs[0])];
                state->op = OP_STATE;
                state->owner = (uint32_t)i;
                Py_CLEAR(state->proto);
                PyMem_Free(state->patch);
                state->patch = NULL;
                state->npatch = 0;
                if (t_state_values(t, state, (PyTypeObject *)p->aux) < 0) {
                    return -1;
                }
            }
            Py_ssize_t k = 0;
            while (k < t->nclasses && t->classes[k] != (PyTypeObject *)p->aux) {
                k++;
            }
            if (k == t->nclasses) {
                if (grow((void **)&t->classes, &capclasses, (size_t)k + 1,
                         sizeof(PyTypeObject *)) < 0) {
                    return -1;
                }
                t->classes[t->nclasses++] = (PyTypeObject *)p->aux;
            }
            break;
        }
        case FCD_LIST: {
            /* some items are leaves: a prototype list copied whole */
            uint32_t leaves = 0;
            for (uint32_t j = 0; j < rec->count; j++) {
                leaves += REF_IS_LEAF(p->refs[j]);
            }
            if (leaves == 0) {
                p->op = OP_LIST;
                if (t_patch_list(t, p, rec->count, 1) < 0) {
                    return -1;
                }
                break;
            }
            PyObject *proto = PyList_New(rec->count);
            if (proto == NULL) {
                return -1;
            }
            for (uint32_t j = 0; j < rec->count; j++) {
                uint32_t r = p->refs[j];
                PyList_SET_ITEM(proto, j, Py_NewRef(REF_IS_LEAF(r) ? t->leafv[REF_INDEX(r)] : Py_None));
            }
            p->op = OP_LIST_PROTO;
            p->proto = proto;
            if (t_patch_list(t, p, rec->count - leaves, 1) < 0) {
                return -1;
            }
            break;
        }
        case FCD_DICT: {
            /* keys all leaves: a prototype with every leaf value in place
             * (None where a value is a node) copied as a whole */
            p->op = OP_DICT;
            uint32_t j = 0;
            while (j < rec->count && REF_IS_LEAF(p->refs[2 * j])) {
                j++;
            }
            if (j < rec->count || rec->count == 0) {
                break;
            }
            PyObject *proto = PyDict_New();
            if (proto == NULL) {
                return -1;
            }
            p->op = OP_DICT_PROTO;
            p->proto = proto;
            uint32_t nodes = 0;
            for (j = 0; j < rec->count; j++) {
                uint32_t vr = p->refs[2 * j + 1];
                PyObject *v = REF_IS_LEAF(vr) ? t->leafv[REF_INDEX(vr)] : Py_None;
                nodes += !REF_IS_LEAF(vr);
                if (PyDict_SetItem(proto, t->leafv[REF_INDEX(p->refs[2 * j])], v) < 0) {
                    return -1;
                }
            }
            if (t_patch_list(t, p, nodes, 2) < 0) {
                return -1;
            }
#if FC_HAS_DICT_SLOTS
            /* in-place patching: only if every entry of the prototype is
             * where the layout compat.h mirrors says it is */
            int kind;
            char *entries = fc_dict_entries(proto, rec->count, &kind);
            p->slots = entries != NULL;
            for (j = 0; p->slots && j < rec->count; j++) {
                uint32_t vr = p->refs[2 * j + 1];
                PyObject *v = REF_IS_LEAF(vr) ? t->leafv[REF_INDEX(vr)] : Py_None;
                PyObject **slot = fc_dict_value_slot(entries, kind, j,
                                                     t->leafv[REF_INDEX(p->refs[2 * j])]);
                p->slots = slot != NULL && *slot == v;
            }
            p->dkind = p->slots ? (uint8_t)kind : 0;
#endif
            break;
        }
        default:
            break;
        }
    }
    /* A replay that hashes through Python runs Python code while lists made
     * on demand (cycle targets) wait for their fill, and that code can
     * reach them (gc.get_objects(), or gc.get_referents() of a container
     * already filled): such a list must not hold NULL items (reading one
     * crashes), so it starts from a prototype of None, like the lists that
     * hold leaves. */
    for (Py_ssize_t i = 0; t->replay_hashes && i < t->nnodes; i++) {
        PNode *p = &t->nodes[i];
        if (p->op != OP_LIST) {
            continue;
        }
        PyObject *proto = PyList_New(p->count);
        if (proto == NULL) {
            return -1;
        }
        for (uint32_t j = 0; j < p->count; j++) {
            PyList_SET_ITEM(proto, j, Py_NewRef(Py_None));
        }
        p->op = OP_LIST_PROTO;
        p->proto = proto;
    }
    return 0;
}

static PyObject *
t_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *obj;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "Template() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "Template", 1, 1, &obj)) {
        return NULL;
    }
    PyObject *module = PyType_GetModule(type);
    if (module == NULL) {
        return NULL;
    }
    FcState *st = fc_get_state(module);
    TemplateObject *t = (TemplateObject *)type->tp_alloc(type, 0);
    if (t == NULL) {
        return NULL;
    }
    t->vectorcall = t_vectorcall;
    t->module = Py_NewRef(module);

    Builder b;
    PyObject *snap = NULL;
    int rc = b_build(&b, st, obj);
    if (rc == 0 && !(b.hflags & FCD_HF_REPLAYABLE)) {
        /* Needs Python code (or cannot be replayed in one pass): keep a
         * private deep copy, and describe that. */
        builder_free(&b);
        snap = fc_deepcopy(st, obj, NULL);
        rc = snap == NULL ? -1 : b_build(&b, st, snap);
    }
    if (rc == 0) {
        t->descriptor = b_serialize(&b);
        rc = t->descriptor == NULL ? -1 : t_compile(t, &b);
    }
    builder_free(&b);
    if (rc < 0) {
        Py_XDECREF(snap);
        Py_DECREF(t);
        return NULL;
    }
    if (!(t->hflags & FCD_HF_REPLAYABLE)) {
        t->snapshot = snap;       /* owned */
    }
    else {
        Py_XDECREF(snap);
    }
    return (PyObject *)t;     /* tp_alloc tracked it */
}

static int
t_traverse(TemplateObject *t, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(t));
    Py_VISIT(t->module);
    Py_VISIT(t->leaves);
    Py_VISIT(t->snapshot);
    if (t->nodes != NULL) {
        for (Py_ssize_t i = 0; i < t->nnodes; i++) {
            Py_VISIT(t->nodes[i].proto);
        }
    }
    return 0;
}

static int
t_clear(TemplateObject *t)
{
    if (t->nodes != NULL) {
        for (Py_ssize_t i = 0; i < t->nnodes; i++) {
            Py_CLEAR(t->nodes[i].proto);
        }
    }
    Py_CLEAR(t->leaves);
    t->leafv = NULL;
    Py_CLEAR(t->snapshot);
    Py_CLEAR(t->descriptor);
    Py_CLEAR(t->module);
    return 0;
}

static void
t_dealloc(TemplateObject *t)
{
    PyTypeObject *tp = Py_TYPE(t);
    PyObject_GC_UnTrack(t);
    (void)t_clear(t);
    if (t->nodes != NULL) {
        for (Py_ssize_t i = 0; i < t->nnodes; i++) {
            PyMem_Free(t->nodes[i].patch);
        }
    }
    PyMem_Free(t->nodes);
    PyMem_Free(t->refs);
    PyMem_Free(t->classes);
    tp->tp_free((PyObject *)t);
    Py_DECREF(tp);
}

PyDoc_STRVAR(t_replicate_doc,
"replicate($self, n, /)\n--\n\n"
"Return a list of n new copies.");

static PyObject *
t_replicate(TemplateObject *t, PyObject *arg)
{
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 0");
        return NULL;
    }
    /* the room for n items reserved at once (an n no memory can hold is a
     * MemoryError now, not after filling all there is), and appended to,
     * not PyList_New(n) filled in: a copy may run hooks, which may find
     * `out` through the collector (gc.get_objects()), and a list must not
     * show them NULL items */
    PyObject *out = fc_list_new_capacity(n);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *y = t_copy(t);
        if (y == NULL || fc_list_append_steal(out, y) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyObject *
t_get_descriptor(TemplateObject *t, void *closure)
{
    (void)closure;
    if (t->descriptor == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Template has been cleared");
        return NULL;
    }
    return Py_NewRef(t->descriptor);
}

static PyObject *
t_get_leaves(TemplateObject *t, void *closure)
{
    (void)closure;
    if (t->leaves == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Template has been cleared");
        return NULL;
    }
    return PyList_AsTuple(t->leaves);
}

static PyObject *
t_get_replayable(TemplateObject *t, void *closure)
{
    (void)closure;
    return PyBool_FromLong(t->snapshot == NULL && (t->hflags & FCD_HF_REPLAYABLE));
}

/* Private, for the tests: the deep copy of obj that a Template which needs
 * Python code copies on each call (None when it replays natively).  The
 * oracle for such a call is copy.deepcopy of this object: a copy of a copy
 * made by the stdlib alone can pair its set elements differently.  A new
 * reference to the Template's own object; changing it changes later calls. */
static PyObject *
t_get_snapshot(TemplateObject *t, void *closure)
{
    (void)closure;
    return Py_NewRef(t->snapshot != NULL ? t->snapshot : Py_None);
}

static PyObject *
t_get_nodes(TemplateObject *t, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(t->nnodes);
}

static PyObject *
t_repr(TemplateObject *t)
{
    return PyUnicode_FromFormat("<fastcopy.Template: %zd nodes, %zd leaves, %s>",
                                t->nnodes,
                                t->leaves ? PyList_GET_SIZE(t->leaves) : (Py_ssize_t)0,
                                (t->snapshot == NULL && (t->hflags & FCD_HF_REPLAYABLE))
                                    ? "native replay" : "replay through deepcopy");
}

static PyMethodDef t_methods[] = {
    {"replicate", (PyCFunction)t_replicate, METH_O, t_replicate_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef t_getset[] = {
    {"descriptor", (getter)t_get_descriptor, NULL,
     "The descriptor of the snapshot (bytes, docs/descriptor.md).", NULL},
    {"leaves", (getter)t_get_leaves, NULL,
     "The objects the descriptor's leaf references point to (a tuple).", NULL},
    {"replayable", (getter)t_get_replayable, NULL,
     "True when a call rebuilds the copy from the descriptor without running\n"
     "Python code; False when it deep-copies a private snapshot instead.", NULL},
    {"nodes", (getter)t_get_nodes, NULL, "Number of node records.", NULL},
    {"_snapshot", (getter)t_get_snapshot, NULL,
     "Private (tests): the object a non-replayable Template deep-copies, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef t_members[] = {
    {"__vectorcalloffset__", FC_T_PYSSIZET, offsetof(TemplateObject, vectorcall), FC_READONLY_FLAG, NULL},
    {NULL, 0, 0, 0, NULL},
};

PyDoc_STRVAR(t_doc,
"Template(obj, /)\n--\n\n"
"A snapshot of obj that makes deep copies fast.\n\n"
"Template(obj) describes obj's object graph once (see\n"
"docs/descriptor.md); each call template() returns a new deep copy of the\n"
"object as it was when the Template was built, isomorphic to what\n"
"copy.deepcopy would have returned then.  Later changes to obj are not\n"
"seen.  Graphs of builtin containers and plain instances are rebuilt\n"
"straight from the descriptor; graphs that need Python code (__deepcopy__\n"
"hooks, reducers) are copied from a private snapshot with deepcopy.");

static PyType_Slot t_slots[] = {
    {Py_tp_new, t_new},
    {Py_tp_dealloc, t_dealloc},
    {Py_tp_traverse, t_traverse},
    {Py_tp_clear, t_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_repr, t_repr},
    {Py_tp_methods, t_methods},
    {Py_tp_getset, t_getset},
    {Py_tp_members, t_members},
    {Py_tp_doc, (void *)t_doc},
    {0, NULL},
};

static PyType_Spec t_spec = {
    .name = "fastcopy.Template",
    .basicsize = sizeof(TemplateObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = t_slots,
};

int
fc_template_init_type(PyObject *m, FcState *st)
{
    st->template_type = PyType_FromModuleAndSpec(m, &t_spec, NULL);
    if (st->template_type == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "Template", st->template_type);
}
