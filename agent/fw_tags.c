/*
 * fw_tags: dynamic tags that follow threads and asyncio tasks.
 *
 * The problem. `with flamewatch.tag(endpoint="/checkout"):` must label exactly the samples taken
 * inside the block, in the thread or asyncio task that runs it. Two tasks interleave on one
 * thread, so "the thread's current tags" is not enough: what identifies the running task is the
 * contextvars.Context that asyncio enters before each step of a task (tstate->context). The
 * Python layer therefore keeps the current tags in a ContextVar, and the sampler reads that
 * variable in whatever context the sampled thread has entered at the instant of the sample.
 *
 * Why a C object with an id. The sampler runs without the GIL and may only copy memory
 * (fw_memread); it cannot hash strings, compare dicts or take references. So a block entry (with
 * the GIL) interns its full tag set (the enclosing block's pairs plus its own, sorted) into a
 * table of immutable sets and puts a TagSet object carrying the set's 32-bit id into the
 * ContextVar. The sampler finds the variable's value in the context's HAMT
 * (fw_py_read_context_value, the one version-specific piece, in fw_pyversion.c), checks that its
 * ob_type is our TagSet type (anything else, or a torn read, means "no tags"), reads the id and
 * makes it part of the aggregation key next to the thread slot and the stack. The worker turns
 * the id back into labels when it builds a profile.
 *
 * Lifetime. Published sets are never changed or freed (and the TagSet objects are kept in the
 * intern dict), so an id read by the sampler always names the same pairs, and a TagSet the
 * sampler reads is alive even if the program dropped its context: at worst a stale read yields
 * a valid but outdated id. The table is bounded (FW_TAGSETS_MAX); once full, new combinations
 * run untagged and one warning says so. It survives fork (the child inherits the same ids) and
 * agent restarts, and does not depend on the agent running: tag() costs the same either way.
 *
 * Publication is append-only: a writer (holding the GIL) fills an entry, then stores the count
 * with release order; readers load the count with acquire order and only look below it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_tags.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fw_base.h"
#include "fw_memread.h"
#include "fw_pyversion.h"

typedef struct {
    size_t n;
    char *key[FW_TAGSET_PAIRS_MAX];
    char *value[FW_TAGSET_PAIRS_MAX];
} fw_tagset_entry;

typedef struct {
    PyObject_HEAD
    uint32_t id;       /* read by the sampler through fw_memread */
    PyObject *items;   /* tuple of (key, value) str pairs, sorted */
} fw_tagset_obj;

static fw_tagset_entry *fw_sets[FW_TAGSETS_MAX];
static atomic_uint fw_nsets;
static PyObject *fw_intern;          /* items tuple -> TagSet; GIL */
static bool fw_full_warned;
static atomic_uintptr_t fw_var;      /* the ContextVar's address, 0 until registered */
static atomic_int_fast64_t fw_var_hash;

static PyTypeObject fw_tagset_type;

/* ---- the sampler's side (no GIL) ---- */

uint32_t fw_tags_of_context(uintptr_t context)
{
    uintptr_t var = atomic_load_explicit(&fw_var, memory_order_acquire);
    uintptr_t value = 0, type = 0;
    uint32_t id = 0;
    if (var == 0 || context == 0)
        return 0;
    if (fw_py_read_context_value(context, var, (int64_t)atomic_load(&fw_var_hash), &value) != 1)
        return 0;
    if (!fw_memread(&type, fw_py_type_field(value), sizeof type) ||
        type != (uintptr_t)&fw_tagset_type ||
        !fw_memread(&id, value + offsetof(fw_tagset_obj, id), sizeof id))
        return 0;
    return id <= atomic_load_explicit(&fw_nsets, memory_order_acquire) ? id : 0;
}

bool fw_tags_in_use(void)
{
    return atomic_load_explicit(&fw_var, memory_order_acquire) != 0;
}

bool fw_tags_get(uint32_t id, fw_tagset_view *out)
{
    if (id == 0 || id > atomic_load_explicit(&fw_nsets, memory_order_acquire))
        return false;
    const fw_tagset_entry *e = fw_sets[id - 1];
    out->n = e->n;
    for (size_t i = 0; i < e->n; i++) {
        out->key[i] = e->key[i];
        out->value[i] = e->value[i];
    }
    return true;
}

/* ---- the Python type ---- */

static void fw_tagset_dealloc(PyObject *self)
{
    Py_XDECREF(((fw_tagset_obj *)self)->items);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *fw_tagset_get_id(PyObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(((fw_tagset_obj *)self)->id);
}

static PyObject *fw_tagset_get_items(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *items = ((fw_tagset_obj *)self)->items;
    Py_INCREF(items);
    return items;
}

static PyObject *fw_tagset_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<flamewatch TagSet %u %R>", ((fw_tagset_obj *)self)->id,
                                ((fw_tagset_obj *)self)->items);
}

static PyGetSetDef fw_tagset_getset[] = {
    {"id", fw_tagset_get_id, NULL, "the interned id (1..4096)", NULL},
    {"items", fw_tagset_get_items, NULL, "sorted tuple of (key, value) pairs", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject fw_tagset_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "flamewatch._agent.TagSet",
    .tp_basicsize = sizeof(fw_tagset_obj),
    .tp_dealloc = fw_tagset_dealloc,
    .tp_repr = fw_tagset_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An interned set of dynamic tags (made by flamewatch.tag()).",
    .tp_getset = fw_tagset_getset,
};

/* ---- interning (GIL held) ---- */

static void fw_entry_free(fw_tagset_entry *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->key[i]);
        free(e->value[i]);
    }
    free(e);
}

/* Copies a validated items tuple into a new entry; NULL with an exception. */
static fw_tagset_entry *fw_entry_from_items(PyObject *items)
{
    Py_ssize_t n = PyTuple_GET_SIZE(items);
    fw_tagset_entry *e = calloc(1, sizeof *e);
    if (!e)
        return (fw_tagset_entry *)PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(items, i);
        const char *k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 0));
        const char *v = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 1));
        if (!k || !v) {
            fw_entry_free(e);
            return NULL;
        }
        e->key[i] = strdup(k);
        e->value[i] = strdup(v);
        e->n = (size_t)i + 1;
        if (!e->key[i] || !e->value[i]) {
            fw_entry_free(e);
            return (fw_tagset_entry *)PyErr_NoMemory();
        }
    }
    return e;
}

/* A tuple of 1..16 (str, str) pairs with keys and values of sane sizes. */
static bool fw_items_valid(PyObject *items)
{
    if (!PyTuple_Check(items) || PyTuple_GET_SIZE(items) < 1 ||
        PyTuple_GET_SIZE(items) > FW_TAGSET_PAIRS_MAX)
        return false;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        PyObject *p = PyTuple_GET_ITEM(items, i);
        if (!PyTuple_Check(p) || PyTuple_GET_SIZE(p) != 2 || !PyUnicode_Check(PyTuple_GET_ITEM(p, 0)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(p, 1)) ||
            PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(p, 0)) > FW_TAG_KEY_MAX ||
            PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(p, 1)) > FW_TAG_VALUE_MAX)
            return false;
    }
    return true;
}

/* tagset(items) -> TagSet, or None when the table is full. */
static PyObject *fw_mod_tagset(PyObject *self, PyObject *items)
{
    (void)self;
    if (!fw_items_valid(items)) {
        PyErr_SetString(PyExc_ValueError, "tagset() takes a tuple of 1 to 16 (str, str) pairs");
        return NULL;
    }
    if (!fw_intern && !(fw_intern = PyDict_New()))
        return NULL;
    PyObject *found = PyDict_GetItemWithError(fw_intern, items);
    if (found) {
        Py_INCREF(found);
        return found;
    }
    if (PyErr_Occurred())
        return NULL;
    unsigned n = atomic_load(&fw_nsets);
    if (n >= FW_TAGSETS_MAX) {
        if (!fw_full_warned) {
            fw_full_warned = true;
            fw_log(FW_LOG_WARNING, "more than %d distinct tag sets: new ones are not recorded",
                   FW_TAGSETS_MAX);
        }
        Py_RETURN_NONE;
    }
    fw_tagset_entry *e = fw_entry_from_items(items);
    if (!e)
        return NULL;
    fw_tagset_obj *obj = PyObject_New(fw_tagset_obj, &fw_tagset_type);
    if (!obj) {
        fw_entry_free(e);
        return NULL;
    }
    obj->id = n + 1;
    Py_INCREF(items);
    obj->items = items;
    if (PyDict_SetItem(fw_intern, items, (PyObject *)obj) != 0) {
        Py_DECREF(obj);
        fw_entry_free(e);
        return NULL;
    }
    fw_sets[n] = e;
    atomic_store_explicit(&fw_nsets, n + 1, memory_order_release);
    fw_log(FW_LOG_DEBUG, "tag set %u interned (%zu pair(s))", n + 1, e->n);
    return (PyObject *)obj;
}

/* set_tag_var(var): the ContextVar the sampler looks in. Called once by flamewatch/__init__. */
static PyObject *fw_mod_set_tag_var(PyObject *self, PyObject *var)
{
    (void)self;
    if (!PyContextVar_CheckExact(var)) {
        PyErr_SetString(PyExc_TypeError, "set_tag_var() takes a contextvars.ContextVar");
        return NULL;
    }
    Py_hash_t h = PyObject_Hash(var);
    if (h == -1)
        return NULL;
    if (!fw_py_context_init()) {
        fw_log(FW_LOG_WARNING, "cannot read contexts on this interpreter: dynamic tags are not recorded");
        Py_RETURN_FALSE;
    }
    Py_INCREF(var);   /* kept for the life of the process: the sampler holds its address */
    atomic_store(&fw_var_hash, (int_fast64_t)h);
    atomic_store_explicit(&fw_var, (uintptr_t)var, memory_order_release);
    Py_RETURN_TRUE;
}

/* _current_tag_id(): what the sampler would read for the calling thread right now (tests). */
static PyObject *fw_mod_current_tag_id(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    fw_py_thread t;
    if (!fw_py_init() || !fw_py_read_thread((uintptr_t)PyThreadState_Get(), &t)) {
        PyErr_SetString(PyExc_RuntimeError, "cannot read this thread's state");
        return NULL;
    }
    return PyLong_FromUnsignedLong(fw_tags_of_context(t.context));
}

static PyMethodDef fw_tags_methods[] = {
    {"tagset", fw_mod_tagset, METH_O, "tagset(items) -> the interned TagSet, or None when full."},
    {"set_tag_var", fw_mod_set_tag_var, METH_O, "Registers the ContextVar holding the current TagSet."},
    {"_current_tag_id", fw_mod_current_tag_id, METH_NOARGS,
     "The tag-set id the sampler reads for the calling thread (tests)."},
    {NULL, NULL, 0, NULL},
};

int fw_tags_add_to_module(PyObject *module)
{
    if (PyType_Ready(&fw_tagset_type) < 0)
        return -1;
    Py_INCREF(&fw_tagset_type);
    if (PyModule_AddObject(module, "TagSet", (PyObject *)&fw_tagset_type) < 0) {
        Py_DECREF(&fw_tagset_type);
        return -1;
    }
    return PyModule_AddFunctions(module, fw_tags_methods);
}
