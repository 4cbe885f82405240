/*
 * fw_names: thread names, from `threading` into the thread registry's slots.
 *
 * The sampler knows threads by their thread state; `threading` knows their names.
 * The worker asks for them (fw_worker.c says when), and stop() once more with the GIL. A refresh
 * runs in three steps so that the GIL is never awaited while the agent mutex is held:
 *   1. under the mutex, list the slots to name as (slot, generation, pthread id): once to see
 *      whether the GIL is needed at all, and again once it is held, since a wait for it can
 *      last long enough for new threads to appear, which the flush after it would write unnamed;
 *   2. with the GIL and without the mutex, look each pthread id up in threading._active (and
 *      the ident of each thread in threading._limbo), reading `_name`: sys.modules is consulted,
 *      `threading` is never imported, and errors are cleared, never propagated;
 *   3. under the mutex, store each name found into its slot if the slot's generation has not
 *      changed in between (else the slot is now another thread).
 * A slot that `threading` does not list yet is asked for again 50 ms later, for up to 5 s: a new
 * thread exists (CPython 3.13 makes its state before it runs) well before `threading` lists it
 * when it waits for the GIL to run its own start-up, which on a busy machine can take a second,
 * and a thread that then lives less than a second would end unnamed (`threading` forgets a thread
 * when it ends). A few GIL takes a second for 5 s is the cost for a thread no refresh can name
 * (one made by _thread directly): it then gets a fallback name, "tid-<tid>", whose group is
 * "tid-*" (a later refresh still replaces it if a name appears).
 * A refresh that is not of all slots asks for the unnamed ones and those with the fallback: the
 * worker runs one before each flush, so that a thread named after its 5 s of looks (or after
 * the last renaming of all) is not written out as "tid-<tid>" while `threading` knows its name.
 *
 * Ended threads. The look-up waits for the GIL, and under contention (several threads computing
 * in Python) that wait can outlast a short thread: it ends, `threading` drops it from `_active`,
 * and its slot would be written out as "tid-<tid>". So a slot that died unnamed is still asked for
 * until the flush that recycles it, and the threads `threading` no longer lists are looked for in
 * `threading._dangling` (a weak set of every Thread object still referenced: a joined thread, a
 * pool's). A look-up matches on pthread id and, where both are known, on the kernel tid
 * (`Thread._native_id`): glibc hands an ended thread's stack, and so its pthread id, to the next
 * thread, which must not lend the ended one its name. Dead slots do not keep the 50 ms retries
 * going: a thread that ended unlisted does not become listed later.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_names.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fw_pyversion.h"

typedef struct {
    int32_t slot;
    uint32_t generation;
    uint64_t pthread_id;
    int64_t tid;          /* kernel tid, 0 if unknown */
    bool alive;
    bool found;
    char name[FW_THREAD_NAME_MAX];
} fw_name_req;

typedef struct {
    fw_name_req reqs[FW_THREADS_MAX];
    size_t n;
} fw_name_batch;

/* The requests of a refresh: large (one per slot), so allocated once per run, not on a stack;
 * only one refresh runs at a time (the worker's, or stop()'s after the worker is joined). */
static fw_name_batch *fw_names_buf;

int fw_names_init(void)
{
    assert(fw_names_buf == NULL);
    fw_names_buf = calloc(1, sizeof *fw_names_buf);
    return fw_names_buf ? 0 : ENOMEM;
}

void fw_names_release(void)
{
    free(fw_names_buf);
    fw_names_buf = NULL;
}

static void fw_names_collect(fw_agent *a, fw_name_batch *b, bool all)
{
    b->n = 0;
    pthread_mutex_lock(&a->lock);
    for (int32_t i = 0; a->threads && i < (int32_t)fw_threads_span(a->threads); i++) {
        const fw_thread_slot *s = fw_threads_slot(a->threads, i);
        bool unnamed = !s || !s->named || s->name_fallback;
        if (!s || (!s->alive && !unnamed) || (!all && !unnamed))
            continue;
        fw_name_req *r = &b->reqs[b->n++];
        r->slot = i;
        r->generation = s->generation;
        r->pthread_id = s->pthread_id;
        r->tid = s->tid;
        r->alive = s->alive;
        r->found = false;
        r->name[0] = '\0';
    }
    pthread_mutex_unlock(&a->lock);
}

static int fw_name_req_cmp(const void *x, const void *y)
{
    uint64_t a = ((const fw_name_req *)x)->pthread_id, b = ((const fw_name_req *)y)->pthread_id;
    return (a > b) - (a < b);
}

/* Copies a UTF-8 string, truncated on a character boundary. */
static void fw_copy_utf8(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* GIL held. `thread`'s kernel tid, 0 if it has none yet (set when the thread starts running). */
static int64_t fw_native_id_of(PyObject *thread)
{
    PyObject *obj = PyObject_GetAttrString(thread, "_native_id");
    long long v = (obj && PyLong_Check(obj)) ? PyLong_AsLongLong(obj) : 0;
    Py_XDECREF(obj);
    PyErr_Clear();
    return v > 0 ? (int64_t)v : 0;
}

/* True if request `r` may take the name of a thread with kernel tid `native_id`. A fork child's
 * one thread keeps the parent's `_native_id` (`threading` does not update it after a fork), and
 * its tid is then the child's pid: the process's first thread, whose pthread id no other thread
 * can reuse, so its pthread id alone is enough. */
static bool fw_name_req_matches(const fw_name_req *r, int64_t native_id, bool only_unfound)
{
    if (only_unfound && r->found)
        return false;
    return r->tid <= 0 || native_id <= 0 || r->tid == native_id || r->tid == (int64_t)getpid();
}

/* GIL held. Stores the name of `thread` into every request for `ident` that it matches. */
static void fw_names_store(fw_name_batch *b, uint64_t ident, PyObject *thread, bool only_unfound)
{
    fw_name_req key = {.pthread_id = ident};
    fw_name_req *r = bsearch(&key, b->reqs, b->n, sizeof *r, fw_name_req_cmp);
    if (!r)
        return;
    while (r > b->reqs && r[-1].pthread_id == ident)
        r--;
    int64_t native_id = fw_native_id_of(thread);
    PyObject *name = NULL;
    for (; r < b->reqs + b->n && r->pthread_id == ident; r++) {
        if (!fw_name_req_matches(r, native_id, only_unfound))
            continue;
        if (!name) {
            name = PyObject_GetAttrString(thread, "_name");
            if (!name || !PyUnicode_Check(name))
                break;
        }
        Py_ssize_t len = 0;
        const char *utf8 = PyUnicode_AsUTF8AndSize(name, &len);
        if (!utf8)
            break;
        fw_copy_utf8(r->name, sizeof r->name, utf8, (size_t)len);
        r->found = true;
    }
    Py_XDECREF(name);
    PyErr_Clear();
}

static bool fw_ident_of(PyObject *obj, uint64_t *out)
{
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* GIL held. The pthread id in `thread._ident`; false before the thread has run. */
static bool fw_thread_ident(PyObject *thread, uint64_t *ident)
{
    PyObject *obj = PyObject_GetAttrString(thread, "_ident");
    bool ok = obj && obj != Py_None && fw_ident_of(obj, ident);
    Py_XDECREF(obj);
    PyErr_Clear();
    return ok;
}

/* GIL held. `_active` maps ident -> Thread; `_limbo` maps Thread -> Thread (ident in `_ident`).
 * Items are copied to a list first, so a dict changed by another thread cannot bite us. */
static void fw_names_from_dict(fw_name_batch *b, PyObject *threading, const char *attr,
                               bool keyed_by_ident)
{
    PyObject *dict = PyObject_GetAttrString(threading, attr);
    PyObject *items = (dict && PyDict_Check(dict)) ? PyDict_Items(dict) : NULL;
    PyErr_Clear();
    for (Py_ssize_t i = 0; items && i < PyList_GET_SIZE(items); i++) {
        PyObject *pair = PyList_GET_ITEM(items, i);
        PyObject *key = PyTuple_GET_ITEM(pair, 0), *thread = PyTuple_GET_ITEM(pair, 1);
        uint64_t ident = 0;
        bool ok = keyed_by_ident ? fw_ident_of(key, &ident) : fw_thread_ident(thread, &ident);
        if (ok)
            fw_names_store(b, ident, thread, false);
    }
    Py_XDECREF(items);
    Py_XDECREF(dict);
}

/* GIL held. `_dangling` is a WeakSet; its `data` is a plain set of weak references, copied to a
 * list (set iteration runs no Python code) and called to get each Thread still alive as an
 * object. Only requests no live thread answered are filled: an ended thread never renames one
 * that `_active` named. */
static void fw_names_from_dangling(fw_name_batch *b, PyObject *threading)
{
    PyObject *weakset = PyObject_GetAttrString(threading, "_dangling");
    PyObject *refs = weakset ? PyObject_GetAttrString(weakset, "data") : NULL;
    PyObject *list = (refs && PyAnySet_Check(refs)) ? PySequence_List(refs) : NULL;
    PyErr_Clear();
    for (Py_ssize_t i = 0; list && i < PyList_GET_SIZE(list); i++) {
        PyObject *ref = PyList_GET_ITEM(list, i);
        PyObject *thread = PyWeakref_Check(ref) ? PyObject_CallNoArgs(ref) : NULL;
        uint64_t ident = 0;
        if (thread && thread != Py_None && fw_thread_ident(thread, &ident))
            fw_names_store(b, ident, thread, true);
        Py_XDECREF(thread);
        PyErr_Clear();
    }
    Py_XDECREF(list);
    Py_XDECREF(refs);
    Py_XDECREF(weakset);
}

static bool fw_names_all_found(const fw_name_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (!b->reqs[i].found)
            return false;
    return true;
}

static void fw_names_read_with_gil(fw_name_batch *b)
{
    qsort(b->reqs, b->n, sizeof b->reqs[0], fw_name_req_cmp);
    PyObject *modules = PyImport_GetModuleDict();   /* borrowed */
    PyObject *threading = modules ? PyDict_GetItemString(modules, "threading") : NULL;
    if (!threading)
        return;   /* never imported by the program: no names to find */
    Py_INCREF(threading);
    fw_names_from_dict(b, threading, "_active", true);
    fw_names_from_dict(b, threading, "_limbo", false);
    if (!fw_names_all_found(b))
        fw_names_from_dangling(b, threading);
    Py_DECREF(threading);
    PyErr_Clear();
}

/* Returns how many of the live slots asked for still have no name. */
static size_t fw_names_apply(fw_agent *a, const fw_name_batch *b)
{
    size_t unnamed = 0;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < b->n && a->threads; i++) {
        const fw_name_req *r = &b->reqs[i];
        fw_thread_slot *s = fw_threads_slot(a->threads, r->slot);
        if (!s || s->generation != r->generation)
            continue;
        if (r->found) {
            memcpy(s->name, r->name, sizeof s->name);
            s->named = true;
            s->name_fallback = false;
        } else if (!s->named && ++s->name_attempts >= FW_THREAD_NAME_ATTEMPTS) {
            snprintf(s->name, sizeof s->name, "tid-%lld", (long long)s->tid);
            s->named = true;
            s->name_fallback = true;
        }
        unnamed += r->alive && !s->named;
    }
    pthread_mutex_unlock(&a->lock);
    return unnamed;
}

size_t fw_names_refresh(fw_agent *a, bool all, bool have_gil, const atomic_bool *cancel)
{
    fw_name_batch *b = fw_names_buf;
    if (!b)
        return 0;
    fw_names_collect(a, b, all);
    if (b->n == 0)
        return 0;   /* nothing to ask for: no GIL taken */
    if (have_gil) {
        fw_names_read_with_gil(b);
    } else {
        /* A thread that asks for the GIL during finalization is never given it back, so we do
         * not ask once the interpreter is going away (stop() has named everyone by then). */
        if ((cancel && atomic_load(cancel)) || !fw_py_usable())
            return 0;
        PyGILState_STATE g = PyGILState_Ensure();
        /* The wait for the GIL can be long (threads computing in Python): the slots made
         * meanwhile are asked for too, or the flush that follows would write them unnamed. The
         * mutex taken with the GIL held is safe: no one holds the mutex while waiting for the GIL. */
        fw_names_collect(a, b, all);
        fw_names_read_with_gil(b);
        PyGILState_Release(g);
    }
    return fw_names_apply(a, b);
}
