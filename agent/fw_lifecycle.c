/*
 * fw_lifecycle: the start/stop/fork state machine of the one agent a process has.
 *
 * States. STOPPED -> (start) -> RUNNING -> (stop) -> STOPPING -> STOPPED. STOPPING exists
 * because stop() gives up the GIL while it joins the threads: a second stop() (atexit racing an
 * explicit call, or os._exit from another thread) that arrives meanwhile sees STOPPING and
 * returns at once instead of joining a thread twice, and start() refuses to begin.
 *
 * Resources. Everything the threads share (registry, resolver, aggregates, the worker's
 * buffers) is allocated by start() before any thread exists and freed by stop() after both are
 * joined, so neither thread ever sees a half-built agent and a stopped agent holds no memory
 * beyond this struct (its counters stay readable through stats()).
 *
 * Stopping. The caller holds the GIL. The joins run with the GIL released, because the worker
 * may be waiting for the GIL to read thread names and would otherwise never finish. Then, with
 * the GIL, the caller names every live thread itself (the worker is gone), and without the GIL
 * it writes the final profile. That order also makes stop() safe at interpreter exit with
 * daemon threads still running: atexit callbacks run before finalization starts, so taking the
 * GIL back always succeeds.
 *
 * Fork. The mutex is taken in before_fork() (called with the GIL from os.register_at_fork) and
 * released in the parent; this is safe because no agent thread waits for the GIL while holding
 * it. Holding it across fork() means the child inherits a registry, resolver and aggregates that
 * are not in the middle of an update. The child still throws all of them away: the samples are
 * the parent's (the parent writes them), the sampler and worker do not exist in the child (they
 * are forgotten, never joined), and the mutex is initialized afresh. Memory that only the
 * parent's worker thread referenced at the moment of the fork (a profile it was building) is
 * unreachable in the child: a one-time leak bounded by one profile. The child then re-reads the
 * interpreter (fw_memread_init, fw_py_init), takes its own pid, restarts SEQ at 1 (a stop and
 * start in one process continues SEQ instead, so no file is overwritten) and starts fresh
 * threads, whose first tick is a CPU baseline.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_lifecycle.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fw_agent.h"
#include "fw_curl.h"
#include "fw_host.h"
#include "fw_memread.h"
#include "fw_pyversion.h"
#include "fw_upload.h"
#include "fw_worker.h"
#include "fw_memory.h"
#include "fw_names.h"
#include "fw_sampler.h"

#define FW_RESOLVER_CODES 16384
#define FW_RESOLVER_FUNCTIONS 32768

/* ---- resources ---- */

static void fw_lc_free_resources(fw_agent *a)
{
    fw_upload_release(a);
    fw_worker_release(a);
    fw_agg_free(a->active);
    a->active = NULL;
    fw_stack_resolver_free(a->resolver);
    a->resolver = NULL;
    fw_threads_free(a->threads);
    a->threads = NULL;
}

static int fw_lc_alloc_resources(fw_agent *a)
{
    a->threads = fw_threads_new();
    a->resolver = fw_stack_resolver_new(FW_RESOLVER_CODES, FW_RESOLVER_FUNCTIONS);
    a->active = fw_agg_new();
    int rc = ENOMEM;
    if (a->threads && a->resolver && a->active && fw_worker_init(a) == 0)
        rc = fw_upload_init(a);   /* ENOMEM, or EIO: libcurl could not be loaded */
    if (rc != 0)
        fw_lc_free_resources(a);
    return rc;
}

static void fw_lc_resources_error(const fw_agent *a, int rc, char *err, size_t errlen)
{
    const char *why = fw_curl_load_error();
    if (rc == EIO)
        snprintf(err, errlen, "cannot upload to %s: libcurl (" FW_CURL_LIBRARY ") could not be loaded (%s); "
                 "install libcurl4, or write profiles to files with --output", a->cfg.server,
                 why ? why : "libcurl failed to initialise");
    else
        snprintf(err, errlen, "out of memory");
}

/* Counters and per-run state, before the threads (re)start. */
static void fw_lc_reset_run(fw_agent *a)
{
    memset(&a->stats, 0, sizeof a->stats);
    a->pid = getpid();
    a->files_written = 0;
    a->flush_errors = 0;
    a->samples_dropped = 0;
    a->last_build_cpu_ns = 0;
    a->profiles_built = 0;
    a->rebaseline = false;
    a->last_path[0] = '\0';
    a->interval_start_mono = fw_now_mono_ns();
    a->interval_start_real = fw_now_real_ns();
    atomic_store(&a->names_wanted, false);
    atomic_store(&a->skip_pthread, 0);
}

static int fw_lc_start_threads(fw_agent *a, char *err, size_t errlen)
{
    int rc = fw_upload_start(a);
    if (rc == 0)
        rc = fw_worker_start(a);
    if (rc == 0) {
        rc = fw_sampler_start(a);
        if (rc != 0) {
            /* The worker may be waiting for the GIL (its thread state, fw_worker.c). */
            PyThreadState *ts = PyEval_SaveThread();
            fw_worker_stop(a);
            PyEval_RestoreThread(ts);
        }
    }
    if (rc != 0)
        (void)fw_upload_stop(a, fw_now_mono_ns());
    if (rc != 0)
        snprintf(err, errlen, "cannot start the agent threads: %s", strerror(rc));
    return rc;
}

/* ---- start / stop ---- */

int fw_lifecycle_start(const fw_agent_config *cfg, char *err, size_t errlen)
{
    fw_agent *a = fw_agent_get();
    if (a->phase != FW_AGENT_STOPPED) {
        snprintf(err, errlen, "the agent is already running");
        return EBUSY;
    }
    assert(cfg->interval_ns > 0 && cfg->upload_interval_ns > 0);
    a->cfg = *cfg;
    fw_log_set_level(cfg->log_level);
    fw_memread_init();
    if (!fw_py_init()) {
        snprintf(err, errlen, "this interpreter cannot be sampled: %s", fw_py_init_error());
        return ENOTSUP;
    }
    fw_host_info(a->hostname, sizeof a->hostname, a->host_ip, sizeof a->host_ip);
    a->need_tid_offset = !fw_py_has_native_tid();
    a->tid_offset = -1;
    if (a->need_tid_offset)
        fw_tid_offset_candidates(&a->tid_candidates);
    int arc = fw_lc_alloc_resources(a);
    if (arc != 0) {
        fw_lc_resources_error(a, arc, err, errlen);
        return arc;
    }
    fw_lc_reset_run(a);
    int rc = fw_lc_start_threads(a, err, errlen);
    if (rc != 0) {
        fw_lc_free_resources(a);
        return rc;
    }
    a->phase = FW_AGENT_RUNNING;
    if (cfg->memory && cfg->enabled) {
        /* A memory profiler that cannot start leaves the rest of the agent running. With the
         * master switch off it is not installed: the worker installs it if the switch comes on
         * (fw_memory_follow_settings). */
        char merr[256];
        if (fw_memory_enable(a, cfg->memory_threshold_kb, merr, sizeof merr) != 0) {
            fw_log(FW_LOG_WARNING, "memory profiling is off: %s", merr);
            a->cfg.memory = false;
        }
    }
    fw_memory_follow(true);
    fw_log(FW_LOG_DEBUG, "agent started: app=%s pid=%ld enabled=%d interval=%llums cpu=%d wall=%d "
           "output=%s server=%s", cfg->app, (long)a->pid, cfg->enabled,
           (unsigned long long)(cfg->interval_ns / 1000000u), cfg->cpu, cfg->wall,
           cfg->output_dir[0] ? cfg->output_dir : "(none)", cfg->server[0] ? cfg->server : "(none)");
    return 0;
}

int fw_lifecycle_stop(char *path, size_t pathlen)
{
    fw_agent *a = fw_agent_get();
    path[0] = '\0';
    if (a->phase != FW_AGENT_RUNNING)
        return 0;
    a->phase = FW_AGENT_STOPPING;
    fw_memory_follow(false);   /* the worker no longer asks for the GIL on the memory's behalf */
    /* With the GIL: unhook the allocators first; live samples stay for the final profile. */
    fw_memory_disable(false);
    uint64_t deadline = fw_now_mono_ns() + FW_EXIT_DEADLINE_NS;
    /* Without the GIL: the worker may be waiting for it, and would never finish. */
    PyThreadState *ts = PyEval_SaveThread();
    fw_upload_closing(a);
    fw_sampler_stop();
    fw_worker_stop(a);
    PyEval_RestoreThread(ts);
    (void)fw_names_refresh(a, true, true, NULL);
    ts = PyEval_SaveThread();
    int rc = fw_worker_flush(a, true);
    /* The final profile (and any still queued) goes out within the exit deadline. */
    (void)fw_upload_stop(a, deadline);
    PyEval_RestoreThread(ts);
    if (rc > 0 && strlen(a->last_path) < pathlen)
        memcpy(path, a->last_path, strlen(a->last_path) + 1);
    fw_lc_free_resources(a);
    fw_memory_release();
    a->phase = FW_AGENT_STOPPED;
    fw_log(FW_LOG_DEBUG, "agent stopped; %llu file(s) written, last %s",
           (unsigned long long)a->files_written, rc > 0 ? path : "(none)");
    return rc < 0 ? -1 : 0;
}

/* ---- fork ---- */

void fw_lifecycle_before_fork(void)
{
    fw_agent *a = fw_agent_get();
    if (a->phase != FW_AGENT_RUNNING || a->fork_locked)
        return;
    pthread_mutex_lock(&a->lock);
    fw_upload_before_fork();
    a->fork_locked = true;
}

void fw_lifecycle_after_fork_parent(void)
{
    fw_agent *a = fw_agent_get();
    if (!a->fork_locked)
        return;
    a->fork_locked = false;
    fw_upload_after_fork_parent();
    pthread_mutex_unlock(&a->lock);
}

int fw_lifecycle_after_fork_child(char *err, size_t errlen)
{
    fw_agent *a = fw_agent_get();
    pthread_mutex_init(&a->lock, NULL);
    fw_upload_after_fork_child();
    a->fork_locked = false;
    /* The threads do not exist here: forget them, never join them. */
    fw_sampler_forget();
    fw_worker_forget();
    if (a->phase != FW_AGENT_RUNNING) {
        if (a->phase == FW_AGENT_STOPPING)
            fw_lc_free_resources(a);  /* the parent's stop() was mid-way: nothing to keep */
        a->phase = FW_AGENT_STOPPED;
        return 0;
    }
    fw_lc_free_resources(a);
    fw_memread_init();
    int rc = ENOTSUP;
    if (!fw_py_init())
        snprintf(err, errlen, "this interpreter cannot be sampled after fork: %s", fw_py_init_error());
    else if ((rc = fw_lc_alloc_resources(a)) != 0)
        fw_lc_resources_error(a, rc, err, errlen);
    else {
        fw_lc_reset_run(a);
        a->seq = 0;   /* a new process: SEQ counts from 000001 again */
        rc = fw_lc_start_threads(a, err, errlen);
    }
    if (rc != 0) {
        fw_lc_free_resources(a);
        fw_memory_disable(true);   /* nobody would flush its samples in this child */
        fw_memory_release();
        a->phase = FW_AGENT_STOPPED;
        return rc;
    }
    fw_log(FW_LOG_DEBUG, "agent restarted in forked child pid=%ld", (long)a->pid);
    return 0;
}
