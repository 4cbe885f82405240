/*
 * fw_py_context: the value of a context variable in another thread's contextvars.Context, read
 * without the GIL (the tags of flamewatch.tag and of asyncio tasks live there).
 */
#include "pyversion/fw_py_internal.h"

/* ---- context variables ------------------------------------------------------------------ */

/* A thread's current contextvars.Context is tstate->context (3.9-3.15); its variables live in a
 * HAMT (Python/hamt.c), an immutable trie keyed by 5-bit slices of a 32-bit hash. The node
 * layouts are private to hamt.c (3.12+ headers declare the bitmap node, checked below) and have
 * not changed since 3.7, so they are mirrored here. The walk is the one hamt_node_find() does,
 * done on copies: bitmap nodes hold key/value pairs, or (key NULL) a child node one level down;
 * array nodes hold 32 children; collision nodes hold the pairs of keys whose hashes are equal.
 * Node kinds are told apart by type pointers recorded with the GIL in fw_py_context_init(),
 * except the collision node, which cannot be built on purpose: it is recognised lazily by its
 * type name. Keys are ContextVars, compared by identity as hamt.c does for them. */
typedef struct {
    PyObject_VAR_HEAD
    uint32_t b_bitmap;
    PyObject *b_array[1];
} fw_hamt_bitmap;

typedef struct {
    PyObject_HEAD
    PyObject *a_array[32];
    Py_ssize_t a_count;
} fw_hamt_array;

typedef struct {
    PyObject_VAR_HEAD
    int32_t c_hash;
    PyObject *c_array[1];
} fw_hamt_collision;

#if PY_VERSION_HEX >= 0x030C0000
_Static_assert(offsetof(fw_hamt_bitmap, b_bitmap) == offsetof(PyHamtNode_Bitmap, b_bitmap),
               "hamt bitmap node layout");
_Static_assert(offsetof(fw_hamt_bitmap, b_array) == offsetof(PyHamtNode_Bitmap, b_array),
               "hamt bitmap node layout");
#endif

#define FW_HAMT_MAX_COLLISION 64   /* pairs; hamt.c never builds big ones, a torn read might */

static uintptr_t fw_ctx_type, fw_hamt_type, fw_hamt_bitmap_type, fw_hamt_array_type;
static uintptr_t fw_hamt_collision_type; /* __atomic builtins: written by the sampler */

bool fw_py_context_init(void) {
    if (fw_hamt_array_type != 0) {
        return true;
    }
    PyObject *ctx = PyContext_New();
    if (ctx == NULL) {
        PyErr_Clear();
        return false;
    }
    /* Enough variables at one level turn the root bitmap node into an array node. */
    bool ok = PyContext_Enter(ctx) == 0;
    fw_ctx_type = (uintptr_t)Py_TYPE(ctx);
    fw_hamt_type = (uintptr_t)Py_TYPE(((PyContext *)ctx)->ctx_vars);
    fw_hamt_bitmap_type = (uintptr_t)Py_TYPE(((PyContext *)ctx)->ctx_vars->h_root);
    for (int i = 0; ok && i < 64; i++) {
        PyObject *var = PyContextVar_New("flamewatch_probe", NULL);
        PyObject *tok = var ? PyContextVar_Set(var, Py_None) : NULL;
        ok = tok != NULL;
        Py_XDECREF(tok);
        Py_XDECREF(var);
    }
    if (PyContext_Exit(ctx) != 0) {
        ok = false;
    }
    uintptr_t root = (uintptr_t)Py_TYPE(((PyContext *)ctx)->ctx_vars->h_root);
    if (ok && root != fw_hamt_bitmap_type) {
        fw_hamt_array_type = root;
    }
    Py_DECREF(ctx);
    PyErr_Clear();
    return fw_hamt_array_type != 0;
}

/* hamt.c's hamt_hash(): the object hash folded to 32 bits, never -1. */
static int32_t fw_hamt_hash(int64_t h) {
    int32_t x = (int32_t)((uint64_t)h & 0xffffffffu) ^ (int32_t)((uint64_t)h >> 32);
    return x == -1 ? -2 : x;
}

static bool fw_hamt_is_collision(uintptr_t type) {
    uintptr_t known = __atomic_load_n(&fw_hamt_collision_type, __ATOMIC_RELAXED);
    if (known != 0) {
        return type == known;
    }
    char name[32];
    uintptr_t name_ptr = 0;
    if (!fw_py_read_ptr(type + offsetof(PyTypeObject, tp_name), &name_ptr) ||
        !fw_py_read_cstr(name_ptr, name, sizeof name) || strcmp(name, "hamt_collision_node") != 0) {
        return false;
    }
    __atomic_store_n(&fw_hamt_collision_type, type, __ATOMIC_RELAXED);
    return true;
}

/* One collision node: a linear search of its key/value pairs. */
static int fw_hamt_find_collision(uintptr_t node, uintptr_t key, uintptr_t *value) {
    fw_hamt_collision head;
    uintptr_t pairs[2 * FW_HAMT_MAX_COLLISION];
    if (!fw_memread(&head, node, offsetof(fw_hamt_collision, c_array))) {
        return -1;
    }
    Py_ssize_t n = Py_SIZE(&head);
    if (n < 0 || n > 2L * FW_HAMT_MAX_COLLISION || n % 2 != 0 ||
        !fw_memread(pairs, node + offsetof(fw_hamt_collision, c_array), (size_t)n * sizeof(uintptr_t))) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i += 2) {
        if (pairs[i] == key) {
            *value = pairs[i + 1];
            return 1;
        }
    }
    return 0;
}

int fw_py_read_context_value(uintptr_t context, uintptr_t key, int64_t key_hash, uintptr_t *value) {
    PyContext ctx;
    PyHamtObject hamt;
    if (context == 0 || fw_hamt_array_type == 0) {
        return 0; /* the thread never used contextvars, or no init: nothing set */
    }
    if (!fw_memread(&ctx, context, sizeof ctx) || (uintptr_t)Py_TYPE(&ctx) != fw_ctx_type ||
        !fw_memread(&hamt, (uintptr_t)ctx.ctx_vars, sizeof hamt) ||
        (uintptr_t)Py_TYPE(&hamt) != fw_hamt_type) {
        return -1;
    }
    uint32_t hash = (uint32_t)fw_hamt_hash(key_hash);
    uintptr_t node = (uintptr_t)hamt.h_root;
    for (uint32_t shift = 0; shift < 35 && node != 0; shift += 5) {
        uint32_t idx = (hash >> shift) & 0x1fu;
        uintptr_t type = fw_py_type_of(node);
        if (type == fw_hamt_array_type) {
            if (!fw_py_read_ptr(node + offsetof(fw_hamt_array, a_array) + idx * sizeof(uintptr_t), &node)) {
                return -1;
            }
            continue;
        }
        if (type != fw_hamt_bitmap_type) {
            return fw_hamt_is_collision(type) ? fw_hamt_find_collision(node, key, value) : -1;
        }
        fw_hamt_bitmap head;
        if (!fw_memread(&head, node, offsetof(fw_hamt_bitmap, b_array))) {
            return -1;
        }
        uint32_t bit = 1u << idx;
        if ((head.b_bitmap & bit) == 0) {
            return 0;
        }
        Py_ssize_t pos = 2 * (Py_ssize_t)__builtin_popcount(head.b_bitmap & (bit - 1u));
        uintptr_t pair[2];
        if (pos + 1 >= Py_SIZE(&head) ||
            !fw_memread(pair, node + offsetof(fw_hamt_bitmap, b_array) + (size_t)pos * sizeof(uintptr_t),
                        sizeof pair)) {
            return -1;
        }
        if (pair[0] == 0) {
            node = pair[1]; /* a sub-node one level down */
            continue;
        }
        if (pair[0] != key) {
            return 0;
        }
        *value = pair[1];
        return 1;
    }
    return node == 0 ? 0 : -1;
}
