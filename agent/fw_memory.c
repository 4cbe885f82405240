/*
 * fw_memory: what happens to a sampled allocation, and how samples become a profile.
 *
 * The hooks (fw_alloc_hooks.c) decide WHICH allocations are sampled; this file records them.
 * A sample is an allocation of s bytes that had probability p = 1 - exp(-s/T) of being chosen
 * (T: the mean sampling interval). It stands for s/p bytes and 1/p allocations, the unbiased
 * weights Go's and tcmalloc's heap profilers use; docs/ARCHITECTURE.md ("Memory profiling")
 * writes the estimator and its variance down.
 *
 * Sites. A sample is charged to a site: (Python stack, thread, dynamic tag set). The stack is
 * walked from the allocating thread's own thread state (PyGILState_GetThisThreadState(): a
 * thread-local read, valid with or without the GIL) through fw_pyversion/fw_stack. When the
 * thread holds the GIL (fw_py_own_thread_if_gil_held) its own state, frames and context cannot
 * be freed under it, and fw_memread runs in direct mode (plain loads, no system call); a RAW
 * allocation made without the GIL reads through process_vm_readv, which reads stale data at
 * worst, never faults. A thread with no Python frame (a native
 * thread, or one between Python calls) is charged to "[no Python frame]". Sites are interned in
 * a chained hash table and carry two sets of sums: the allocations of the current interval
 * (alloc_*) and the live samples charged to them (inuse_*). A site with neither is freed at the
 * next snapshot. The table is bounded (FW_MEM_SITES_MAX); past it samples go to a "[dropped]"
 * site, so totals stay right when shapes are lost.
 *
 * The resolver. Memory has its own fw_stack_resolver: the sampler's belongs to the agent mutex,
 * which an allocating thread must never wait for (a fork hook holds it while Python code, which
 * allocates, still runs). Function ids of this resolver are referenced by sites that live as
 * long as their allocations, so the registry is never reset; once it is full, new functions
 * show as "[too many functions]" (32768 distinct functions in sampled stacks is a lot).
 *
 * Live samples. An open-addressing table keyed by address (linear probing, backward-shift
 * deletion: no tombstones), grown by doubling up to FW_MEM_LIVE_MAX entries at half load. A
 * free is matched in O(1): the counting filter (fw_alloc_hooks.h) rules out nearly every
 * unsampled address without the lock; the rest cost one probe sequence under it. When the
 * table is full a new sample still counts in alloc_* but is not tracked as live: `untracked`
 * counts those, and nothing already tracked is ever evicted (an eviction would make inuse lie
 * silently). A reallocation takes the old block's record out before the block is released
 * (so a new owner of the address cannot be confused with it) and puts it back if the
 * reallocation failed.
 *
 * Locking. One mutex guards everything above. It is taken by a thread that samples, by a free
 * that the filter could not rule out, and by the worker once per interval; none of them waits
 * for anything else while holding it (no GIL, no agent mutex, no Python allocation: the tables
 * use libc malloc, which the hooks do not see). pthread_atfork holds it across fork(), so the
 * child inherits consistent tables; the child keeps its live samples (its heap is a copy of the
 * parent's, so they are still live there) and forgets the interval's allocations, which the
 * parent reports.
 *
 * Snapshot and build. At each flush the worker copies, under the mutex, every site with a
 * value (frames included, so the build needs no lock), zeroes the interval sums, frees empty
 * sites and copies the names of new functions; then, under the agent mutex and not the memory
 * one, it finds each thread's name in the agent's registry (remembered in a small cache, so a
 * thread that has exited by then keeps its name). fw_memory_add_samples() turns the copy into
 * samples of the worker's profile, with the same labels as CPU samples.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_memory.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_agent.h"
#include "fw_alloc_hooks.h"
#include "fw_memread.h"
#include "fw_pyversion.h"
#include "fw_sampler.h"
#include "fw_stack.h"
#include "fw_tags.h"
#include "fw_threads.h"

#define FW_MEM_CODES 8192
#define FW_MEM_FUNCTIONS 32768
#define FW_MEM_SITE_BUCKETS 65536u               /* 2 x FW_MEM_SITES_MAX */
#define FW_MEM_LIVE_SLOTS_MAX ((size_t)2 * FW_MEM_LIVE_MAX)
#define FW_MEM_LIVE_SLOTS_MIN 1024u
#define FW_MEM_FN_NATIVE (UINT32_MAX - 2u)      /* "[no Python frame]" */
#define FW_MEM_DROPPED_SITE 0u
#define FW_MEM_NAME_CACHE 512
#define FW_MEM_MAX_TYPES 16

_Static_assert(FW_MEM_SITE_BUCKETS >= 2u * FW_MEM_SITES_MAX, "sparse site buckets");
_Static_assert((FW_MEM_LIVE_SLOTS_MAX & (FW_MEM_LIVE_SLOTS_MAX - 1)) == 0, "power of two");

_Atomic uint8_t fw_mem_filter[1u << FW_MEM_FILTER_BITS];

typedef struct {
    uint64_t hash;
    uint64_t pthread_id;
    int64_t tid;
    uint32_t tags;
    uint32_t depth;
    fw_frame *frames;        /* malloc'd (site 0: static) */
    double alloc_bytes;      /* estimated, this interval */
    double alloc_objs;
    double live_bytes;       /* estimated, live samples charged here */
    double live_objs;
    uint32_t live_n;
    int32_t chain;           /* next site in the bucket, or in the free list; -1 ends */
    bool in_use;
} fw_site;

static const fw_frame fw_dropped_frame = {FW_FN_DROPPED, 0};

static struct {
    pthread_mutex_t lock;
    bool ready;                       /* tables allocated */
    fw_stack_resolver *resolver;
    fw_site *sites;
    uint32_t nsites;                  /* high-water mark of sites[] */
    uint32_t sites_cap;
    uint32_t sites_used;
    int32_t free_head;
    int32_t *buckets;                 /* FW_MEM_SITE_BUCKETS heads */
    fw_mem_live *live;
    size_t live_cap;                  /* slots, a power of two */
    size_t live_n;
    fw_frame frames[FW_STACK_MAX_DEPTH];   /* walk scratch (used under the lock) */
    fw_memory_stats stats;
} fw_m = {.lock = PTHREAD_MUTEX_INITIALIZER, .free_head = -1};

static pthread_once_t fw_atfork_once = PTHREAD_ONCE_INIT;

/* ---- the snapshot (worker only) ---- */

typedef struct {
    uint64_t pthread_id;
    int64_t tid;
    char name[FW_THREAD_NAME_MAX];
} fw_snap_thread;

typedef struct {
    uint32_t thread;         /* index in fw_s.threads, UINT32_MAX = the dropped site */
    uint32_t tags;
    uint32_t depth;
    size_t frames_off;
    int64_t v[4];            /* alloc_space, alloc_objects, inuse_space, inuse_objects */
} fw_snap_entry;

static struct {
    fw_snap_entry *e;
    size_t n, cap;
    fw_frame *frames;
    size_t nframes, frames_cap;
    fw_snap_thread *threads;
    size_t nthreads, threads_cap;
    fw_fn_copy *fns;          /* copies of the memory resolver's functions, by id */
    size_t nfns, fns_cap;
    fw_snap_thread cache[FW_MEM_NAME_CACHE];   /* names of threads seen before */
    size_t cache_next;
} fw_s;

/* ---- live table ---- */

static size_t fw_live_home(uintptr_t addr, size_t cap)
{
    uint64_t h = ((uint64_t)addr >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 40) & (cap - 1);   /* the well-mixed high bits; cap <= 2^24 */
}

static void fw_filter_add(uintptr_t addr, int delta)
{
    _Atomic uint8_t *c = &fw_mem_filter[fw_mem_filter_index(addr)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    if (v == 255)
        return;   /* saturated: stays */
    if (delta > 0)
        atomic_store_explicit(c, (uint8_t)(v + 1), memory_order_relaxed);
    else if (v > 0)
        atomic_store_explicit(c, (uint8_t)(v - 1), memory_order_relaxed);
}

static size_t fw_live_find(uintptr_t addr)
{
    size_t mask = fw_m.live_cap - 1;
    for (size_t i = fw_live_home(addr, fw_m.live_cap);; i = (i + 1) & mask) {
        if (fw_m.live[i].addr == addr || fw_m.live[i].addr == 0)
            return i;
    }
}

static void fw_site_live(fw_site *s, const fw_mem_live *r, int dir)
{
    double wb = (double)r->size / (double)r->prob, wo = 1.0 / (double)r->prob;
    if (dir > 0) {
        s->live_n++;
        s->live_bytes += wb;
        s->live_objs += wo;
    } else {
        assert(s->live_n > 0);
        if (--s->live_n == 0) {
            s->live_bytes = 0.0;   /* no drift from adding and subtracting floats */
            s->live_objs = 0.0;
        } else {
            s->live_bytes -= wb;
            s->live_objs -= wo;
        }
    }
}

/* Removes slot i, shifting back the entries of its probe run. */
static void fw_live_remove_at(size_t i)
{
    size_t mask = fw_m.live_cap - 1;
    fw_mem_live *t = fw_m.live;
    fw_filter_add(t[i].addr, -1);
    fw_site_live(&fw_m.sites[t[i].site], &t[i], -1);
    fw_m.live_n--;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; t[j].addr != 0; j = (j + 1) & mask) {
        size_t home = fw_live_home(t[j].addr, fw_m.live_cap);
        /* j may fill the hole if its home is not within (hole, j] cyclically. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t[hole] = t[j];
            hole = j;
        }
    }
    t[hole].addr = 0;
}

static bool fw_live_grow(void)
{
    size_t cap = fw_m.live_cap ? fw_m.live_cap * 2 : FW_MEM_LIVE_SLOTS_MIN;
    if (cap > FW_MEM_LIVE_SLOTS_MAX)
        return false;
    fw_mem_live *t = calloc(cap, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < fw_m.live_cap; i++) {
        if (fw_m.live[i].addr == 0)
            continue;
        size_t j = fw_live_home(fw_m.live[i].addr, cap);
        while (t[j].addr != 0)
            j = (j + 1) & (cap - 1);
        t[j] = fw_m.live[i];
    }
    free(fw_m.live);
    fw_m.live = t;
    fw_m.live_cap = cap;
    return true;
}

/* Under the lock. False when the table is full (the sample is untracked). */
static bool fw_live_insert(const fw_mem_live *rec)
{
    /* At most half full, so probe runs stay short and always end; at the largest size that
     * is FW_MEM_LIVE_MAX entries. */
    if ((fw_m.live_n + 1) * 2 > fw_m.live_cap && !fw_live_grow())
        return false;
    size_t i = fw_live_find(rec->addr);
    if (fw_m.live[i].addr == rec->addr) {
        /* Still recorded: its free went by unseen (freed through a path we do not wrap).
         * The new block is the truth. */
        fw_live_remove_at(i);
        i = fw_live_find(rec->addr);
    }
    fw_m.live[i] = *rec;
    fw_m.live_n++;
    fw_filter_add(rec->addr, +1);
    fw_site_live(&fw_m.sites[rec->site], rec, +1);
    return true;
}

static void fw_live_clear(void)
{
    if (fw_m.live)
        memset(fw_m.live, 0, fw_m.live_cap * sizeof *fw_m.live);
    fw_m.live_n = 0;
    for (size_t i = 0; i < (1u << FW_MEM_FILTER_BITS); i++)
        atomic_store_explicit(&fw_mem_filter[i], 0, memory_order_relaxed);
    for (uint32_t i = 0; i < fw_m.nsites; i++) {
        fw_m.sites[i].live_n = 0;
        fw_m.sites[i].live_bytes = 0.0;
        fw_m.sites[i].live_objs = 0.0;
    }
}

/* ---- sites ---- */

static uint64_t fw_site_hash(const fw_frame *f, uint32_t depth, uint64_t pth, int64_t tid,
                             uint32_t tags)
{
    uint64_t h = 0xcbf29ce484222325ull ^ pth ^ ((uint64_t)tid << 17) ^ ((uint64_t)tags << 41);
    for (uint32_t i = 0; i < depth; i++) {
        h ^= ((uint64_t)f[i].function << 32) | (uint32_t)f[i].line;
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

static void fw_site_unlink(uint32_t idx)
{
    int32_t *link = &fw_m.buckets[fw_m.sites[idx].hash & (FW_MEM_SITE_BUCKETS - 1)];
    while (*link != (int32_t)idx) {
        assert(*link >= 0);
        link = &fw_m.sites[*link].chain;
    }
    *link = fw_m.sites[idx].chain;
}

static uint32_t fw_site_intern(const fw_frame *f, uint32_t depth, uint64_t pth, int64_t tid,
                               uint32_t tags)
{
    uint64_t h = fw_site_hash(f, depth, pth, tid, tags);
    int32_t *head = &fw_m.buckets[h & (FW_MEM_SITE_BUCKETS - 1)];
    for (int32_t i = *head; i >= 0; i = fw_m.sites[i].chain) {
        const fw_site *s = &fw_m.sites[i];
        if (s->hash == h && s->pthread_id == pth && s->tid == tid && s->tags == tags &&
            s->depth == depth && memcmp(s->frames, f, depth * sizeof *f) == 0)
            return (uint32_t)i;
    }
    if (fw_m.sites_used >= FW_MEM_SITES_MAX)
        goto dropped;
    int32_t idx = fw_m.free_head;
    if (idx < 0) {
        if (fw_m.nsites == fw_m.sites_cap) {
            uint32_t cap = fw_m.sites_cap * 2;
            fw_site *s = realloc(fw_m.sites, cap * sizeof *s);
            if (!s)
                goto dropped;
            fw_m.sites = s;
            fw_m.sites_cap = cap;
        }
        idx = (int32_t)fw_m.nsites++;
    } else {
        fw_m.free_head = fw_m.sites[idx].chain;
    }
    fw_frame *copy = malloc(depth * sizeof *copy);
    fw_site *s = &fw_m.sites[idx];
    if (!copy) {
        s->in_use = false;
        s->chain = fw_m.free_head;
        fw_m.free_head = idx;
        goto dropped;
    }
    memcpy(copy, f, depth * sizeof *copy);
    *s = (fw_site){.hash = h, .pthread_id = pth, .tid = tid, .tags = tags, .depth = depth,
                   .frames = copy, .chain = *head, .in_use = true};
    *head = idx;
    fw_m.sites_used++;
    return (uint32_t)idx;
dropped:
    fw_m.stats.sites_dropped++;
    return FW_MEM_DROPPED_SITE;
}

static void fw_site_free(uint32_t idx)
{
    assert(idx != FW_MEM_DROPPED_SITE);
    fw_site *s = &fw_m.sites[idx];
    fw_site_unlink(idx);
    free(s->frames);
    s->frames = NULL;
    s->in_use = false;
    s->chain = fw_m.free_head;
    fw_m.free_head = (int32_t)idx;
    fw_m.sites_used--;
}

/* ---- tables: creation, release, fork ---- */

static void fw_tables_free(void)
{
    for (uint32_t i = 1; fw_m.sites && i < fw_m.nsites; i++)
        if (fw_m.sites[i].in_use)
            free(fw_m.sites[i].frames);
    free(fw_m.sites);
    free(fw_m.buckets);
    free(fw_m.live);
    fw_stack_resolver_free(fw_m.resolver);
    fw_m.sites = NULL;
    fw_m.buckets = NULL;
    fw_m.live = NULL;
    fw_m.resolver = NULL;
    fw_m.nsites = fw_m.sites_cap = fw_m.sites_used = 0;
    fw_m.free_head = -1;
    fw_m.live_cap = fw_m.live_n = 0;
    for (size_t i = 0; i < (1u << FW_MEM_FILTER_BITS); i++)
        atomic_store_explicit(&fw_mem_filter[i], 0, memory_order_relaxed);
    fw_m.ready = false;
}

/* Under the lock. */
static bool fw_tables_alloc(void)
{
    if (fw_m.ready)
        return true;
    fw_m.resolver = fw_stack_resolver_new(FW_MEM_CODES, FW_MEM_FUNCTIONS);
    fw_m.sites_cap = 1024;
    fw_m.sites = calloc(fw_m.sites_cap, sizeof *fw_m.sites);
    fw_m.buckets = malloc(FW_MEM_SITE_BUCKETS * sizeof *fw_m.buckets);
    if (!fw_m.resolver || !fw_m.sites || !fw_m.buckets || !fw_live_grow()) {
        fw_tables_free();
        return false;
    }
    for (size_t i = 0; i < FW_MEM_SITE_BUCKETS; i++)
        fw_m.buckets[i] = -1;
    /* Site 0, "[dropped]", is never in a bucket and never freed. */
    fw_m.sites[0] = (fw_site){.frames = (fw_frame *)&fw_dropped_frame, .depth = 1, .chain = -1,
                              .in_use = true};
    fw_m.nsites = 1;
    fw_m.free_head = -1;
    fw_m.ready = true;
    return true;
}

static void fw_mem_prepare_fork(void)
{
    pthread_mutex_lock(&fw_m.lock);
}

static void fw_mem_parent_fork(void)
{
    pthread_mutex_unlock(&fw_m.lock);
}

static void fw_mem_child_fork(void)
{
    /* The only thread here is the one that took the lock in prepare: it may release it. */
    for (uint32_t i = 0; i < fw_m.nsites; i++) {
        fw_m.sites[i].alloc_bytes = 0.0;   /* the parent reports these */
        fw_m.sites[i].alloc_objs = 0.0;
    }
    fw_hooks_after_fork_child();
    pthread_mutex_unlock(&fw_m.lock);
}

static void fw_mem_register_atfork(void)
{
    if (pthread_atfork(fw_mem_prepare_fork, fw_mem_parent_fork, fw_mem_child_fork) != 0)
        fw_log(FW_LOG_WARNING, "memory profiler: cannot register fork handlers");
}

/* ---- called by the hooks ---- */

void fw_memory_filter_mark(uintptr_t addr, int delta)
{
    pthread_mutex_lock(&fw_m.lock);
    fw_filter_add(addr, delta);
    pthread_mutex_unlock(&fw_m.lock);
}

void fw_memory_record(uintptr_t addr, uint64_t size, uint64_t interval, int64_t tid, bool tracked)
{
    uint64_t t0 = fw_now_mono_ns();
    float prob = (float)fw_hooks_sample_prob(size, interval);
    if (!(prob > 0.0f))
        prob = 1e-30f;   /* size 0: weight it like the smallest float says, not infinity */
    /* A thread that holds the GIL reads its own state, frames and context with plain loads
     * (direct mode, fw_memread.h): nothing on its own stack can be freed under it. Without the
     * GIL (a RAW allocation in a thread that released it) every read is a checked copy. */
    uintptr_t own = fw_py_own_thread_if_gil_held();
    bool direct = own != 0, prev_mode = false;
    if (direct)
        prev_mode = fw_memread_direct_begin();
    else
        own = (uintptr_t)PyGILState_GetThisThreadState();
    fw_py_thread th;
    bool have = own != 0 && fw_py_read_thread(own, &th);
    uint32_t tags = have ? fw_tags_of_context(th.context) : 0;
    uint64_t pth = (uint64_t)pthread_self();

    pthread_mutex_lock(&fw_m.lock);
    if (!fw_m.ready) {
        pthread_mutex_unlock(&fw_m.lock);
        if (direct)
            fw_memread_direct_end(prev_mode);
        return;
    }
    int depth = 0;
    if (have && th.top_frame != 0) {
        depth = fw_stack_walk(fw_m.resolver, th.top_frame, fw_m.frames, FW_STACK_MAX_DEPTH);
        if (depth < 0) {
            fw_m.stats.walk_failures++;
            fw_m.frames[0] = (fw_frame){FW_FN_UNKNOWN, 0};
            depth = 1;
        }
    }
    if (direct)
        fw_memread_direct_end(prev_mode);
    if (depth == 0) {
        fw_m.stats.no_python++;
        fw_m.frames[0] = (fw_frame){FW_MEM_FN_NATIVE, 0};
        depth = 1;
    }
    uint32_t site = fw_site_intern(fw_m.frames, (uint32_t)depth, pth, tid, tags);
    fw_mem_live rec = {.addr = addr, .size = size, .site = site, .prob = prob};
    fw_site *s = &fw_m.sites[site];
    s->alloc_bytes += (double)size / (double)prob;
    s->alloc_objs += 1.0 / (double)prob;
    fw_m.stats.samples++;
    if (direct)
        fw_m.stats.direct++;
    if (!tracked || !fw_live_insert(&rec))
        fw_m.stats.untracked++;
    fw_m.stats.sample_ns += fw_now_mono_ns() - t0;
    pthread_mutex_unlock(&fw_m.lock);
}

void fw_memory_forget(uintptr_t addr)
{
    pthread_mutex_lock(&fw_m.lock);
    if (fw_m.ready && fw_m.live_n > 0) {
        size_t i = fw_live_find(addr);
        if (fw_m.live[i].addr == addr) {
            fw_live_remove_at(i);
            fw_m.stats.frees_matched++;
        }
    }
    pthread_mutex_unlock(&fw_m.lock);
}

bool fw_memory_take(uintptr_t addr, fw_mem_live *out)
{
    bool found = false;
    pthread_mutex_lock(&fw_m.lock);
    if (fw_m.ready && fw_m.live_n > 0) {
        size_t i = fw_live_find(addr);
        if (fw_m.live[i].addr == addr) {
            *out = fw_m.live[i];
            fw_live_remove_at(i);
            fw_m.stats.frees_matched++;
            found = true;
        }
    }
    pthread_mutex_unlock(&fw_m.lock);
    return found;
}

void fw_memory_put_back(const fw_mem_live *rec)
{
    pthread_mutex_lock(&fw_m.lock);
    /* The site may have been freed by a snapshot meanwhile (its last live sample was the one
     * taken out): then the record is lost, which only under-reports inuse for this block. */
    if (fw_m.ready && rec->site < fw_m.nsites && fw_m.sites[rec->site].in_use) {
        fw_m.stats.frees_matched--;
        (void)fw_live_insert(rec);
    }
    pthread_mutex_unlock(&fw_m.lock);
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
    pthread_mutex_lock(&fw_m.lock);
    bool ok = fw_tables_alloc();
    pthread_mutex_unlock(&fw_m.lock);
    if (!ok) {
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
        pthread_mutex_lock(&fw_m.lock);
        if (fw_m.ready)
            fw_live_clear();
        pthread_mutex_unlock(&fw_m.lock);
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
    pthread_mutex_lock(&fw_m.lock);
    if (fw_m.ready)
        fw_tables_free();
    pthread_mutex_unlock(&fw_m.lock);
    for (size_t i = 0; i < fw_s.nfns; i++) {
        free(fw_s.fns[i].qualname);
        free(fw_s.fns[i].filename);
    }
    free(fw_s.fns);
    free(fw_s.e);
    free(fw_s.frames);
    free(fw_s.threads);
    fw_s.fns = NULL;
    fw_s.e = NULL;
    fw_s.frames = NULL;
    fw_s.threads = NULL;
    fw_s.nfns = fw_s.fns_cap = fw_s.n = fw_s.cap = 0;
    fw_s.nframes = fw_s.frames_cap = fw_s.nthreads = fw_s.threads_cap = 0;
}

void fw_memory_get_stats(fw_memory_stats *out)
{
    pthread_mutex_lock(&fw_m.lock);
    *out = fw_m.stats;
    out->live = fw_m.live_n;
    out->sites = fw_m.sites_used;
    pthread_mutex_unlock(&fw_m.lock);
    out->installed = fw_hooks_installed();
    out->sampling = fw_hooks_sampling();
    out->passthrough = out->installed && !out->sampling;
    out->free_direct = fw_hooks_free_direct();
    out->threshold_bytes = fw_hooks_interval();
}

/* ---- snapshot (worker) ---- */

static bool fw_grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t cap2 = *cap ? *cap : 256;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(*buf, cap2 * elem);
    if (!p)
        return false;
    *buf = p;
    *cap = cap2;
    return true;
}

/* Under the memory lock: copies the functions the resolver added since the last snapshot. */
static void fw_snap_sync_functions(void)
{
    size_t count = fw_stack_function_count(fw_m.resolver);
    if (!fw_grow((void **)&fw_s.fns, &fw_s.fns_cap, count, sizeof *fw_s.fns))
        return;   /* out of memory: new functions print as "[unknown]" this time */
    for (size_t id = fw_s.nfns; id < count; id++) {
        const fw_function_info *info = fw_stack_function(fw_m.resolver, (uint32_t)id);
        fw_fn_copy *c = &fw_s.fns[id];
        c->qualname = (info && info->qualname) ? strdup(info->qualname) : NULL;
        c->filename = (info && info->filename) ? strdup(info->filename) : NULL;
        c->firstlineno = info ? info->firstlineno : 0;
    }
    if (count > fw_s.nfns)
        fw_s.nfns = count;
}

static int64_t fw_round(double x)
{
    if (!(x > 0.0))
        return 0;
    return x >= 9.2e18 ? INT64_MAX : (int64_t)(x + 0.5);
}

static uint32_t fw_snap_thread_index(uint64_t pth, int64_t tid)
{
    for (size_t i = 0; i < fw_s.nthreads; i++)
        if (fw_s.threads[i].pthread_id == pth && fw_s.threads[i].tid == tid)
            return (uint32_t)i;
    if (!fw_grow((void **)&fw_s.threads, &fw_s.threads_cap, fw_s.nthreads + 1, sizeof *fw_s.threads))
        return UINT32_MAX;
    fw_snap_thread *t = &fw_s.threads[fw_s.nthreads];
    t->pthread_id = pth;
    t->tid = tid;
    t->name[0] = '\0';
    return (uint32_t)fw_s.nthreads++;
}

/* Under the memory lock. */
static void fw_snap_copy_sites(void)
{
    for (uint32_t i = 0; i < fw_m.nsites; i++) {
        fw_site *s = &fw_m.sites[i];
        if (!s->in_use || (s->live_n == 0 && !(s->alloc_bytes > 0.0)))
            continue;
        if (!fw_grow((void **)&fw_s.e, &fw_s.cap, fw_s.n + 1, sizeof *fw_s.e) ||
            !fw_grow((void **)&fw_s.frames, &fw_s.frames_cap, fw_s.nframes + s->depth,
                     sizeof *fw_s.frames))
            break;   /* out of memory: this interval's profile loses the rest */
        fw_snap_entry *e = &fw_s.e[fw_s.n];
        e->thread = i == FW_MEM_DROPPED_SITE ? UINT32_MAX : fw_snap_thread_index(s->pthread_id, s->tid);
        if (e->thread == UINT32_MAX && i != FW_MEM_DROPPED_SITE)
            break;
        e->tags = s->tags;
        e->depth = s->depth;
        e->frames_off = fw_s.nframes;
        memcpy(&fw_s.frames[fw_s.nframes], s->frames, s->depth * sizeof *s->frames);
        fw_s.nframes += s->depth;
        e->v[0] = fw_round(s->alloc_bytes);
        e->v[1] = fw_round(s->alloc_objs);
        e->v[2] = s->live_n ? fw_round(s->live_bytes) : 0;
        e->v[3] = s->live_n ? fw_round(s->live_objs) : 0;
        fw_s.n++;
        s->alloc_bytes = 0.0;
        s->alloc_objs = 0.0;
    }
    /* Sites with nothing live and nothing allocated since this snapshot are done. */
    for (uint32_t i = 1; i < fw_m.nsites; i++) {
        fw_site *s = &fw_m.sites[i];
        if (s->in_use && s->live_n == 0 && !(s->alloc_bytes > 0.0))
            fw_site_free(i);
    }
}

static const char *fw_cache_name(uint64_t pth, int64_t tid)
{
    for (size_t i = 0; i < FW_MEM_NAME_CACHE; i++)
        if (fw_s.cache[i].pthread_id == pth && fw_s.cache[i].tid == tid && fw_s.cache[i].name[0])
            return fw_s.cache[i].name;
    return NULL;
}

static void fw_cache_put(const fw_snap_thread *t)
{
    for (size_t i = 0; i < FW_MEM_NAME_CACHE; i++) {
        fw_snap_thread *c = &fw_s.cache[i];
        if (c->pthread_id == t->pthread_id && c->tid == t->tid) {
            memcpy(c->name, t->name, sizeof c->name);
            return;
        }
    }
    fw_s.cache[fw_s.cache_next] = *t;
    fw_s.cache_next = (fw_s.cache_next + 1) % FW_MEM_NAME_CACHE;
}

/* Without the memory lock: names from the agent's registry, else the cache, else tid-N. */
static void fw_snap_names(fw_agent *a)
{
    pthread_mutex_lock(&a->lock);
    for (int32_t i = 0; a->threads && i < (int32_t)fw_threads_span(a->threads) && fw_s.nthreads > 0; i++) {
        const fw_thread_slot *s = fw_threads_slot(a->threads, i);
        if (!s || !s->named)
            continue;
        for (size_t k = 0; k < fw_s.nthreads; k++) {
            fw_snap_thread *t = &fw_s.threads[k];
            if (t->pthread_id == s->pthread_id && (s->tid == 0 || s->tid == t->tid))
                memcpy(t->name, s->name, sizeof t->name);
        }
    }
    pthread_mutex_unlock(&a->lock);
    for (size_t k = 0; k < fw_s.nthreads; k++) {
        fw_snap_thread *t = &fw_s.threads[k];
        if (t->name[0]) {
            fw_cache_put(t);
            continue;
        }
        const char *cached = fw_cache_name(t->pthread_id, t->tid);
        if (cached)
            memcpy(t->name, cached, sizeof t->name);
        else
            snprintf(t->name, sizeof t->name, "tid-%lld", (long long)t->tid);
    }
}

size_t fw_memory_snapshot(fw_agent *a)
{
    fw_s.n = 0;
    fw_s.nframes = 0;
    fw_s.nthreads = 0;
    pthread_mutex_lock(&fw_m.lock);
    if (fw_m.ready) {
        fw_snap_sync_functions();
        fw_snap_copy_sites();
    }
    pthread_mutex_unlock(&fw_m.lock);
    if (fw_s.n > 0)
        fw_snap_names(a);
    return fw_s.n;
}

/* ---- build (worker) ---- */

typedef struct {
    fw_profile *p;
    uint64_t *fmap;          /* fns id -> profile function id (0: not added yet) */
    uint64_t fn_special[3];  /* dropped, unknown, native */
} fw_mem_build;

static fw_status fw_mem_function(fw_mem_build *b, uint32_t fn, uint64_t *out)
{
    uint64_t *cached;
    const char *name = "?", *file = "";
    int64_t start = 0;
    if (fn == FW_FN_DROPPED) {
        cached = &b->fn_special[0];
        name = "[dropped]";
    } else if (fn == FW_MEM_FN_NATIVE) {
        cached = &b->fn_special[2];
        name = "[no Python frame]";
    } else if (fn == FW_FN_UNKNOWN || fn >= fw_s.nfns) {
        cached = &b->fn_special[1];
        name = "[unknown]";
    } else {
        cached = &b->fmap[fn];
        if (fw_s.fns[fn].qualname)
            name = fw_s.fns[fn].qualname;
        if (fw_s.fns[fn].filename)
            file = fw_s.fns[fn].filename;
        start = fw_s.fns[fn].firstlineno;
    }
    if (*cached == 0) {
        fw_status st = fw_profile_function(b->p, name, file, start, cached);
        if (st != FW_OK)
            return st;
    }
    *out = *cached;
    return FW_OK;
}

static fw_status fw_mem_add_entry(fw_mem_build *b, const fw_snap_entry *e, const fw_label *base,
                                  size_t nbase, const int64_t *values)
{
    uint64_t locs[FW_STACK_MAX_DEPTH];
    fw_label labels[FW_PROFILE_MAX_LABELS];
    char group[FW_THREAD_NAME_MAX];
    size_t depth = e->depth > FW_STACK_MAX_DEPTH ? FW_STACK_MAX_DEPTH : e->depth;
    const fw_frame *frames = &fw_s.frames[e->frames_off];
    for (size_t i = 0; i < depth; i++) {
        uint64_t fid;
        fw_status st = fw_mem_function(b, frames[i].function, &fid);
        if (st == FW_OK)
            st = fw_profile_location(b->p, fid, frames[i].line > 0 ? frames[i].line : 0, &locs[i]);
        if (st != FW_OK)
            return st;
    }
    const char *name = e->thread == UINT32_MAX ? "[dropped]" : fw_s.threads[e->thread].name;
    fw_thread_group(name, group, sizeof group);
    fw_tagset_view tv;
    bool tagged = e->tags != 0 && fw_tags_get(e->tags, &tv);
    size_t n = 0;
    /* As for CPU samples: a dynamic tag replaces a static tag of the same key. */
    for (size_t i = 0; i < nbase && n + 2 < FW_PROFILE_MAX_LABELS; i++) {
        bool shadowed = false;
        for (size_t k = 0; tagged && k < tv.n && !shadowed; k++)
            shadowed = strcmp(base[i].key, tv.key[k]) == 0;
        if (!shadowed)
            labels[n++] = base[i];
    }
    labels[n++] = (fw_label){"thread_name", name};
    labels[n++] = (fw_label){"thread_group", group};
    for (size_t k = 0; tagged && k < tv.n && n < FW_PROFILE_MAX_LABELS; k++)
        labels[n++] = (fw_label){tv.key[k], tv.value[k]};
    return fw_profile_add(b->p, locs, depth, labels, n, values);
}

fw_status fw_memory_add_samples(fw_profile *p, const fw_label *base, size_t nbase)
{
    static const char *const names[4] = {"alloc_space", "alloc_objects", "inuse_space",
                                         "inuse_objects"};
    int idx[4];
    size_t ntypes = fw_profile_type_count(p);
    if (fw_s.n == 0)
        return FW_OK;
    if (ntypes > FW_MEM_MAX_TYPES)
        return FW_ERR_LIMIT;
    for (int k = 0; k < 4; k++)
        if ((idx[k] = fw_profile_find_type(p, names[k])) < 0)
            return FW_ERR_LIMIT;
    fw_mem_build b = {.p = p};
    b.fmap = calloc(fw_s.nfns ? fw_s.nfns : 1, sizeof *b.fmap);
    if (!b.fmap)
        return FW_ERR_NOMEM;
    fw_status result = FW_OK;
    for (size_t i = 0; i < fw_s.n; i++) {
        int64_t values[FW_MEM_MAX_TYPES] = {0};
        for (int k = 0; k < 4; k++)
            values[idx[k]] = fw_s.e[i].v[k];
        fw_status st = fw_mem_add_entry(&b, &fw_s.e[i], base, nbase, values);
        if (st == FW_ERR_NOMEM) {
            result = st;
            break;
        }
        if (st != FW_OK)
            result = st;   /* a limit: this sample is lost, keep going */
    }
    free(b.fmap);
    return result;
}

/* ---- Python functions ---- */

static PyObject *fw_mod_set_memory(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"on", "threshold_kb", NULL};
    int on = 0;
    PyObject *thr = Py_None;
    char err[256];
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "p|O:set_memory", kwlist, &on, &thr))
        return NULL;
    fw_agent *a = fw_agent_get();
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

int fw_memory_add_to_module(PyObject *module)
{
    return PyModule_AddFunctions(module, fw_memory_methods);
}
