/* floor.h -- the allocation floor used by `python -m fastcopy.bench`. */
#ifndef FASTCOPY_FLOOR_H
#define FASTCOPY_FLOOR_H

#include "compat.h"

/* _alloc_floor(containers: list) -> list: a new list holding, for each item
 * of `containers`, a new exactly-sized container of the item's base type
 * (list, dict, tuple, set, frozenset or bytearray) filled with the same
 * elements (a shallow copy).  TypeError for a non-list argument or an item
 * of another type.  New reference or NULL. */
PyObject *fc_alloc_floor(PyObject *module, PyObject *containers);

#define FC_ALLOC_FLOOR_DOC                                                   \
    "_alloc_floor(containers, /)\n--\n\n"                                    \
    "Benchmark helper (fastcopy.bench): shallow-copy each container of the\n" \
    "list `containers` (list, dict, tuple, set, frozenset, bytearray) into a\n" \
    "new exactly-sized container and return the list of copies.  The time\n"  \
    "this takes is the cost of only allocating and filling a graph's\n"       \
    "containers: a floor under any deep copy of that graph."

#endif
