/*
 * fw_worker: thread names and profile files.
 *
 * The worker is the agent's only thread that ever runs with the GIL, and it holds it only for
 * the time it takes to copy a few strings. Everything else it does (building, encoding,
 * compressing and writing a profile) happens without the GIL and without the agent mutex.
 *
 * Thread names. The sampler knows threads by their thread state; `threading` knows their names.
 * The worker sleeps until its next timed job (a flush, the renaming of every live slot each
 * second because a program may rename its threads, or a retry), or until the sampler wakes it
 * through an eventfd after flagging a new slot (an atomic flag): it then names the unnamed
 * slots at once. A worker that polled instead would wake 100 times a second for nothing, and
 * each wake-up of an agent thread can preempt the application on a busy machine. A refresh runs in three steps so
 * that the GIL is never awaited while the agent mutex is held:
 *   1. under the mutex, list the slots to name as (slot, generation, pthread id);
 *   2. with the GIL and without the mutex, look each pthread id up in threading._active (and
 *      the ident of each thread in threading._limbo), reading `_name`: sys.modules is consulted,
 *      `threading` is never imported, and errors are cleared, never propagated;
 *   3. under the mutex, store each name found into its slot if the slot's generation has not
 *      changed in between (else the slot is now another thread).
 * A slot that `threading` does not list yet is asked for again 20 ms later; one no refresh could
 * name after a few attempts (a thread made by _thread directly) gets a fallback name,
 * "tid-<tid>", whose group is "tid-*" (a later refresh still replaces it if a name appears).
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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_worker.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fw_agent.h"
#include "fw_gzip.h"
#include "fw_pprof.h"
#include "fw_profile.h"
#include "fw_tags.h"
#include "fw_upload.h"
#include "fw_memory.h"

#define FW_NAMES_REFRESH_NS 1000000000ull    /* every live thread renamed each second */
#define FW_NAMES_RETRY_NS 20000000ull        /* a slot `threading` did not list yet */
#define FW_GZIP_LEVEL 6
#define FW_NTYPES 8                          /* sample types of an agent profile */

typedef struct {
    int32_t slot;
    uint32_t generation;
    uint64_t pthread_id;
    bool found;
    char name[FW_THREAD_NAME_MAX];
} fw_name_req;

typedef struct {
    fw_name_req reqs[FW_THREADS_MAX];
    size_t n;
} fw_name_batch;

int fw_worker_init(fw_agent *a)
{
    assert(a->name_buf == NULL && a->slot_names == NULL);
    a->name_buf = calloc(1, sizeof(fw_name_batch));
    a->slot_names = calloc(FW_THREADS_MAX, sizeof *a->slot_names);
    a->spare = fw_agg_new();
    a->worker_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    a->worker_wake_open = a->worker_wake_fd >= 0;
    if (!a->name_buf || !a->slot_names || !a->spare || !a->worker_wake_open) {
        fw_worker_release(a);
        return ENOMEM;
    }
    return 0;
}

static void fw_fns_clear(fw_agent *a)
{
    for (size_t i = 0; i < a->nfns; i++) {
        free(a->fns[i].qualname);
        free(a->fns[i].filename);
    }
    a->nfns = 0;
}

void fw_worker_release(fw_agent *a)
{
    fw_fns_clear(a);
    free(a->fns);
    a->fns = NULL;
    a->fns_cap = 0;
    a->fns_reset_pending = false;
    free(a->name_buf);
    a->name_buf = NULL;
    free(a->slot_names);
    a->slot_names = NULL;
    fw_agg_free(a->spare);
    a->spare = NULL;
    if (a->worker_wake_open)
        close(a->worker_wake_fd);
    a->worker_wake_open = false;
    a->worker_wake_fd = -1;
}

/* ---- thread names ---- */

static void fw_names_collect(fw_agent *a, fw_name_batch *b, bool all)
{
    b->n = 0;
    pthread_mutex_lock(&a->lock);
    for (int32_t i = 0; a->threads && i < (int32_t)fw_threads_span(a->threads); i++) {
        const fw_thread_slot *s = fw_threads_slot(a->threads, i);
        if (!s || !s->alive || (!all && s->named))
            continue;
        fw_name_req *r = &b->reqs[b->n++];
        r->slot = i;
        r->generation = s->generation;
        r->pthread_id = s->pthread_id;
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

/* GIL held. Stores the name of `thread` into every request for `ident`. */
static void fw_names_store(fw_name_batch *b, uint64_t ident, PyObject *thread)
{
    fw_name_req key = {.pthread_id = ident};
    fw_name_req *r = bsearch(&key, b->reqs, b->n, sizeof *r, fw_name_req_cmp);
    if (!r)
        return;
    PyObject *name = PyObject_GetAttrString(thread, "_name");
    if (!name || !PyUnicode_Check(name)) {
        Py_XDECREF(name);
        PyErr_Clear();
        return;
    }
    Py_ssize_t len = 0;
    const char *utf8 = PyUnicode_AsUTF8AndSize(name, &len);
    if (utf8) {
        while (r > b->reqs && r[-1].pthread_id == ident)
            r--;
        for (; r < b->reqs + b->n && r->pthread_id == ident; r++) {
            fw_copy_utf8(r->name, sizeof r->name, utf8, (size_t)len);
            r->found = true;
        }
    }
    PyErr_Clear();
    Py_DECREF(name);
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
        bool ok;
        if (keyed_by_ident) {
            ok = fw_ident_of(key, &ident);
        } else {
            PyObject *obj = PyObject_GetAttrString(thread, "_ident");
            ok = obj && obj != Py_None && fw_ident_of(obj, &ident);
            Py_XDECREF(obj);
            PyErr_Clear();
        }
        if (ok)
            fw_names_store(b, ident, thread);
    }
    Py_XDECREF(items);
    Py_XDECREF(dict);
}

static void fw_names_read_with_gil(fw_name_batch *b)
{
    PyObject *modules = PyImport_GetModuleDict();   /* borrowed */
    PyObject *threading = modules ? PyDict_GetItemString(modules, "threading") : NULL;
    if (!threading)
        return;   /* never imported by the program: no names to find */
    Py_INCREF(threading);
    fw_names_from_dict(b, threading, "_active", true);
    fw_names_from_dict(b, threading, "_limbo", false);
    Py_DECREF(threading);
    PyErr_Clear();
}

/* Returns how many of the slots asked for still have no name. */
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
        } else if (!s->named && ++s->name_attempts >= FW_THREAD_NAME_ATTEMPTS) {
            snprintf(s->name, sizeof s->name, "tid-%lld", (long long)s->tid);
            s->named = true;
        }
        unnamed += !s->named;
    }
    pthread_mutex_unlock(&a->lock);
    return unnamed;
}

static bool fw_python_usable(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsInitialized() && !Py_IsFinalizing();
#else
    return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

size_t fw_worker_refresh_names(fw_agent *a, bool all, bool have_gil)
{
    fw_name_batch *b = a->name_buf;
    if (!b)
        return 0;
    fw_names_collect(a, b, all);
    if (b->n == 0)
        return 0;
    qsort(b->reqs, b->n, sizeof b->reqs[0], fw_name_req_cmp);
    if (have_gil) {
        fw_names_read_with_gil(b);
    } else {
        /* A thread that asks for the GIL during finalization is never given it back, so we do
         * not ask once the interpreter is going away (stop() has named everyone by then). */
        if (atomic_load(&a->worker_stop) || !fw_python_usable())
            return 0;
        PyGILState_STATE g = PyGILState_Ensure();
        fw_names_read_with_gil(b);
        PyGILState_Release(g);
    }
    return fw_names_apply(a, b);
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
    if (count > a->fns_cap) {
        size_t cap = a->fns_cap ? a->fns_cap : 1024;
        while (cap < count)
            cap *= 2;
        fw_fn_copy *fns = realloc(a->fns, cap * sizeof *fns);
        if (!fns)
            count = a->fns_cap;    /* keep what fits; missing ids print as "?" */
        else {
            a->fns = fns;
            a->fns_cap = cap;
        }
    }
    for (size_t id = a->nfns; id < count; id++) {
        const fw_function_info *info = fw_stack_function(a->resolver, (uint32_t)id);
        fw_fn_copy *c = &a->fns[id];
        c->qualname = (info && info->qualname) ? strdup(info->qualname) : NULL;
        c->filename = (info && info->filename) ? strdup(info->filename) : NULL;
        c->firstlineno = info ? info->firstlineno : 0;
    }
    if (count > a->nfns)
        a->nfns = count;
}

/* Under the mutex: the names of the interval being written. */
static void fw_slot_names_copy(fw_agent *a)
{
    for (int32_t i = 0; i < (int32_t)fw_threads_span(a->threads); i++) {
        const fw_thread_slot *s = fw_threads_slot(a->threads, i);
        char *dst = a->slot_names[i];
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
    a->active = a->spare;
    a->spare = old;
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
        a->fns_reset_pending = true;
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

static fw_status fw_build_function(fw_agent *a, fw_build *b, uint32_t fn, uint64_t *out)
{
    uint64_t *cached;
    const char *name = "?", *file = "";
    int64_t start = 0;
    if (fn == FW_FN_DROPPED) {
        cached = &b->fn_dropped;
        name = "[dropped]";
    } else if (fn == FW_FN_UNKNOWN || fn >= a->nfns) {
        cached = &b->fn_unknown;
        name = "[unknown]";
    } else {
        cached = &b->fmap[fn];
        if (a->fns[fn].qualname)
            name = a->fns[fn].qualname;
        if (a->fns[fn].filename)
            file = a->fns[fn].filename;
        start = a->fns[fn].firstlineno;
    }
    if (*cached == 0) {
        fw_status st = fw_profile_function(b->p, name, file, start, cached);
        if (st != FW_OK)
            return st;
    }
    *out = *cached;
    return FW_OK;
}

static fw_status fw_build_entry(fw_agent *a, fw_build *b, const fw_agg_entry *e)
{
    uint64_t locs[FW_STACK_MAX_DEPTH + 1];
    size_t depth = e->depth;
    if (depth > FW_STACK_MAX_DEPTH)
        depth = FW_STACK_MAX_DEPTH;
    for (size_t i = 0; i < depth; i++) {
        uint64_t fid;
        fw_status st = fw_build_function(a, b, e->frames[i].function, &fid);
        if (st == FW_OK)
            st = fw_profile_location(b->p, fid, e->frames[i].line > 0 ? e->frames[i].line : 0,
                                     &locs[i]);
        if (st != FW_OK)
            return st;
    }
    const char *name = e->slot < FW_THREADS_MAX ? a->slot_names[e->slot] : "";
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
    b.fmap = calloc(a->nfns ? a->nfns : 1, sizeof *b.fmap);
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
        fw_status st = fw_build_entry(a, &b, &e);
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
    if (a->fns_reset_pending) {
        pthread_mutex_lock(&a->lock);
        fw_fns_clear(a);
        a->fns_reset_pending = false;
        pthread_mutex_unlock(&a->lock);
    }
    return rc;
}

/* ---- the thread ---- */

void fw_worker_wake(fw_agent *a)
{
    uint64_t one = 1;
    if (a->worker_wake_open)
        (void)!write(a->worker_wake_fd, &one, sizeof one);   /* EAGAIN: a wake-up is pending */
}

/* Sleeps until `deadline` (monotonic ns) or a wake-up, whichever comes first. */
static void fw_worker_sleep_until(fw_agent *a, uint64_t deadline)
{
    uint64_t now = fw_now_mono_ns();
    uint64_t ns = deadline > now ? deadline - now : 0;
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    struct pollfd pfd = {.fd = a->worker_wake_fd, .events = POLLIN};
    if (ppoll(&pfd, 1, &ts, NULL) > 0) {
        uint64_t count;
        (void)!read(a->worker_wake_fd, &count, sizeof count);
    }
}

static void *fw_worker_main(void *arg)
{
    fw_agent *a = arg;
    /* The worker's thread state (it has one while it holds the GIL) is not the application's. */
    atomic_store(&a->skip_pthread, (uint64_t)pthread_self());
    uint64_t next_flush = fw_now_mono_ns() + a->cfg.upload_interval_ns;
    uint64_t next_names = fw_now_mono_ns() + FW_NAMES_REFRESH_NS;
    uint64_t retry_names = UINT64_MAX;
    while (!atomic_load(&a->worker_stop)) {
        uint64_t deadline = next_flush < next_names ? next_flush : next_names;
        fw_worker_sleep_until(a, deadline < retry_names ? deadline : retry_names);
        if (atomic_load(&a->worker_stop))
            break;
        uint64_t now = fw_now_mono_ns();
        bool all = now >= next_names;
        if (atomic_exchange(&a->names_wanted, false) || all || now >= retry_names) {
            /* A thread is seen a moment before `threading` lists it: ask again shortly. */
            size_t unnamed = fw_worker_refresh_names(a, all, false);
            retry_names = unnamed ? now + FW_NAMES_RETRY_NS : UINT64_MAX;
            if (all)
                next_names = now + FW_NAMES_REFRESH_NS;
        }
        /* Remote settings (or the master switch) turned memory profiling on or off: installing
         * or removing allocator hooks needs the GIL, which only this thread may wait for. */
        if (fw_memory_settings_need_gil(a) && !atomic_load(&a->worker_stop) && fw_python_usable()) {
            PyGILState_STATE g = PyGILState_Ensure();
            fw_memory_follow_settings(a);
            PyGILState_Release(g);
        }
        if (now >= next_flush) {
            (void)fw_worker_flush(a, false);
            next_flush += a->cfg.upload_interval_ns;
            if (next_flush <= now)
                next_flush = now + a->cfg.upload_interval_ns;
        }
    }
    return NULL;
}

int fw_worker_start(fw_agent *a)
{
    sigset_t all, old;
    assert(!a->worker_started);
    atomic_store(&a->worker_stop, false);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&a->worker_thread, NULL, fw_worker_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        a->worker_started = true;
    return rc;
}

void fw_worker_stop(fw_agent *a)
{
    if (!a->worker_started)
        return;
    atomic_store(&a->worker_stop, true);
    fw_worker_wake(a);
    pthread_join(a->worker_thread, NULL);
    a->worker_started = false;
}

/* ---- host information ---- */

static bool fw_ip_usable(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        uint32_t addr = ntohl(in->sin_addr.s_addr);
        return addr != 0 && (addr >> 24) != 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return !IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) && !IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) &&
               !IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr);
    }
    return false;
}

static bool fw_ip_format(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *addr = sa->sa_family == AF_INET
        ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
        : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    return inet_ntop(sa->sa_family, addr, out, (socklen_t)cap) != NULL;
}

/* The source address the kernel would use towards a public address. connect() on a UDP socket
 * only chooses a route; nothing is sent. */
static bool fw_ip_by_route(int family, char *out, size_t cap)
{
    struct sockaddr_storage dst = {0}, src = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)(void *)&dst;
        in->sin_family = AF_INET;
        in->sin_port = htons(53);
        inet_pton(AF_INET, "8.8.8.8", &in->sin_addr);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&dst;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(53);
        inet_pton(AF_INET6, "2001:4860:4860::8888", &in6->sin6_addr);
        len = sizeof *in6;
    }
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&dst, len) == 0;
    socklen_t slen = sizeof src;
    ok = ok && getsockname(fd, (struct sockaddr *)&src, &slen) == 0 &&
         fw_ip_usable((struct sockaddr *)&src) && fw_ip_format((struct sockaddr *)&src, out, cap);
    close(fd);
    return ok;
}

static bool fw_ip_by_interface(int family, char *out, size_t cap)
{
    struct ifaddrs *list = NULL;
    bool ok = false;
    if (getifaddrs(&list) != 0)
        return false;
    for (struct ifaddrs *i = list; i && !ok; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != family || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP))
            continue;
        ok = fw_ip_usable(i->ifa_addr) && fw_ip_format(i->ifa_addr, out, cap);
    }
    freeifaddrs(list);
    return ok;
}

void fw_host_info(char *hostname, size_t hostlen, char *ip, size_t iplen)
{
    if (gethostname(hostname, hostlen) != 0)
        snprintf(hostname, hostlen, "unknown");
    hostname[hostlen - 1] = '\0';
    if (fw_ip_by_route(AF_INET, ip, iplen) || fw_ip_by_interface(AF_INET, ip, iplen) ||
        fw_ip_by_route(AF_INET6, ip, iplen) || fw_ip_by_interface(AF_INET6, ip, iplen))
        return;
    snprintf(ip, iplen, "127.0.0.1");
}
