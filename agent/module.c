/*
 * module.c: the Python binding `flamewatch._agent`.
 *
 * A thin layer: it converts arguments into an fw_agent_config and results into Python objects,
 * and leaves every decision to fw_lifecycle.c. The Python package (python/flamewatch) validates the
 * configuration and owns the user-facing messages; the checks here only keep the C side safe
 * against a direct caller.
 *
 * It is a single-phase module on purpose: the agent is one per process (threads, fork hooks),
 * not one per interpreter, so there is no per-module state to isolate.
 *
 * Functions:
 *   start(app, output_dir, cpu_interval_ms, cpu, wall, tags, upload_interval_s, log_level,
 *         enabled, server, token, settings_interval_s, upload_queue, memory,
 *         memory_threshold_kb, ca_file)  (output_dir "" = no files, ca_file "" = default CAs)
 *   stop() -> path of the final profile, or None
 *   is_running() -> bool
 *   stats() -> dict of counters (ticks, expected_ticks, stacks_walked, walk_ns, ...)
 *   before_fork(), after_fork_parent(), after_fork_child()  (os.register_at_fork hooks)
 *   TagSet, tagset(items), set_tag_var(var), _current_tag_id()  (dynamic tags, fw_tags.c)
 * and the walker's debug hooks (_walk_threads, ...) when agent/fw_debug.h is present.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "fw_agent.h"
#include "fw_lifecycle.h"
#include "fw_appname.h"
#include "fw_tags.h"
#include "fw_memory.h"
#include "fw_sampler.h"
#include "fw_upload.h"

_Static_assert(FW_APP_MAX == FW_APP_NAME_MAX, "the agent holds any valid application name");

#if defined(__has_include)
#if __has_include("fw_debug.h")
#include "fw_debug.h"
#define FW_HAVE_DEBUG 1
#endif
#endif

static int fw_mod_level(const char *s)
{
    static const char *const names[] = {"debug", "info", "warning", "quiet"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static bool fw_mod_copy(char *dst, size_t cap, PyObject *str, const char *what)
{
    Py_ssize_t len = 0;
    const char *s = PyUnicode_Check(str) ? PyUnicode_AsUTF8AndSize(str, &len) : NULL;
    if (!s) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "%s must be str", what);
        return false;
    }
    if ((size_t)len >= cap || strlen(s) != (size_t)len) {
        PyErr_Format(PyExc_ValueError, "%s is too long or contains NUL", what);
        return false;
    }
    memcpy(dst, s, (size_t)len + 1);
    return true;
}

static bool fw_mod_tags(fw_agent_config *cfg, PyObject *tags)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    cfg->ntags = 0;
    if (tags == NULL || tags == Py_None)
        return true;
    if (!PyDict_Check(tags)) {
        PyErr_SetString(PyExc_TypeError, "tags must be a dict");
        return false;
    }
    while (PyDict_Next(tags, &pos, &key, &value)) {
        if (cfg->ntags >= FW_TAGS_MAX) {
            PyErr_Format(PyExc_ValueError, "at most %d tags", FW_TAGS_MAX);
            return false;
        }
        fw_tag *t = &cfg->tags[cfg->ntags];
        if (!fw_mod_copy(t->key, sizeof t->key, key, "tag key") ||
            !fw_mod_copy(t->value, sizeof t->value, value, "tag value"))
            return false;
        cfg->ntags++;
    }
    return true;
}

static PyObject *fw_mod_start(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"app", "output_dir", "cpu_interval_ms", "cpu", "wall", "tags",
                             "upload_interval_s", "log_level", "enabled", "server", "token",
                             "settings_interval_s", "upload_queue", "memory",
                             "memory_threshold_kb", "ca_file", NULL};
    PyObject *app, *output, *tags = Py_None, *server = NULL, *token = NULL, *ca_file = NULL;
    int interval_ms = 10, cpu = 1, wall = 0, enabled = 1, queue = 0, memory = 0;
    int memory_kb = (int)FW_MEM_THRESHOLD_DEFAULT_KB;
    double upload_s = 15.0, settings_s = 30.0;
    const char *level = "warning";
    static fw_agent_config cfg;   /* large (tags): not on the stack; guarded by the GIL */
    char err[256];
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "UU|ippOdspUUdipiU:start", kwlist, &app, &output,
                                     &interval_ms, &cpu, &wall, &tags, &upload_s, &level,
                                     &enabled, &server, &token, &settings_s, &queue, &memory,
                                     &memory_kb, &ca_file))
        return NULL;
    memset(&cfg, 0, sizeof cfg);
    if (!fw_mod_copy(cfg.app, sizeof cfg.app, app, "app") ||
        !fw_mod_copy(cfg.output_dir, sizeof cfg.output_dir, output, "output_dir") ||
        (server && !fw_mod_copy(cfg.server, sizeof cfg.server, server, "server")) ||
        (token && !fw_mod_copy(cfg.token, sizeof cfg.token, token, "token")) ||
        (ca_file && !fw_mod_copy(cfg.ca_file, sizeof cfg.ca_file, ca_file, "ca_file")) ||
        !fw_mod_tags(&cfg, tags))
        return NULL;
    const char *app_problem = fw_app_name_problem(cfg.app, strlen(cfg.app));
    if (app_problem) {
        PyErr_Format(PyExc_ValueError, "invalid app name: it %s (expected " FW_APP_NAME_RULE ")", app_problem);
        return NULL;
    }
    cfg.log_level = fw_mod_level(level);
    if (interval_ms < 1 || interval_ms > 1000 || !(upload_s >= 0.1) ||
        upload_s > 3600 || cfg.log_level < 0 || !(settings_s >= 0.1) || settings_s > 86400 ||
        queue < 0 || queue > 10000 || (cfg.output_dir[0] == '\0' && cfg.server[0] == '\0') ||
        memory_kb < (int)FW_MEM_THRESHOLD_MIN_KB || memory_kb > (int)FW_MEM_THRESHOLD_MAX_KB) {
        PyErr_SetString(PyExc_ValueError, "invalid agent configuration");
        return NULL;
    }
    cfg.interval_ns = (uint64_t)interval_ms * 1000000u;
    cfg.upload_interval_ns = (uint64_t)(upload_s * 1e9);
    cfg.cpu = cpu != 0;
    cfg.wall = wall != 0;
    cfg.enabled = enabled != 0;
    cfg.memory = memory != 0;
    cfg.memory_threshold_kb = (uint32_t)memory_kb;
    cfg.settings_interval_ns = (uint64_t)(settings_s * 1e9);
    cfg.queue_max = (uint32_t)queue;
    if (fw_lifecycle_start(&cfg, err, sizeof err) != 0) {
        PyErr_SetString(PyExc_RuntimeError, err);
        return NULL;
    }
    Py_INCREF(Py_None);
    return Py_None;
}

static PyObject *fw_mod_stop(PyObject *self, PyObject *unused)
{
    static char path[FW_LAST_PATH_MAX];
    (void)self;
    (void)unused;
    if (fw_lifecycle_stop(path, sizeof path) != 0)
        fw_log(FW_LOG_WARNING, "the final profile could not be written");
    if (path[0] == '\0') {
        Py_INCREF(Py_None);
        return Py_None;
    }
    return PyUnicode_DecodeFSDefault(path);
}

static PyObject *fw_mod_is_running(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(fw_agent_is_running());
}

static int fw_mod_set(PyObject *d, const char *key, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *fw_mod_stats(PyObject *self, PyObject *unused)
{
    fw_agent *a = fw_agent_get();
    fw_sampler_stats s;
    size_t live = 0;
    (void)self;
    (void)unused;
    /* The GIL is held and `lock` is taken after it: the allowed order. */
    pthread_mutex_lock(&a->lock);
    s = a->stats;
    uint64_t sampler_cpu = fw_sampler_cpu_ns();
    if (a->threads)
        live = fw_threads_live(a->threads);
    int32_t tid_offset = a->tid_offset;
    uint64_t gil_preempted = fw_sampler_gil_preempted_ticks();
    fw_agent_config cur = a->cfg;
    pthread_mutex_unlock(&a->lock);
    fw_upload_stats up;
    fw_upload_get_stats(&up);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    double us = s.stacks_walked ? (double)s.walk_ns / (double)s.stacks_walked / 1000.0 : 0.0;
    if (fw_mod_set(d, "running", PyBool_FromLong(fw_agent_is_running())) < 0 ||
        fw_mod_set(d, "pid", PyLong_FromLong((long)a->pid)) < 0 ||
        fw_mod_set(d, "interval_ns", PyLong_FromUnsignedLongLong(a->cfg.interval_ns)) < 0 ||
        fw_mod_set(d, "ticks", PyLong_FromUnsignedLongLong(s.ticks)) < 0 ||
        fw_mod_set(d, "expected_ticks", PyLong_FromUnsignedLongLong(s.expected_ticks)) < 0 ||
        fw_mod_set(d, "late_ticks", PyLong_FromUnsignedLongLong(s.late_ticks)) < 0 ||
        fw_mod_set(d, "stacks_walked", PyLong_FromUnsignedLongLong(s.stacks_walked)) < 0 ||
        fw_mod_set(d, "walk_ns", PyLong_FromUnsignedLongLong(s.walk_ns)) < 0 ||
        fw_mod_set(d, "sampler_cpu_ns", PyLong_FromUnsignedLongLong(sampler_cpu)) < 0 ||
        fw_mod_set(d, "thread_reads", PyLong_FromUnsignedLongLong(s.thread_reads)) < 0 ||
        fw_mod_set(d, "cpu_moves", PyLong_FromUnsignedLongLong(s.cpu_moves)) < 0 ||
        fw_mod_set(d, "cpu_releases", PyLong_FromUnsignedLongLong(s.cpu_releases)) < 0 ||
        fw_mod_set(d, "thread_reads_one_call", PyLong_FromUnsignedLongLong(s.thread_reads_one_call)) < 0 ||
        fw_mod_set(d, "quick_ticks", PyLong_FromUnsignedLongLong(s.quick_ticks)) < 0 ||
        fw_mod_set(d, "walks_redone", PyLong_FromUnsignedLongLong(s.walks_redone)) < 0 ||
        fw_mod_set(d, "clock_reads_saved", PyLong_FromUnsignedLongLong(s.clock_reads_saved)) < 0 ||
        fw_mod_set(d, "us_per_stack", PyFloat_FromDouble(us)) < 0 ||
        fw_mod_set(d, "walk_failures", PyLong_FromUnsignedLongLong(s.walk_failures)) < 0 ||
        fw_mod_set(d, "walks_incomplete", PyLong_FromUnsignedLongLong(s.walks_incomplete)) < 0 ||
        fw_mod_set(d, "cpu_to_last_running", PyLong_FromUnsignedLongLong(s.cpu_to_last_running)) < 0 ||
        fw_mod_set(d, "cpu_nogil_current", PyLong_FromUnsignedLongLong(s.cpu_nogil_current)) < 0 ||
        fw_mod_set(d, "gil_left_before_read", PyLong_FromUnsignedLongLong(s.gil_left_before_read)) < 0 ||
        fw_mod_set(d, "threads_seen", PyLong_FromUnsignedLongLong(s.threads_seen)) < 0 ||
        fw_mod_set(d, "threads_live", PyLong_FromSize_t(live)) < 0 ||
        fw_mod_set(d, "cpu_read_failures", PyLong_FromUnsignedLongLong(s.cpu_read_failures)) < 0 ||
        fw_mod_set(d, "registry_full", PyLong_FromUnsignedLongLong(s.registry_full)) < 0 ||
        fw_mod_set(d, "list_errors", PyLong_FromUnsignedLongLong(s.list_errors)) < 0 ||
        fw_mod_set(d, "gil_hold_ticks", PyLong_FromUnsignedLongLong(s.gil_hold_ticks)) < 0 ||
        fw_mod_set(d, "gil_hold_preempted", PyLong_FromUnsignedLongLong(gil_preempted)) < 0 ||
        fw_mod_set(d, "tid_offset", PyLong_FromLong(tid_offset)) < 0 ||
        fw_mod_set(d, "files_written", PyLong_FromUnsignedLongLong(a->files_written)) < 0 ||
        fw_mod_set(d, "flush_errors", PyLong_FromUnsignedLongLong(a->flush_errors)) < 0 ||
        fw_mod_set(d, "samples_dropped", PyLong_FromUnsignedLongLong(a->samples_dropped)) < 0 ||
        fw_mod_set(d, "seq", PyLong_FromUnsignedLong(a->seq)) < 0 ||
        fw_mod_set(d, "profiles_built", PyLong_FromUnsignedLongLong(a->profiles_built)) < 0 ||
        fw_mod_set(d, "last_build_cpu_ns", PyLong_FromUnsignedLongLong(a->last_build_cpu_ns)) < 0 ||
        fw_mod_set(d, "enabled", PyBool_FromLong(cur.enabled)) < 0 ||
        fw_mod_set(d, "cpu", PyBool_FromLong(cur.cpu)) < 0 ||
        fw_mod_set(d, "wall", PyBool_FromLong(cur.wall)) < 0 ||
        fw_mod_set(d, "cpu_interval_ms", PyLong_FromUnsignedLongLong(cur.interval_ns / 1000000u)) < 0 ||
        fw_mod_set(d, "memory", PyBool_FromLong(cur.memory)) < 0 ||
        fw_mod_set(d, "memory_threshold_kb", PyLong_FromUnsignedLong(cur.memory_threshold_kb)) < 0 ||
        fw_mod_set(d, "uploads", PyLong_FromUnsignedLongLong(up.uploads)) < 0 ||
        fw_mod_set(d, "upload_bytes", PyLong_FromUnsignedLongLong(up.upload_bytes)) < 0 ||
        fw_mod_set(d, "upload_attempts", PyLong_FromUnsignedLongLong(up.attempts)) < 0 ||
        fw_mod_set(d, "upload_failures", PyLong_FromUnsignedLongLong(up.failures)) < 0 ||
        fw_mod_set(d, "uploads_rejected", PyLong_FromUnsignedLongLong(up.rejected)) < 0 ||
        fw_mod_set(d, "profiles_dropped", PyLong_FromUnsignedLongLong(up.dropped)) < 0 ||
        fw_mod_set(d, "upload_queued", PyLong_FromUnsignedLongLong(up.queued)) < 0 ||
        fw_mod_set(d, "upload_cpu_ns", PyLong_FromUnsignedLongLong(up.upload_cpu_ns)) < 0 ||
        fw_mod_set(d, "last_upload_cpu_ns", PyLong_FromUnsignedLongLong(up.last_upload_cpu_ns)) < 0 ||
        fw_mod_set(d, "settings_fetches", PyLong_FromUnsignedLongLong(up.settings_fetches)) < 0 ||
        fw_mod_set(d, "settings_applied", PyLong_FromUnsignedLongLong(up.settings_applied)) < 0 ||
        fw_mod_set(d, "settings_invalid", PyLong_FromUnsignedLongLong(up.settings_invalid)) < 0 ||
        fw_mod_set(d, "settings_updated_at", PyLong_FromLongLong(up.settings_updated_at)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *fw_mod_before_fork(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    fw_lifecycle_before_fork();
    Py_INCREF(Py_None);
    return Py_None;
}

static PyObject *fw_mod_after_fork_parent(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    fw_lifecycle_after_fork_parent();
    Py_INCREF(Py_None);
    return Py_None;
}

static PyObject *fw_mod_after_fork_child(PyObject *self, PyObject *unused)
{
    char err[256];
    (void)self;
    (void)unused;
    if (fw_lifecycle_after_fork_child(err, sizeof err) != 0) {
        PyErr_SetString(PyExc_RuntimeError, err);
        return NULL;
    }
    Py_INCREF(Py_None);
    return Py_None;
}

static PyMethodDef fw_mod_methods[] = {
    {"start", (PyCFunction)(void (*)(void))fw_mod_start, METH_VARARGS | METH_KEYWORDS,
     "start(app, output_dir, cpu_interval_ms=10, cpu=True, wall=False, tags=None, "
     "upload_interval_s=15.0, log_level='warning', enabled=True, server=None, token=None, "
     "settings_interval_s=30.0, upload_queue=0, memory=False, memory_threshold_kb=1024, "
     "ca_file=None)"},
    {"stop", fw_mod_stop, METH_NOARGS, "Stops the agent and writes the final profile; its path or None."},
    {"is_running", fw_mod_is_running, METH_NOARGS, "True while the agent runs."},
    {"stats", fw_mod_stats, METH_NOARGS, "The agent's counters as a dict."},
    {"before_fork", fw_mod_before_fork, METH_NOARGS, "os.register_at_fork(before=...) hook."},
    {"after_fork_parent", fw_mod_after_fork_parent, METH_NOARGS,
     "os.register_at_fork(after_in_parent=...) hook."},
    {"after_fork_child", fw_mod_after_fork_child, METH_NOARGS,
     "os.register_at_fork(after_in_child=...) hook: restarts the agent in the child."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fw_module = {
    PyModuleDef_HEAD_INIT, "_agent", "flamewatch's native profiling agent.", -1, fw_mod_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__agent(void);

PyMODINIT_FUNC PyInit__agent(void)
{
    PyObject *m = PyModule_Create(&fw_module);
    if (!m)
        return NULL;
    if (fw_tags_add_to_module(m) < 0 || fw_memory_add_to_module(m, fw_agent_get()) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#ifdef FW_HAVE_DEBUG
    if (fw_debug_add_functions(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#endif
    return m;
}
