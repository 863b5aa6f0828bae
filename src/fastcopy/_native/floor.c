/* floor.c -- the allocation floor: the physical reference that
 * `python -m fastcopy.bench run` prints next to fastcopy.
 *
 * A deep copy of a graph must at least allocate every container of the copy
 * and store every element reference in it.  _alloc_floor() does only that:
 * the benchmark walks the graph once in Python, outside the timed loop, and
 * lists its containers; the timed call then makes one exactly-sized shallow
 * copy of each with the cheapest C API call for the type.  No traversal, no
 * memo, no type dispatch beyond one test per container, no deep copy of the
 * elements, and nothing for non-container objects (class instances are
 * represented by their __dict__ only).  It is a floor, not a copy.
 */
#include "floor.h"
#include "state.h"

/* A new tuple of the same size holding the same items.  PyTuple_GetSlice()
 * is not used: for a whole exact tuple it returns the tuple itself, which
 * would allocate nothing. */
static PyObject *
floor_tuple(PyObject *t)
{
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    PyObject *r = PyTuple_New(n);
    if (r == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(t, i);
        Py_INCREF(item);
        PyTuple_SET_ITEM(r, i, item);
    }
    return r;
}

/* A shallow copy of one container: new reference, or NULL with an exception. */
static PyObject *
floor_one(PyObject *c)
{
    if (PyList_Check(c)) {
        return PyList_GetSlice(c, 0, PyList_GET_SIZE(c));
    }
    if (PyDict_Check(c)) {
        return PyDict_Copy(c);
    }
    if (PyTuple_Check(c)) {
        return floor_tuple(c);
    }
    if (PyFrozenSet_Check(c)) {
        return PyFrozenSet_New(c);
    }
    if (PySet_Check(c)) {
        return PySet_New(c);
    }
    if (PyByteArray_Check(c)) {
        return fc_bytearray_copy(c);
    }
    PyErr_Format(PyExc_TypeError,
                 "_alloc_floor: unsupported container type %.200s "
                 "(list, dict, tuple, set, frozenset or bytearray expected)",
                 Py_TYPE(c)->tp_name);
    return NULL;
}

PyObject *
fc_alloc_floor(PyObject *module, PyObject *containers)
{
    if (!PyList_Check(containers)) {
        PyErr_Format(PyExc_TypeError,
                     "_alloc_floor() argument must be a list, not %.200s",
                     Py_TYPE(containers)->tp_name);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(containers);
    PyObject *result = PyList_New(n);
    if (result == NULL) {
        return NULL;
    }
    /* An allocation may run the garbage collector, and so finalizers that
     * could change `containers`: hold a strong reference to the item being
     * copied and re-check the length on every step.  Collections are
     * held off while the loop runs (no Python code runs in it), as the
     * engine and Template replay hold them off (deepcopy.c), so that the
     * floor is not charged for collections they do not pay either (before
     * 3.12 one would run inside the allocations below, from 3.12 right
     * after the call returns), and 3.10/3.11's PyDict_Copy and list
     * slicing never see a container change under them. */
    int gc_held = fc_gc_hold_loop(&fc_get_state(module)->gc_owed, n);
    if (gc_held < 0) {
        Py_DECREF(result);
        return NULL;
    }
    Py_ssize_t i = 0;
    int failed = 0;
    for (; i < n && i < PyList_GET_SIZE(containers); i++) {
#ifdef Py_GIL_DISABLED
        PyObject *c = PyList_GetItemRef(containers, i);   /* strong, or gone */
        if (c == NULL) {
            PyErr_Clear();
            break;
        }
#else
        PyObject *c = PyList_GET_ITEM(containers, i);
        Py_INCREF(c);
#endif
        PyObject *copy = floor_one(c);
        Py_DECREF(c);
        if (copy == NULL) {
            failed = 1;
            break;
        }
        PyList_SET_ITEM(result, i, copy);
    }
    fc_gc_release_loop(gc_held);
    if (failed) {
        Py_DECREF(result); /* unfilled slots are NULL: list_dealloc skips them */
        return NULL;
    }
    if (i < n && PyList_SetSlice(result, i, n, NULL) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}
