/*
 * fw_mem_export: the memory profiler's samples, from its table to the worker's profile.
 *
 * At each flush the worker calls fw_memory_snapshot(): the table (fw_mem_table.c) copies,
 * under its mutex, every site with a value into fw_s (frames and the names of new functions
 * included, so that nothing here needs that mutex); then, under the agent mutex and not the
 * memory one, each thread's name is found in the agent's registry (remembered in a small
 * cache, so a thread that has exited by then keeps its name). fw_memory_add_samples() turns the
 * copy into samples of the worker's profile, with the same labels as CPU samples. Worker only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_memory_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_agent.h"
#include "fw_agg.h"
#include "fw_sampler.h"
#include "fw_tags.h"
#include "fw_threads.h"

#define FW_MEM_MAX_TYPES 16

static fw_mem_snap fw_s;

/* ---- snapshot ---- */

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
    fw_mem_table_snapshot(&fw_s);
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

void fw_mem_export_release(void)
{
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
