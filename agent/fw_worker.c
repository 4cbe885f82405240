/*
 * fw_worker: thread names and profile files.
 *
 * The worker is the agent's only thread that ever runs with the GIL, and it holds it only for
 * the time it takes to copy a few strings. Everything else it does (building, encoding,
 * compressing and writing a profile) happens without the GIL and without the agent mutex.
 *
 * Waking. The worker sleeps until its next timed job (a flush, the renaming of every live slot
 * each second because a program may rename its threads, or a retry), or until the sampler wakes
 * it through the agent's eventfd (fw_agent_wake) after flagging a new slot (an atomic flag): it
 * then has the unnamed slots named at once (fw_names.c). A worker that polled instead would wake
 * 100 times a second for nothing, and each wake-up of an agent thread can preempt the
 * application on a busy machine.
 *
 * Flushing. At each upload interval the worker, under the mutex, swaps the sampler's aggregate
 * for its empty spare, copies the names of the functions the resolver has added since the last
 * flush (the resolver belongs to the sampler; the copy lets the build run without the lock),
 * copies the slot names, recycles dead slots (no stored sample refers to them any more), and
 * resets the resolver when it is nearly full (the copies stay valid until the build is done).
 * Then, without any lock, it turns the swapped aggregate into an fw_profile, encodes it, gzips
 * it and writes OUTPUT/.APP-PID-SEQ.pprof.gz.tmp, renamed to APP-PID-SEQ.pprof.gz so that a
 * reader never sees a partial file. An empty interval writes nothing, except the final flush.
 * The rename never replaces a file: after os.exec* the new program keeps the pid and its agent
 * counts SEQ from 1 again (and the kernel reuses pids), so a taken name moves SEQ on to the
 * next free one instead of destroying a profile.
 *
 * Its thread state. The worker keeps one Python thread state for its whole life, made the
 * first thing it does (fw_worker_hold_tstate) and deleted when it ends. Each PyGILState_Ensure
 * of a thread without one allocates one with PyMem_RawCalloc, without the GIL, and the Release
 * frees it: done once a second (names) that races with a program's tracemalloc.stop(), which
 * crashes CPython up to 3.12.8 and 3.13.1 (gh-128679: tracemalloc's RAW hook, entered just
 * before stop(), waits for the GIL and then records a trace into freed tables). With the state
 * kept, taking the GIL allocates nothing. The one allocation is made while start() waits for
 * it (fw_worker_start), so the thread that starts the agent cannot be stopping tracemalloc
 * then; only another thread calling tracemalloc.stop() at that very moment still could.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_worker.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fw_gzip.h"
#include "fw_memory.h"
#include "fw_names.h"
#include "fw_pprof.h"
#include "fw_profile.h"
#include "fw_pyversion.h"
#include "fw_sampler.h"
#include "fw_tags.h"
#include "fw_upload.h"

#define FW_NAMES_REFRESH_NS 1000000000ull    /* every live thread renamed each second */
#define FW_NAMES_RETRY_NS 50000000ull        /* a slot `threading` did not list yet */
#define FW_GZIP_LEVEL 6
#define FW_NTYPES 8                          /* sample types of an agent profile */

/* The worker's own state: nobody else touches it, so it needs no lock. */
typedef struct {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    fw_agg *spare;                /* the aggregate being written */
    fw_fn_copy *fns;              /* resolver function copies, indexed by function id */
    size_t nfns;
    size_t fns_cap;
    bool fns_reset_pending;       /* the resolver was reset; clear `fns` after the build */
    char (*slot_names)[FW_THREAD_NAME_MAX];  /* names of the interval being written */
    PyThreadState *held_ts;       /* the worker's own thread state (see the top), NULL if none */
    PyGILState_STATE held_state;  /* what the outer PyGILState_Ensure returned */
    pthread_mutex_t ready_lock;   /* fw_worker_start waits on these until the worker */
    pthread_cond_t ready_cond;    /* has its thread state (or knows it cannot have one) */
    bool ready;
} fw_worker_state;

static fw_worker_state fw_wk;

int fw_worker_init(fw_agent *a)
{
    assert(fw_wk.slot_names == NULL);
    fw_wk.slot_names = calloc(FW_THREADS_MAX, sizeof *fw_wk.slot_names);
    fw_wk.spare = fw_agg_new();
    if (!fw_wk.slot_names || !fw_wk.spare || fw_names_init() != 0 || fw_agent_wake_open(a) != 0) {
        fw_worker_release(a);
        return ENOMEM;
    }
    return 0;
}

static void fw_fns_clear(void)
{
    for (size_t i = 0; i < fw_wk.nfns; i++) {
        free(fw_wk.fns[i].qualname);
        free(fw_wk.fns[i].filename);
    }
    fw_wk.nfns = 0;
}

void fw_worker_release(fw_agent *a)
{
    fw_fns_clear();
    free(fw_wk.fns);
    fw_wk.fns = NULL;
    fw_wk.fns_cap = 0;
    fw_wk.fns_reset_pending = false;
    fw_names_release();
    free(fw_wk.slot_names);
    fw_wk.slot_names = NULL;
    fw_agg_free(fw_wk.spare);
    fw_wk.spare = NULL;
    fw_agent_wake_close(a);
}

/* ---- flushing ---- */

static uint64_t fw_worker_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Under the mutex: copies functions the resolver added since the last flush. */
static void fw_fns_sync(fw_agent *a)
{
    size_t count = fw_stack_function_count(a->resolver);
    if (count > fw_wk.fns_cap) {
        size_t cap = fw_wk.fns_cap ? fw_wk.fns_cap : 1024;
        while (cap < count)
            cap *= 2;
        fw_fn_copy *fns = realloc(fw_wk.fns, cap * sizeof *fns);
        if (!fns)
            count = fw_wk.fns_cap;    /* keep what fits; missing ids print as "?" */
        else {
            fw_wk.fns = fns;
            fw_wk.fns_cap = cap;
        }
    }
    for (size_t id = fw_wk.nfns; id < count; id++) {
        const fw_function_info *info = fw_stack_function(a->resolver, (uint32_t)id);
        fw_fn_copy *c = &fw_wk.fns[id];
        c->qualname = (info && info->qualname) ? strdup(info->qualname) : NULL;
        c->filename = (info && info->filename) ? strdup(info->filename) : NULL;
        c->firstlineno = info ? info->firstlineno : 0;
    }
    if (count > fw_wk.nfns)
        fw_wk.nfns = count;
}

/* Under the mutex: the names of the interval being written. */
static void fw_slot_names_copy(fw_agent *a)
{
    for (int32_t i = 0; i < (int32_t)fw_threads_span(a->threads); i++) {
        const fw_thread_slot *s = fw_threads_slot(a->threads, i);
        char *dst = fw_wk.slot_names[i];
        if (!s)
            dst[0] = '\0';
        else if (s->named || s->name[0])
            memcpy(dst, s->name, FW_THREAD_NAME_MAX);
        else
            snprintf(dst, FW_THREAD_NAME_MAX, "tid-%lld", (long long)s->tid);
    }
}

typedef struct {
    fw_agg *agg;
    int64_t start_real;
    int64_t duration;
} fw_interval;

static void fw_flush_swap(fw_agent *a, fw_interval *iv)
{
    pthread_mutex_lock(&a->lock);
    fw_agg *old = a->active;
    a->active = fw_wk.spare;
    fw_wk.spare = old;
    bool reset_fns = fw_stack_functions_nearly_full(a->resolver);
    if (!reset_fns)
        fw_sampler_carry_last_running(a, old);
    a->agg_epoch++;   /* entries remembered by thread slots now refer to the old table */
    uint64_t now_mono = fw_now_mono_ns();
    iv->agg = old;
    iv->start_real = a->interval_start_real;
    iv->duration = (int64_t)(now_mono - a->interval_start_mono);
    a->interval_start_mono = now_mono;
    a->interval_start_real = fw_now_real_ns();
    fw_fns_sync(a);
    fw_slot_names_copy(a);
    (void)fw_threads_recycle_dead(a->threads);
    if (reset_fns) {
        fw_stack_reset_functions(a->resolver);
        fw_wk.fns_reset_pending = true;
        fw_log(FW_LOG_DEBUG, "function registry nearly full: reset");
    }
    pthread_mutex_unlock(&a->lock);
}

typedef struct {
    fw_profile *p;
    uint64_t *fmap;           /* fns id -> profile function id (0 = not added yet) */
    uint64_t fn_dropped;
    uint64_t fn_unknown;
    fw_label labels[FW_PROFILE_MAX_LABELS];
    size_t nbase;             /* labels shared by every sample */
    char pid[24];
    char group[FW_THREAD_NAME_MAX];   /* thread_group of the sample being added */
} fw_build;

static fw_status fw_build_function(fw_build *b, uint32_t fn, uint64_t *out)
{
    uint64_t *cached;
    const char *name = "?", *file = "";
    int64_t start = 0;
    if (fn == FW_FN_DROPPED) {
        cached = &b->fn_dropped;
        name = "[dropped]";
    } else if (fn == FW_FN_UNKNOWN || fn >= fw_wk.nfns) {
        cached = &b->fn_unknown;
        name = "[unknown]";
    } else {
        cached = &b->fmap[fn];
        if (fw_wk.fns[fn].qualname)
            name = fw_wk.fns[fn].qualname;
        if (fw_wk.fns[fn].filename)
            file = fw_wk.fns[fn].filename;
        start = fw_wk.fns[fn].firstlineno;
    }
    if (*cached == 0) {
        fw_status st = fw_profile_function(b->p, name, file, start, cached);
        if (st != FW_OK)
            return st;
    }
    *out = *cached;
    return FW_OK;
}

static fw_status fw_build_entry(fw_build *b, const fw_agg_entry *e)
{
    uint64_t locs[FW_STACK_MAX_DEPTH + 1];
    size_t depth = e->depth;
    if (depth > FW_STACK_MAX_DEPTH)
        depth = FW_STACK_MAX_DEPTH;
    for (size_t i = 0; i < depth; i++) {
        uint64_t fid;
        fw_status st = fw_build_function(b, e->frames[i].function, &fid);
        if (st == FW_OK)
            st = fw_profile_location(b->p, fid, e->frames[i].line > 0 ? e->frames[i].line : 0,
                                     &locs[i]);
        if (st != FW_OK)
            return st;
    }
    const char *name = e->slot < FW_THREADS_MAX ? fw_wk.slot_names[e->slot] : "";
    fw_thread_group(name, b->group, sizeof b->group);
    b->labels[b->nbase] = (fw_label){"thread_name", name};
    b->labels[b->nbase + 1] = (fw_label){"thread_group", b->group};
    /* Memory types (indexes 2-5) are fw_memory.c's. */
    int64_t values[FW_NTYPES] = {e->cpu_ns, e->wall_ns, 0, 0, 0, 0, e->gil_hold_ns, e->gil_wait_ns};
    fw_tagset_view tv;
    if (e->tags == 0 || !fw_tags_get(e->tags, &tv))
        return fw_profile_add(b->p, locs, depth, b->labels, b->nbase + 2, values);
    /* Dynamic tags: the block's pairs, replacing a static tag of the same key. */
    fw_label labels[FW_PROFILE_MAX_LABELS];
    size_t n = 0;
    for (size_t i = 0; i < b->nbase + 2; i++) {
        bool shadowed = false;
        for (size_t k = 0; k < tv.n && !shadowed; k++)
            shadowed = strcmp(b->labels[i].key, tv.key[k]) == 0;
        if (!shadowed)
            labels[n++] = b->labels[i];
    }
    for (size_t k = 0; k < tv.n && n < FW_PROFILE_MAX_LABELS; k++)
        labels[n++] = (fw_label){tv.key[k], tv.value[k]};
    return fw_profile_add(b->p, locs, depth, labels, n, values);
}

static void fw_build_labels(fw_agent *a, fw_build *b)
{
    size_t n = 0;
    snprintf(b->pid, sizeof b->pid, "%ld", (long)a->pid);
    b->labels[n++] = (fw_label){"app", a->cfg.app};
    b->labels[n++] = (fw_label){"host_ip", a->host_ip};
    b->labels[n++] = (fw_label){"hostname", a->hostname};
    b->labels[n++] = (fw_label){"pid", b->pid};
    for (size_t i = 0; i < a->cfg.ntags && n + 2 < FW_PROFILE_MAX_LABELS; i++)
        b->labels[n++] = (fw_label){a->cfg.tags[i].key, a->cfg.tags[i].value};
    b->nbase = n;
}

/* Builds and encodes the interval's profile into `gz`; false on failure. */
static bool fw_build_profile(fw_agent *a, const fw_interval *iv, fw_buf *gz)
{
    static const fw_sample_type types[FW_NTYPES] = {
        {"cpu", "nanoseconds"},         {"wall", "nanoseconds"},       {"alloc_space", "bytes"},
        {"alloc_objects", "count"},     {"inuse_space", "bytes"},      {"inuse_objects", "count"},
        {"gil_hold", "nanoseconds"},    {"gil_wait", "nanoseconds"}};
    fw_build b = {0};
    fw_buf raw = {0};
    bool ok = false;
    b.p = fw_profile_new(types, FW_NTYPES);
    b.fmap = calloc(fw_wk.nfns ? fw_wk.nfns : 1, sizeof *b.fmap);
    if (!b.p || !b.fmap)
        goto out;
    fw_profile_set_period(b.p, "cpu", "nanoseconds", (int64_t)a->cfg.interval_ns);
    fw_profile_set_time(b.p, iv->start_real, iv->duration);
    fw_build_labels(a, &b);
    for (size_t i = 0; i < fw_agg_count(iv->agg); i++) {
        fw_agg_entry e;
        fw_agg_get(iv->agg, i, &e);
        if (e.cpu_ns == 0 && e.wall_ns == 0 && e.gil_hold_ns == 0)
            continue;   /* a carried-over last running stack that saw no time */
        fw_status st = fw_build_entry(&b, &e);
        if (st == FW_ERR_NOMEM)
            goto out;
        if (st != FW_OK)
            a->samples_dropped++;
    }
    /* The memory profiler's snapshot, taken by fw_worker_flush right after the swap. */
    fw_status mst = fw_memory_add_samples(b.p, b.labels, b.nbase);
    if (mst == FW_ERR_NOMEM)
        goto out;
    if (mst != FW_OK)
        a->samples_dropped++;
    ok = fw_pprof_encode(b.p, &raw) == FW_OK &&
         fw_gzip_compress(raw.data, raw.len, FW_GZIP_LEVEL, gz) == FW_GZIP_OK;
out:
    fw_buf_free(&raw);
    free(b.fmap);
    fw_profile_free(b.p);
    return ok;
}

static bool fw_write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* The app name as a file name: '/' and control characters become '_'. */
static void fw_file_app(const char *app, char *out, size_t cap)
{
    size_t i = 0;
    for (; app[i] && i + 1 < cap; i++) {
        out[i] = app[i];
        if (app[i] == '/' || (unsigned char)app[i] < 0x20)
            out[i] = '_';
    }
    out[i] = '\0';
}

/* Gives `tmp` the name `path` unless a file has it: 0, EEXIST, or another errno (tmp stays).
 * renameat2(RENAME_NOREPLACE) does it in one step; a file system without it gets a hard link
 * (which fails with EEXIST too) and the temporary name removed; one without hard links either
 * gets a check then a rename (racy, but only another agent with our pid would race us). */
static int fw_publish(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return errno;
    if (link(tmp, path) == 0) {
        (void)unlink(tmp);
        return 0;
    }
    if (errno != EPERM && errno != ENOSYS && errno != EOPNOTSUPP)
        return errno;
    if (access(path, F_OK) == 0)
        return EEXIST;
    return rename(tmp, path) == 0 ? 0 : errno;
}

/* Writes OUTPUT/APP-PID-SEQ.pprof.gz with the first free SEQ from *seq on, and sets *seq to it.
 * A file of that name is never replaced: the same pid can write into the same directory again
 * after os.exec* (the new program's agent starts at 1 again) or when the kernel reuses a pid. */
static bool fw_write_file(fw_agent *a, uint32_t *seq, const fw_buf *data)
{
    char app[FW_APP_MAX + 1], path[FW_LAST_PATH_MAX], tmp[FW_LAST_PATH_MAX];
    fw_file_app(a->cfg.app, app, sizeof app);
    int nt = snprintf(tmp, sizeof tmp, "%s/.%s-%ld-%06u.pprof.gz.tmp", a->cfg.output_dir, app,
                      (long)a->pid, (unsigned)*seq);
    /* The final name is 5 characters shorter than the temporary one ("." and ".tmp") and SEQ
     * gains at most 4 digits (10 for UINT32_MAX), so it fits if the temporary one does. */
    if (nt < 0 || (size_t)nt >= sizeof tmp) {
        fw_log(FW_LOG_WARNING, "output path too long: %s", a->cfg.output_dir);
        return false;
    }
    (void)mkdir(a->cfg.output_dir, 0777);   /* the Python layer creates parents */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fw_log(FW_LOG_WARNING, "cannot write %s: %s", tmp, strerror(errno));
        return false;
    }
    bool ok = fw_write_all(fd, data->data, data->len);
    int err = errno;
    ok = (close(fd) == 0) && ok;
    if (!ok) {
        fw_log(FW_LOG_WARNING, "cannot write %s: %s", tmp, strerror(err ? err : errno));
        (void)unlink(tmp);
        return false;
    }
    for (uint32_t s = *seq; s < UINT32_MAX; s++) {
        (void)snprintf(path, sizeof path, "%s/%s-%ld-%06u.pprof.gz", a->cfg.output_dir, app,
                       (long)a->pid, (unsigned)s);
        int rc = fw_publish(tmp, path);
        if (rc == EEXIST)
            continue;
        if (rc != 0) {
            fw_log(FW_LOG_WARNING, "cannot write %s: %s", path, strerror(rc));
            break;
        }
        if (s != *seq)
            fw_log(FW_LOG_DEBUG, "%s-%ld-%06u.pprof.gz exists (written before an exec, or by an "
                   "earlier process with this pid): numbering goes on from %06u", app,
                   (long)a->pid, (unsigned)*seq, (unsigned)s);
        *seq = s;
        memcpy(a->last_path, path, sizeof a->last_path);
        return true;
    }
    (void)unlink(tmp);
    return false;
}

int fw_worker_flush(fw_agent *a, bool final)
{
    fw_interval iv;
    int rc = 0;
    /* Memory first: threads that exited in this interval still have their registry slots
     * (and names) until the swap recycles them. */
    size_t mem_entries = fw_memory_snapshot(a);
    fw_flush_swap(a, &iv);
    size_t entries = fw_agg_nonzero(iv.agg) + mem_entries;
    if (entries > 0 || final) {
        fw_buf gz = {0};
        uint64_t cpu0 = fw_worker_cpu_ns();
        bool built = fw_build_profile(a, &iv, &gz);
        a->last_build_cpu_ns = fw_worker_cpu_ns() - cpu0;
        rc = built ? 0 : -1;
        if (built && a->cfg.output_dir[0]) {
            uint32_t seq = a->seq + 1;
            rc = fw_write_file(a, &seq, &gz) ? 1 : -1;
            if (rc > 0) {
                a->seq = seq;
                a->files_written++;
                fw_log(FW_LOG_DEBUG, "wrote %s (%zu stacks)", a->last_path, entries);
            }
        }
        if (built && a->cfg.server[0]) {
            fw_log(FW_LOG_DEBUG, "profile of %zu stacks (%zu bytes) queued for upload", entries, gz.len);
            fw_upload_push(a, &gz, iv.start_real, iv.start_real + iv.duration);
        }
        a->profiles_built += built;
        a->flush_errors += rc < 0;
        fw_buf_free(&gz);
    }
    fw_agg_clear(iv.agg);
    if (fw_wk.fns_reset_pending) {
        pthread_mutex_lock(&a->lock);
        fw_fns_clear();
        fw_wk.fns_reset_pending = false;
        pthread_mutex_unlock(&a->lock);
    }
    return rc;
}

/* ---- the thread ---- */

/* Makes the worker's thread state (see "Its thread state" at the top) and lets the GIL go
 * again: later PyGILState_Ensure calls of this thread find it and allocate nothing. The
 * starting thread never joins the worker while holding the GIL, so waiting for it is safe. */
static void fw_worker_hold_tstate(void)
{
    if (fw_wk.held_ts || atomic_load(&fw_wk.stop) || !fw_py_usable())
        return;
    fw_wk.held_state = PyGILState_Ensure();
    fw_wk.held_ts = PyEval_SaveThread();
}

/* At the worker's end: deletes its thread state. The stopping thread has let the GIL go; an
 * interpreter that is finalizing would never hand it back, and clears the state itself. */
static void fw_worker_drop_tstate(void)
{
    PyThreadState *ts = fw_wk.held_ts;
    fw_wk.held_ts = NULL;
    if (!ts || !fw_py_usable())
        return;
    PyEval_RestoreThread(ts);
    PyGILState_Release(fw_wk.held_state);
}

static void *fw_worker_main(void *arg)
{
    fw_agent *a = arg;
    /* The worker's thread state (it has one while it holds the GIL) is not the application's. */
    atomic_store(&a->skip_pthread, (uint64_t)pthread_self());
    fw_worker_hold_tstate();
    pthread_mutex_lock(&fw_wk.ready_lock);
    fw_wk.ready = true;
    pthread_cond_signal(&fw_wk.ready_cond);
    pthread_mutex_unlock(&fw_wk.ready_lock);
    uint64_t next_flush = fw_now_mono_ns() + a->cfg.upload_interval_ns;
    uint64_t next_names = fw_now_mono_ns() + FW_NAMES_REFRESH_NS;
    uint64_t retry_names = UINT64_MAX;
    while (!atomic_load(&fw_wk.stop)) {
        uint64_t deadline = next_flush < next_names ? next_flush : next_names;
        fw_agent_wait(a, deadline < retry_names ? deadline : retry_names);
        if (atomic_load(&fw_wk.stop))
            break;
        uint64_t now = fw_now_mono_ns();
        bool all = now >= next_names;
        bool flush_due = now >= next_flush;
        /* A thread is seen a moment before `threading` lists it: ask again shortly. Names are
         * copied at the flush, so a flush first looks up the threads still without a real one. */
        if (atomic_exchange(&a->names_wanted, false) || all || now >= retry_names || flush_due) {
            size_t unnamed = fw_names_refresh(a, all, false, &fw_wk.stop);
            retry_names = unnamed ? now + FW_NAMES_RETRY_NS : UINT64_MAX;
            if (all)
                next_names = now + FW_NAMES_REFRESH_NS;
        }
        /* Remote settings (or the master switch) turned memory profiling on or off: installing
         * or removing allocator hooks needs the GIL, which only this thread may wait for. */
        if (fw_memory_settings_need_gil(a) && !atomic_load(&fw_wk.stop) && fw_py_usable()) {
            PyGILState_STATE g = PyGILState_Ensure();
            fw_memory_follow_settings(a);
            PyGILState_Release(g);
        }
        if (flush_due) {
            (void)fw_worker_flush(a, false);
            next_flush += a->cfg.upload_interval_ns;
            if (next_flush <= now)
                next_flush = now + a->cfg.upload_interval_ns;
        }
    }
    fw_worker_drop_tstate();
    return NULL;
}

int fw_worker_start(fw_agent *a)
{
    sigset_t all, old;
    assert(!fw_wk.started);
    atomic_store(&fw_wk.stop, false);
    fw_wk.held_ts = NULL;   /* after fork the parent's worker state is gone with its thread */
    /* (Re)made here: a fork child may have inherited them in any state. */
    pthread_mutex_init(&fw_wk.ready_lock, NULL);
    pthread_cond_init(&fw_wk.ready_cond, NULL);
    fw_wk.ready = false;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&fw_wk.thread, NULL, fw_worker_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return rc;
    fw_wk.started = true;
    /* Called with the GIL (start(), or the fork child's restart): let it go until the worker
     * has made its thread state, so that this thread is not stopping tracemalloc meanwhile
     * ("Its thread state" at the top). */
    PyThreadState *ts = PyEval_SaveThread();
    pthread_mutex_lock(&fw_wk.ready_lock);
    while (!fw_wk.ready)
        pthread_cond_wait(&fw_wk.ready_cond, &fw_wk.ready_lock);
    pthread_mutex_unlock(&fw_wk.ready_lock);
    PyEval_RestoreThread(ts);
    return 0;
}

void fw_worker_stop(fw_agent *a)
{
    if (!fw_wk.started)
        return;
    atomic_store(&fw_wk.stop, true);
    fw_agent_wake(a);
    pthread_join(fw_wk.thread, NULL);
    fw_wk.started = false;
}

void fw_worker_forget(void)
{
    fw_wk.started = false;
    fw_wk.held_ts = NULL;   /* its thread state went with it (the child deletes the others) */
}
