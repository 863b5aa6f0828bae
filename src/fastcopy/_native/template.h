/* template.h -- descriptors of object graphs and Templates that replay them
 * (the design report's "descriptor-driven copy", in software).
 *
 * The binary layout of a descriptor is documented in docs/descriptor.md;
 * the constants below are that document's.
 */
#ifndef FASTCOPY_TEMPLATE_H
#define FASTCOPY_TEMPLATE_H

#include "state.h"

#define FCD_MAGIC "FCD1"
#define FCD_VERSION 1
#define FCD_HEADER_SIZE 32
#define FCD_NODE_SIZE 16

/* Node kinds (one byte in the node record). */
enum {
    FCD_LIST = 1,
    FCD_DICT = 2,
    FCD_TUPLE = 3,
    FCD_SET = 4,
    FCD_FROZENSET = 5,
    FCD_BYTEARRAY = 6,
    FCD_PLAIN = 7,   /* instance of a class on object's default protocol */
    FCD_PYTHON = 8   /* needs Python code to copy (hook or reduce) */
};

/* Node flags. */
#define FCD_NF_BACKREF 0x01   /* referenced from inside its own subtree */

/* Header flags. */
#define FCD_HF_REPLAYABLE 0x0001   /* replay needs no Python code */
#define FCD_HF_HAS_PYTHON 0x0002   /* some node is FCD_PYTHON */
#define FCD_HF_TUPLE_CYCLE 0x0004  /* a tuple/set/frozenset is reached again
                                      while its own items are described */
#define FCD_HF_SHARED_STATE 0x0008 /* an instance's __dict__ is also
                                      referenced from elsewhere */
#define FCD_HF_OVERRIDES 0x0010    /* copy's dispatch tables (or 3.14's atomic types) were modified
                                      when the descriptor was built */

/* _fastcopy._describe(obj) -> (bytes, leaves list). */
PyObject *fc_describe(FcState *st, PyObject *obj);

/* Create the Template type for module m and store it in st->template_type.
 * Returns 0 or -1. */
int fc_template_init_type(PyObject *m, FcState *st);

#endif
