/*
 * module_debug: Python-visible test hooks for the stack walker.
 *
 * Design. The hooks exercise exactly the code the sampler runs: thread states, frames, code
 * objects and line tables are read through fw_pyversion and fw_stack only, never through
 * CPython's frame API, so a test that compares their output with sys._current_frames() checks
 * the walker itself. They are called with the GIL held, which parks every other Python thread
 * at a bytecode boundary; the results are therefore deterministic, which the sampler's are not.
 *
 * One resolver is shared by the hooks and created on first use (the GIL serialises the
 * callers, which satisfies fw_stack's one-thread-at-a-time rule). fw_py_init() is run on
 * first use too, so the hooks work whether or not the module's init has called it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <time.h>

#include "fw_debug.h"
#include "fw_pyversion.h"
#include "fw_stack.h"

static fw_stack_resolver *fw_debug_resolver;

/* The shared resolver, or NULL with an exception set. */
static fw_stack_resolver *fw_debug_get_resolver(void) {
    if (fw_debug_resolver == NULL) {
        if (!fw_py_init()) {
            PyErr_SetString(PyExc_RuntimeError, "flamewatch: this interpreter cannot be sampled");
            return NULL;
        }
        fw_debug_resolver = fw_stack_resolver_new(8192, 65536);
        if (fw_debug_resolver == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    return fw_debug_resolver;
}

/* [(qualname, filename, line), ...] for one stack, or NULL with an exception set. */
static PyObject *fw_debug_stack_list(fw_stack_resolver *r, const fw_frame *frames, int depth) {
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    for (int i = 0; i < depth; i++) {
        const fw_function_info *fn = fw_stack_function(r, frames[i].function);
        PyObject *item;
        if (fn == NULL) {
            item = Py_BuildValue("(ssO)", "[invalid id]", "", Py_None);
        } else if (frames[i].line < 0) {
            item = Py_BuildValue("(ssO)", fn->qualname, fn->filename, Py_None);
        } else {
            item = Py_BuildValue("(ssi)", fn->qualname, fn->filename, (int)frames[i].line);
        }
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    return list;
}

static PyObject *fw_debug_walk_threads(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    fw_stack_resolver *r = fw_debug_get_resolver();
    if (r == NULL) {
        return NULL;
    }
    fw_frame *frames = PyMem_Malloc(sizeof(fw_frame) * FW_STACK_MAX_DEPTH);
    PyObject *result = PyDict_New();
    if (frames == NULL || result == NULL) {
        PyMem_Free(frames);
        Py_XDECREF(result);
        return PyErr_NoMemory();
    }
    uintptr_t t = fw_py_thread_head();
    for (int guard = 0; t != 0 && guard < 100000; guard++) {
        fw_py_thread th;
        if (!fw_py_read_thread(t, &th)) {
            PyErr_SetString(PyExc_RuntimeError, "flamewatch: unreadable thread state");
            goto fail;
        }
        int depth = fw_stack_walk(r, th.top_frame, frames, FW_STACK_MAX_DEPTH);
        PyObject *list = depth < 0 ? PyList_New(0) : fw_debug_stack_list(r, frames, depth);
        PyObject *key = PyLong_FromUnsignedLongLong((unsigned long long)th.pthread_id);
        if (list == NULL || key == NULL || PyDict_SetItem(result, key, list) < 0) {
            Py_XDECREF(list);
            Py_XDECREF(key);
            goto fail;
        }
        Py_DECREF(list);
        Py_DECREF(key);
        t = th.next;
    }
    PyMem_Free(frames);
    return result;
fail:
    PyMem_Free(frames);
    Py_DECREF(result);
    return NULL;
}

static PyObject *fw_debug_addr2line(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *code;
    int offset;
    if (!PyArg_ParseTuple(args, "O!i:_addr2line", &PyCode_Type, &code, &offset)) {
        return NULL;
    }
    if (fw_debug_get_resolver() == NULL) {
        return NULL;
    }
    fw_py_code c;
    if (!fw_py_read_code((uintptr_t)code, &c)) {
        PyErr_SetString(PyExc_RuntimeError, "flamewatch: could not read the code object");
        return NULL;
    }
    int line = fw_py_addr2line(c.linetable, c.linetable_len, c.firstlineno, offset);
    fw_py_code_clear(&c);
    if (line < 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(line);
}

static PyObject *fw_debug_walk_cost(PyObject *self, PyObject *args) {
    (void)self;
    int n;
    if (!PyArg_ParseTuple(args, "i:_walk_cost", &n)) {
        return NULL;
    }
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 1");
        return NULL;
    }
    fw_stack_resolver *r = fw_debug_get_resolver();
    if (r == NULL) {
        return NULL;
    }
    fw_py_thread th;
    if (!fw_py_read_thread((uintptr_t)PyThreadState_Get(), &th)) {
        PyErr_SetString(PyExc_RuntimeError, "flamewatch: unreadable thread state");
        return NULL;
    }
    fw_frame *frames = PyMem_Malloc(sizeof(fw_frame) * FW_STACK_MAX_DEPTH);
    if (frames == NULL) {
        return PyErr_NoMemory();
    }
    /* One warm-up walk fills the code cache: the sampler's steady state is all hits. */
    int depth = fw_stack_walk(r, th.top_frame, frames, FW_STACK_MAX_DEPTH);
    struct timespec t0;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long long frames_walked = 0;
    for (int i = 0; i < n && depth > 0; i++) {
        int d = fw_stack_walk(r, th.top_frame, frames, FW_STACK_MAX_DEPTH);
        frames_walked += d > 0 ? d : 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    PyMem_Free(frames);
    if (frames_walked == 0) {
        PyErr_SetString(PyExc_RuntimeError, "flamewatch: could not walk the current stack");
        return NULL;
    }
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    return PyFloat_FromDouble(ns / (double)frames_walked);
}

/* A copy of the running interpreter's _Py_DebugOffsets (3.13+), or None. */
static PyObject *fw_debug_offsets_bytes(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    size_t len = 0;
    const void *table = fw_py_debug_offsets(&len);
    if (table == NULL) {
        Py_RETURN_NONE;
    }
    return PyBytes_FromStringAndSize(table, (Py_ssize_t)len);
}

/* What fw_py_init would say of a _Py_DebugOffsets table: None if usable, else the reason. */
static PyObject *fw_debug_check_offsets(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) {
        return NULL;
    }
    char err[256] = "";
    int rc = fw_py_check_debug_offsets(buf.buf, (size_t)buf.len, err, sizeof err);
    PyBuffer_Release(&buf);
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromString(err);
}

static PyMethodDef fw_debug_methods[] = {
    {"_debug_offsets", fw_debug_offsets_bytes, METH_NOARGS,
     "_debug_offsets() -> bytes of the interpreter's _Py_DebugOffsets (3.13+), or None."},
    {"_check_debug_offsets", fw_debug_check_offsets, METH_VARARGS,
     "_check_debug_offsets(table) -> None if the agent can use it, else the one-line reason."},
    {"_walk_threads", fw_debug_walk_threads, METH_NOARGS,
     "_walk_threads() -> {ident: [(qualname, filename, line), ...]}, innermost frame first."},
    {"_addr2line", fw_debug_addr2line, METH_VARARGS,
     "_addr2line(code, offset) -> line of the instruction at byte offset, or None."},
    {"_walk_cost", fw_debug_walk_cost, METH_VARARGS,
     "_walk_cost(n) -> average nanoseconds per frame over n walks of this thread's stack."},
    {NULL, NULL, 0, NULL},
};

int fw_debug_add_functions(PyObject *module) {
    return PyModule_AddFunctions(module, fw_debug_methods);
}
