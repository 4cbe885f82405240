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

#include "fw_agent.h"
#include "fw_agg.h"

/* Starts the sampler thread for `a`; 0 or an errno value. */
int fw_sampler_start(fw_agent *a);
/* The running sampler thread's CPU time so far, from its clock (ticks and the cost of waking up
 * for each); 0 when it is not running. Read on demand, under the agent mutex: a per-tick count
 * would cost the sampler two clock reads (system calls) every tick. */
uint64_t fw_sampler_cpu_ns(void);
/* Under the agent mutex: ticks of GIL holds that never showed a C call (fw_gil_watch.h). */
uint64_t fw_sampler_gil_preempted_ticks(void);
/* Asks the sampler to stop and joins it. Call without the agent mutex. */
void fw_sampler_stop(void);
/* In a forked child: the thread does not exist there; forget it, never join it. */
void fw_sampler_forget(void);
/* With the agent mutex held, right after `old` was swapped out: keeps each thread's last
 * running stack (see fw_sampler_account) valid in the new aggregate. */
void fw_sampler_carry_last_running(fw_agent *a, const fw_agg *old);

#endif
