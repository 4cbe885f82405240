/*
 * fw_sampler: the native sampling thread and the aggregate it fills.
 *
 * The sampler never takes the GIL and never calls the Python API. Every interval it walks the
 * interpreter's thread states, reads each thread's CPU clock by tid, walks the stack when there
 * is something to charge, and adds (stack, thread slot) -> (cpu ns, wall ns, GIL hold ns, GIL
 * wait ns) into an fw_agg.
 * The worker swaps the aggregate out at each upload interval (see fw_worker.h).
 */
#ifndef FW_SAMPLER_H
#define FW_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_agg.h"
#include "fw_stack.h"

struct fw_agent;

/* Counters; written by the sampler under the agent mutex. */
typedef struct {
    uint64_t ticks;            /* ticks processed */
    uint64_t expected_ticks;   /* ticks the interval called for since the first one */
    uint64_t late_ticks;       /* ticks skipped because the sampler woke up late */
    uint64_t cpu_moves;        /* the sampler pinned itself to the GIL holder's CPU (fw_cpu_follow.h) */
    uint64_t cpu_releases;     /* ... and gave the pin up after a late tick */
    uint64_t stacks_walked;
    uint64_t walk_ns;          /* time spent in fw_stack_walk */
    uint64_t quick_ticks;      /* ticks that did not walk the thread list */
    uint64_t thread_reads;     /* thread states read before a walk */
    uint64_t thread_reads_one_call; /* ... with the top of the data stack in the same call */
    uint64_t walks_redone;     /* stacks walked again because the thread moved meanwhile */
    uint64_t clock_reads_saved; /* clock reads skipped for quiet threads */
    uint64_t walk_failures;
    uint64_t walks_incomplete; /* stacks still not whole after every look: CPU to the last one */
    uint64_t cpu_to_last_running;  /* deltas of off-CPU threads charged where they last ran */
    uint64_t cpu_nogil_current;    /* deltas of threads running without the GIL for two looks, charged where they are */
    uint64_t gil_left_before_read; /* the holder released the GIL before its stack was read: delta to where it last ran */
    uint64_t threads_seen;     /* thread states visited, all ticks */
    uint64_t cpu_read_failures;
    uint64_t registry_full;
    uint64_t list_errors;      /* walks of the thread list that failed part way */
    uint64_t gil_hold_ticks;   /* ticks charged as a GIL hold with waiters (fw_gil_watch.h) */
    uint64_t first_tick_ns;
    uint64_t last_tick_ns;
} fw_sampler_stats;

/* Starts the sampler thread for `agent`; 0 or an errno value. */
int fw_sampler_start(struct fw_agent *agent);
/* The running sampler thread's CPU time so far, from its clock (ticks and the cost of waking up
 * for each); 0 when it is not running. Read on demand, under the agent mutex: a per-tick count
 * would cost the sampler two clock reads (system calls) every tick. */
uint64_t fw_sampler_cpu_ns(const struct fw_agent *agent);
/* Asks the sampler to stop and joins it. Call without the agent mutex. */
void fw_sampler_stop(struct fw_agent *agent);
/* With the agent mutex held, right after `old` was swapped out: keeps each thread's last
 * running stack (see fw_sampler_account) valid in the new aggregate. */
void fw_sampler_carry_last_running(struct fw_agent *agent, const fw_agg *old);

#endif
