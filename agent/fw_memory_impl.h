/*
 * fw_memory_impl: the memory profiler's own header, included only by its files (everything
 * else includes fw_memory.h). The files, in the order they may call each other (each calls only
 * those above it):
 *   fw_mem_table.c    sampled blocks still live, sites, counters: what a sample records
 *   fw_mem_hooks.c    the allocator wrappers and the sampling decision (calls the table)
 *   fw_mem_export.c   the worker's snapshot of the table and its profile samples
 *   fw_memory.c       control, settings, Python functions (calls all three)
 * Unless said otherwise, functions may run in any thread, with or without the GIL.
 */
#ifndef FW_MEM_INTERNAL_H
#define FW_MEM_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_agent.h"
#include "fw_memory.h"
#include "fw_stack.h"
#include "fw_threads.h"

#define FW_MEM_FN_NATIVE (UINT32_MAX - 2u)      /* "[no Python frame]" */
#define FW_MEM_NAME_CACHE 512

/* ---- fw_mem_table.c ---- */

typedef struct {
    uintptr_t addr;      /* 0 = empty slot */
    uint64_t size;
    uint32_t site;
    float prob;          /* probability it had to be sampled: its weights are size/prob, 1/prob */
} fw_mem_live;

/* A sampled allocation of `size` bytes at `addr` with probability prob (> 0), in the calling
 * thread (tid = its Linux tid). `tracked` false: its free will not be seen, so it counts in
 * alloc_* only (stats: untracked). */
void fw_mem_table_record(uintptr_t addr, uint64_t size, float prob, int64_t tid, bool tracked);
/* `addr` is being freed: forget it if it is a live sample. */
void fw_mem_table_forget(uintptr_t addr);
/* `addr` is being reallocated: removes its live record into *out if it has one. */
bool fw_mem_table_take(uintptr_t addr, fw_mem_live *out);
/* The reallocation failed: the block is still live, put its record back. */
void fw_mem_table_put_back(const fw_mem_live *rec);
/* Raises (delta 1) or lowers (-1) the filter counter of `addr`. */
void fw_mem_table_filter_mark(uintptr_t addr, int delta);
/* Allocates the tables (false: out of memory); a no-op if they exist. */
bool fw_mem_table_open(void);
/* Frees them. Sampling must be off. */
void fw_mem_table_close(void);
/* Drops every live record (inuse_* of the samples so far). */
void fw_mem_table_forget_live(void);
/* Counters and sizes (the hooks' fields of *out are left for the caller). */
void fw_mem_table_stats(fw_memory_stats *out);
/* pthread_atfork handlers: the mutex is held across fork(); the child keeps its live samples
 * and forgets the interval's allocations (the parent reports them). */
void fw_mem_table_fork_prepare(void);
void fw_mem_table_fork_parent(void);
void fw_mem_table_fork_child(void);

/* The worker's copy of the table (fw_mem_export.c owns it; the table fills it). */
typedef struct {
    uint64_t pthread_id;
    int64_t tid;
    char name[FW_THREAD_NAME_MAX];
} fw_snap_thread;

typedef struct {
    uint32_t thread;         /* index in threads, UINT32_MAX = the dropped site */
    uint32_t tags;
    uint32_t depth;
    size_t frames_off;
    int64_t v[4];            /* alloc_space, alloc_objects, inuse_space, inuse_objects */
} fw_snap_entry;

typedef struct {
    fw_snap_entry *e;
    size_t n, cap;
    fw_frame *frames;
    size_t nframes, frames_cap;
    fw_snap_thread *threads;
    size_t nthreads, threads_cap;
    fw_fn_copy *fns;          /* copies of the memory resolver's functions, by id */
    size_t nfns, fns_cap;
    fw_snap_thread cache[FW_MEM_NAME_CACHE];   /* names of threads seen before (export only) */
    size_t cache_next;
} fw_mem_snap;

/* Worker. Copies every site with a value into snap (entries, frames, threads without names,
 * functions added since the last call), zeroes the interval sums and frees empty sites. */
void fw_mem_table_snapshot(fw_mem_snap *snap);

/* A counting filter over live sampled addresses: a free whose counter is zero cannot be a
 * sampled allocation, so it costs one load of a 64 KiB table and no lock. Counters are
 * changed under the table's mutex and read without it; a counter that reaches 255 sticks
 * (it then only costs a lookup under the lock, never a wrong answer). Hidden: the hooks reach
 * it rip-relative, not through the GOT. */
#define FW_MEM_FILTER_BITS 16
extern _Atomic uint8_t fw_mem_filter[1u << FW_MEM_FILTER_BITS] __attribute__((visibility("hidden")));

static inline size_t fw_mem_filter_index(uintptr_t addr)
{
    /* Blocks are at least 16-byte aligned: drop those bits; the next 16 pick the counter, so a
     * counter stands for one 16-byte slot in every 1 MiB. Neighbouring blocks get neighbouring
     * counters: a run of frees from one pool (a list of small objects going away) touches a
     * few cache lines of the filter, not 64 KiB of it at random. This is every free's cost
     * (three instructions before the load: issue 15), so the higher address bits are not
     * folded in: blocks at the same offset of different 1 MiB regions share a counter, which
     * costs such a free a lookup under the lock when one of them is a live sample, never a
     * wrong answer. */
    return (size_t)(((uint64_t)addr >> 4) & ((1u << FW_MEM_FILTER_BITS) - 1));
}

static inline bool fw_mem_maybe_live(uintptr_t addr)
{
    return atomic_load_explicit(&fw_mem_filter[fw_mem_filter_index(addr)],
                                memory_order_relaxed) != 0;
}


/* ---- fw_mem_hooks.c ---- */

/* GIL held. Wraps RAW, MEM and OBJ (keeping the allocators found as the ones to call).
 * No-op if ours are installed already. */
void fw_hooks_install(void);
/* GIL held. Restores the wrapped allocators of every domain whose current allocator is still
 * ours; returns false if some domain had been wrapped by someone else since (ours then stay
 * installed in that domain, and pass calls through while sampling is off). */
bool fw_hooks_uninstall(void);
bool fw_hooks_installed(void);
/* Frees on OBJ go straight to the wrapped allocator (pymalloc): see fw_mem_hooks.c, "Frees". */
bool fw_hooks_free_direct(void);
/* Sampling on/off; the hooks pass everything through while off. */
void fw_hooks_set_sampling(bool on);
bool fw_hooks_sampling(void);
/* Mean sampling interval in bytes (> 0). Each thread draws a fresh countdown at its next
 * sampled-path visit. */
void fw_hooks_set_interval(uint64_t bytes);
uint64_t fw_hooks_interval(void);
/* In a fork child: the calling thread's cached tid is the parent's. */
void fw_hooks_after_fork_child(void);
/* P(an allocation of `size` bytes is sampled) = 1 - exp(-size / interval), computed without
 * libm (the agent does not link it); exposed for the tests. */
double fw_hooks_sample_prob(uint64_t size, uint64_t interval);

/* ---- fw_mem_export.c ---- */

/* After the final flush: frees the snapshot's buffers. */
void fw_mem_export_release(void);

#endif
