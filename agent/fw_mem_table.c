/*
 * fw_mem_table: the memory profiler's record of sampled allocations (the bottom layer of the
 * module: it calls no other part of it). The hooks (fw_mem_hooks.c) decide WHICH allocations
 * are sampled and with what probability p; this file charges each one to its site with the
 * weights s/p and 1/p, keeps the sampled blocks still live, and copies all of it out for the
 * worker (fw_mem_export.c).
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
 * free is matched in O(1): the counting filter (fw_memory_impl.h) rules out nearly every
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
 * Snapshot. At each flush the worker (fw_mem_export.c) has fw_mem_table_snapshot copy, under
 * the mutex, every site with a value (frames included, so the build needs no lock), zero the
 * interval sums, free empty sites and copy the names of new functions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_memory_impl.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fw_agent.h"
#include "fw_memread.h"
#include "fw_pyversion.h"
#include "fw_stack.h"
#include "fw_tags.h"

#define FW_MEM_CODES 8192
#define FW_MEM_FUNCTIONS 32768
#define FW_MEM_SITE_BUCKETS 65536u               /* 2 x FW_MEM_SITES_MAX */
#define FW_MEM_LIVE_SLOTS_MAX ((size_t)2 * FW_MEM_LIVE_MAX)
#define FW_MEM_LIVE_SLOTS_MIN 1024u
#define FW_MEM_DROPPED_SITE 0u

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

/* ---- fork (fw_memory.c registers these) ---- */

void fw_mem_table_fork_prepare(void)
{
    pthread_mutex_lock(&fw_m.lock);
}

void fw_mem_table_fork_parent(void)
{
    pthread_mutex_unlock(&fw_m.lock);
}

void fw_mem_table_fork_child(void)
{
    /* The only thread here is the one that took the lock in prepare: it may release it. */
    for (uint32_t i = 0; i < fw_m.nsites; i++) {
        fw_m.sites[i].alloc_bytes = 0.0;   /* the parent reports these */
        fw_m.sites[i].alloc_objs = 0.0;
    }
    pthread_mutex_unlock(&fw_m.lock);
}

/* ---- called by the hooks ---- */

void fw_mem_table_filter_mark(uintptr_t addr, int delta)
{
    pthread_mutex_lock(&fw_m.lock);
    fw_filter_add(addr, delta);
    pthread_mutex_unlock(&fw_m.lock);
}

void fw_mem_table_record(uintptr_t addr, uint64_t size, float prob, int64_t tid, bool tracked)
{
    uint64_t t0 = fw_now_mono_ns();
    assert(prob > 0.0f);
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

void fw_mem_table_forget(uintptr_t addr)
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

bool fw_mem_table_take(uintptr_t addr, fw_mem_live *out)
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

void fw_mem_table_put_back(const fw_mem_live *rec)
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

/* ---- snapshot ---- */

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

/* Under the lock: copies the functions the resolver added since the last snapshot. */
static void fw_snap_sync_functions(fw_mem_snap *snap)
{
    size_t count = fw_stack_function_count(fw_m.resolver);
    if (!fw_grow((void **)&snap->fns, &snap->fns_cap, count, sizeof *snap->fns))
        return;   /* out of memory: new functions print as "[unknown]" this time */
    for (size_t id = snap->nfns; id < count; id++) {
        const fw_function_info *info = fw_stack_function(fw_m.resolver, (uint32_t)id);
        fw_fn_copy *c = &snap->fns[id];
        c->qualname = (info && info->qualname) ? strdup(info->qualname) : NULL;
        c->filename = (info && info->filename) ? strdup(info->filename) : NULL;
        c->firstlineno = info ? info->firstlineno : 0;
    }
    if (count > snap->nfns)
        snap->nfns = count;
}

static int64_t fw_round(double x)
{
    if (!(x > 0.0))
        return 0;
    return x >= 9.2e18 ? INT64_MAX : (int64_t)(x + 0.5);
}

static uint32_t fw_snap_thread_index(fw_mem_snap *snap, uint64_t pth, int64_t tid)
{
    for (size_t i = 0; i < snap->nthreads; i++)
        if (snap->threads[i].pthread_id == pth && snap->threads[i].tid == tid)
            return (uint32_t)i;
    if (!fw_grow((void **)&snap->threads, &snap->threads_cap, snap->nthreads + 1, sizeof *snap->threads))
        return UINT32_MAX;
    fw_snap_thread *t = &snap->threads[snap->nthreads];
    t->pthread_id = pth;
    t->tid = tid;
    t->name[0] = '\0';
    return (uint32_t)snap->nthreads++;
}

/* Under the lock. */
static void fw_snap_copy_sites(fw_mem_snap *snap)
{
    for (uint32_t i = 0; i < fw_m.nsites; i++) {
        fw_site *s = &fw_m.sites[i];
        if (!s->in_use || (s->live_n == 0 && !(s->alloc_bytes > 0.0)))
            continue;
        if (!fw_grow((void **)&snap->e, &snap->cap, snap->n + 1, sizeof *snap->e) ||
            !fw_grow((void **)&snap->frames, &snap->frames_cap, snap->nframes + s->depth,
                     sizeof *snap->frames))
            break;   /* out of memory: this interval's profile loses the rest */
        fw_snap_entry *e = &snap->e[snap->n];
        e->thread = i == FW_MEM_DROPPED_SITE ? UINT32_MAX : fw_snap_thread_index(snap, s->pthread_id, s->tid);
        if (e->thread == UINT32_MAX && i != FW_MEM_DROPPED_SITE)
            break;
        e->tags = s->tags;
        e->depth = s->depth;
        e->frames_off = snap->nframes;
        memcpy(&snap->frames[snap->nframes], s->frames, s->depth * sizeof *s->frames);
        snap->nframes += s->depth;
        e->v[0] = fw_round(s->alloc_bytes);
        e->v[1] = fw_round(s->alloc_objs);
        e->v[2] = s->live_n ? fw_round(s->live_bytes) : 0;
        e->v[3] = s->live_n ? fw_round(s->live_objs) : 0;
        snap->n++;
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

/* ---- the rest of the module's calls ---- */

bool fw_mem_table_open(void)
{
    pthread_mutex_lock(&fw_m.lock);
    bool ok = fw_tables_alloc();
    pthread_mutex_unlock(&fw_m.lock);
    return ok;
}

void fw_mem_table_close(void)
{
    pthread_mutex_lock(&fw_m.lock);
    if (fw_m.ready)
        fw_tables_free();
    pthread_mutex_unlock(&fw_m.lock);
}

void fw_mem_table_forget_live(void)
{
    pthread_mutex_lock(&fw_m.lock);
    if (fw_m.ready)
        fw_live_clear();
    pthread_mutex_unlock(&fw_m.lock);
}

void fw_mem_table_stats(fw_memory_stats *out)
{
    pthread_mutex_lock(&fw_m.lock);
    *out = fw_m.stats;
    out->live = fw_m.live_n;
    out->sites = fw_m.sites_used;
    pthread_mutex_unlock(&fw_m.lock);
}

void fw_mem_table_snapshot(fw_mem_snap *snap)
{
    snap->n = 0;
    snap->nframes = 0;
    snap->nthreads = 0;
    pthread_mutex_lock(&fw_m.lock);
    if (fw_m.ready) {
        fw_snap_sync_functions(snap);
        fw_snap_copy_sites(snap);
    }
    pthread_mutex_unlock(&fw_m.lock);
}
