/*
 * fw_alloc_hooks: the allocator wrappers and the sampling decision (internal to the memory
 * profiler; see fw_memory.h). Everything here may run in any thread, with or without the GIL,
 * except install/uninstall, which need the GIL.
 */
#ifndef FW_ALLOC_HOOKS_H
#define FW_ALLOC_HOOKS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- fw_alloc_hooks.c ---- */

/* GIL held. Wraps RAW, MEM and OBJ (keeping the allocators found as the ones to call).
 * No-op if ours are installed already. */
void fw_hooks_install(void);
/* GIL held. Restores the wrapped allocators of every domain whose current allocator is still
 * ours; returns false if some domain had been wrapped by someone else since (ours then stay
 * installed in that domain, and pass calls through while sampling is off). */
bool fw_hooks_uninstall(void);
bool fw_hooks_installed(void);
/* Frees on OBJ go straight to the wrapped allocator (pymalloc): see fw_alloc_hooks.c, "Frees". */
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

/* ---- fw_memory.c, called by the hooks ---- */

typedef struct {
    uintptr_t addr;      /* 0 = empty slot */
    uint64_t size;
    uint32_t site;
    float prob;          /* probability it had to be sampled: its weights are size/prob, 1/prob */
} fw_mem_live;

/* A sampled allocation of `size` bytes at `addr`, in the calling thread (tid = its Linux tid).
 * `tracked` false: its free will not be seen, count it in alloc_* only (stats: untracked). */
void fw_memory_record(uintptr_t addr, uint64_t size, uint64_t interval, int64_t tid, bool tracked);
/* Raises (delta 1) or lowers (-1) the filter counter of `addr`, under the profiler's mutex. */
void fw_memory_filter_mark(uintptr_t addr, int delta);
/* `addr` is being freed: forget it if it is a live sample. */
void fw_memory_forget(uintptr_t addr);
/* `addr` is being reallocated: removes its live record into *out if it has one. */
bool fw_memory_take(uintptr_t addr, fw_mem_live *out);
/* The reallocation failed: the block is still live, put its record back. */
void fw_memory_put_back(const fw_mem_live *rec);

/* A counting filter over live sampled addresses: a free whose counter is zero cannot be a
 * sampled allocation, so it costs one load of a 64 KiB table and no lock. Counters are
 * changed under the profiler's mutex and read without it; a counter that reaches 255 sticks
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

#endif
