/*
 * fw_memory: the memory profiler's control (on, off, threshold, following the live settings),
 * its counters and its Python functions; the module's overview is in fw_memory.h.
 *
 * The estimator. A sample is an allocation of s bytes that had probability p = 1 - exp(-s/T)
 * of being chosen (T: the mean sampling interval). It stands for s/p bytes and 1/p
 * allocations, the unbiased weights Go's and tcmalloc's heap profilers use; docs/ARCHITECTURE.md
 * ("Memory profiling") writes the estimator and its variance down.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_memory.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "fw_agent.h"
#include "fw_memory_impl.h"

#define FW_MEM_AGENT_CAPSULE "flamewatch._agent.memory_agent"

static pthread_once_t fw_atfork_once = PTHREAD_ONCE_INIT;

/* ---- fork ---- */

static void fw_mem_child_fork(void)
{
    fw_hooks_after_fork_child();
    fw_mem_table_fork_child();
}

static void fw_mem_register_atfork(void)
{
    if (pthread_atfork(fw_mem_table_fork_prepare, fw_mem_table_fork_parent, fw_mem_child_fork) != 0)
        fw_log(FW_LOG_WARNING, "memory profiler: cannot register fork handlers");
}

/* ---- control ---- */

int fw_memory_enable(fw_agent *a, uint32_t threshold_kb, char *err, size_t errlen)
{
    (void)a;
    if (threshold_kb < FW_MEM_THRESHOLD_MIN_KB || threshold_kb > FW_MEM_THRESHOLD_MAX_KB) {
        snprintf(err, errlen, "memory threshold %u KB is out of range", (unsigned)threshold_kb);
        return EINVAL;
    }
    pthread_once(&fw_atfork_once, fw_mem_register_atfork);
    if (!fw_mem_table_open()) {
        snprintf(err, errlen, "out of memory for the memory profiler");
        return ENOMEM;
    }
    fw_hooks_set_interval((uint64_t)threshold_kb * 1024u);
    bool resumed = fw_hooks_installed();
    fw_hooks_install();
    fw_hooks_set_sampling(true);
    fw_log(FW_LOG_DEBUG, "memory profiler on: one sample per %u KB allocated on average (%s)",
           (unsigned)threshold_kb, resumed ? "hooks still installed, resumed" : "hooks installed");
    return 0;
}

void fw_memory_disable(bool forget_live)
{
    bool was = fw_hooks_sampling();
    fw_hooks_set_sampling(false);
    if (fw_hooks_installed() && !fw_hooks_uninstall())
        fw_log(FW_LOG_DEBUG, "memory profiler off: another allocator wraps ours, so ours stays "
               "installed and passes every call through");
    else if (was)
        fw_log(FW_LOG_DEBUG, "memory profiler off: previous allocators restored");
    if (forget_live) {
        /* Frees are no longer seen (or will stop being matched): the live table would lie. */
        fw_mem_table_forget_live();
    }
}

void fw_memory_set_threshold_kb(uint32_t kb)
{
    if (kb >= FW_MEM_THRESHOLD_MIN_KB && kb <= FW_MEM_THRESHOLD_MAX_KB)
        fw_hooks_set_interval((uint64_t)kb * 1024u);
}

bool fw_memory_sampling(void)
{
    return fw_hooks_sampling();
}

/* The settings' wish: sampling iff the master switch and the memory switch are both on. */
static bool fw_memory_wanted(fw_agent *a, uint32_t *kb)
{
    pthread_mutex_lock(&a->lock);
    bool want = a->cfg.enabled && a->cfg.memory;
    *kb = a->cfg.memory_threshold_kb ? a->cfg.memory_threshold_kb : FW_MEM_THRESHOLD_DEFAULT_KB;
    pthread_mutex_unlock(&a->lock);
    return want;
}

static atomic_bool fw_following;

void fw_memory_follow(bool on)
{
    atomic_store(&fw_following, on);
}

bool fw_memory_settings_need_gil(fw_agent *a)
{
    /* Once stop() has begun, the worker must not ask for the GIL (nor change anything). */
    if (!atomic_load(&fw_following))
        return false;
    uint32_t kb;
    bool want = fw_memory_wanted(a, &kb);
    bool on = fw_hooks_sampling();
    if (want && on) {
        fw_memory_set_threshold_kb(kb);   /* a no-op unless it changed */
        return false;
    }
    return want != on;
}

void fw_memory_follow_settings(fw_agent *a)
{
    /* Re-read with the GIL held: set_memory() and stop() change things only with the GIL, so
     * what is read now stays true until we are done. */
    if (!fw_agent_is_running())
        return;
    uint32_t kb;
    bool want = fw_memory_wanted(a, &kb);
    bool on = fw_hooks_sampling();
    if (want && !on) {
        char err[256];
        if (fw_memory_enable(a, kb, err, sizeof err) != 0) {
            fw_log(FW_LOG_WARNING, "memory profiling stays off: %s", err);
            pthread_mutex_lock(&a->lock);
            a->cfg.memory = false;   /* asked again only when the settings say so again */
            pthread_mutex_unlock(&a->lock);
        } else {
            fw_log(FW_LOG_INFO, "memory profiler switched on by the settings (%u KB)", (unsigned)kb);
        }
    } else if (!want && on) {
        fw_memory_disable(true);
        fw_log(FW_LOG_INFO, "memory profiler switched off by the settings");
    }
}

void fw_memory_release(void)
{
    assert(!fw_hooks_sampling());
    fw_mem_table_close();
    fw_mem_export_release();
}

void fw_memory_get_stats(fw_memory_stats *out)
{
    fw_mem_table_stats(out);
    out->installed = fw_hooks_installed();
    out->sampling = fw_hooks_sampling();
    out->passthrough = out->installed && !out->sampling;
    out->free_direct = fw_hooks_free_direct();
    out->threshold_bytes = fw_hooks_interval();
}

/* ---- Python functions ---- */

static PyObject *fw_mod_set_memory(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"on", "threshold_kb", NULL};
    int on = 0;
    PyObject *thr = Py_None;
    char err[256];
    if (!PyArg_ParseTupleAndKeywords(args, kw, "p|O:set_memory", kwlist, &on, &thr))
        return NULL;
    fw_agent *a = PyCapsule_GetPointer(self, FW_MEM_AGENT_CAPSULE);
    if (!a)
        return NULL;
    pthread_mutex_lock(&a->lock);
    uint32_t kb = a->cfg.memory_threshold_kb ? a->cfg.memory_threshold_kb : FW_MEM_THRESHOLD_DEFAULT_KB;
    pthread_mutex_unlock(&a->lock);
    if (thr != Py_None) {
        long v = PyLong_Check(thr) && !PyBool_Check(thr) ? PyLong_AsLong(thr) : -1;
        if (v == -1 && PyErr_Occurred())
            PyErr_Clear();
        if (v < (long)FW_MEM_THRESHOLD_MIN_KB || v > (long)FW_MEM_THRESHOLD_MAX_KB) {
            PyErr_Format(PyExc_ValueError, "threshold_kb must be an integer from %u to %u",
                         FW_MEM_THRESHOLD_MIN_KB, FW_MEM_THRESHOLD_MAX_KB);
            return NULL;
        }
        kb = (uint32_t)v;
    }
    pthread_mutex_lock(&a->lock);
    bool enabled = a->cfg.enabled;
    pthread_mutex_unlock(&a->lock);
    if (on) {
        if (!fw_agent_is_running()) {
            PyErr_SetString(PyExc_RuntimeError, "the agent is not running");
            return NULL;
        }
        /* With the master switch off, the wish is stored: the worker switches the profiler on
         * when the master switch comes back (fw_memory_follow_settings). */
        if (enabled && fw_memory_enable(a, kb, err, sizeof err) != 0) {
            PyErr_SetString(PyExc_RuntimeError, err);
            return NULL;
        }
    } else {
        fw_memory_disable(true);
    }
    pthread_mutex_lock(&a->lock);
    a->cfg.memory = on != 0;
    a->cfg.memory_threshold_kb = kb;
    pthread_mutex_unlock(&a->lock);
    Py_RETURN_NONE;
}

static int fw_dict_u64(PyObject *d, const char *key, uint64_t v)
{
    PyObject *o = PyLong_FromUnsignedLongLong(v);
    int rc = o ? PyDict_SetItemString(d, key, o) : -1;
    Py_XDECREF(o);
    return rc;
}

static PyObject *fw_mod_memory_stats(PyObject *self, PyObject *unused)
{
    fw_memory_stats s;
    (void)self;
    (void)unused;
    fw_memory_get_stats(&s);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (PyDict_SetItemString(d, "installed", s.installed ? Py_True : Py_False) < 0 ||
        PyDict_SetItemString(d, "sampling", s.sampling ? Py_True : Py_False) < 0 ||
        PyDict_SetItemString(d, "passthrough", s.passthrough ? Py_True : Py_False) < 0 ||
        PyDict_SetItemString(d, "free_direct", s.free_direct ? Py_True : Py_False) < 0 ||
        fw_dict_u64(d, "threshold_bytes", s.threshold_bytes) < 0 ||
        fw_dict_u64(d, "samples", s.samples) < 0 || fw_dict_u64(d, "live", s.live) < 0 ||
        fw_dict_u64(d, "untracked", s.untracked) < 0 ||
        fw_dict_u64(d, "frees_matched", s.frees_matched) < 0 ||
        fw_dict_u64(d, "sites", s.sites) < 0 ||
        fw_dict_u64(d, "sites_dropped", s.sites_dropped) < 0 ||
        fw_dict_u64(d, "no_python", s.no_python) < 0 ||
        fw_dict_u64(d, "walk_failures", s.walk_failures) < 0 ||
        fw_dict_u64(d, "direct", s.direct) < 0 ||
        fw_dict_u64(d, "sample_ns", s.sample_ns) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *fw_mod_memory_prob(PyObject *self, PyObject *args)
{
    unsigned long long size = 0, interval = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "KK:_memory_prob", &size, &interval))
        return NULL;
    return PyFloat_FromDouble(fw_hooks_sample_prob(size, interval));
}

static PyMethodDef fw_memory_methods[] = {
    {"set_memory", (PyCFunction)(void (*)(void))fw_mod_set_memory, METH_VARARGS | METH_KEYWORDS,
     "set_memory(on, threshold_kb=None): switches the memory profiler on or off at run time."},
    {"memory_stats", fw_mod_memory_stats, METH_NOARGS, "The memory profiler's counters."},
    {"_memory_prob", fw_mod_memory_prob, METH_VARARGS,
     "_memory_prob(size, interval): the probability a block of `size` bytes is sampled (tests)."},
    {NULL, NULL, 0, NULL},
};

/* The functions get the agent as their `self`: a capsule made here. */
int fw_memory_add_to_module(PyObject *module, fw_agent *a)
{
    PyObject *agent = PyCapsule_New(a, FW_MEM_AGENT_CAPSULE, NULL);
    if (!agent)
        return -1;
    PyObject *modname = PyModule_GetNameObject(module);
    int rc = modname ? 0 : -1;
    for (const PyMethodDef *d = fw_memory_methods; rc == 0 && d->ml_name; d++) {
        PyObject *f = PyCFunction_NewEx((PyMethodDef *)d, agent, modname);
        if (!f || PyModule_AddObject(module, d->ml_name, f) < 0) {
            Py_XDECREF(f);
            rc = -1;
        }
    }
    Py_XDECREF(modname);
    Py_DECREF(agent);
    return rc;
}

