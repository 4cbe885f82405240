/*
 * fw_cpu_follow: the sampler thread runs on the CPU of the thread it samples.
 *
 * Why. A sampler wakes up 100 times a second. When it wakes on an idle CPU, that CPU leaves its
 * idle state for ~50 us of work; on a virtual machine every such wake-up also costs the
 * hypervisor an exit and an entry, which the guest charges to the waking thread: measured on the
 * 2-core KVM development machine, a bare thread that only sleeps and wakes every 10 ms costs
 * 30-40 us of CPU per wake-up (bench/wake_cost.c), about 0.35 % of a core, and the sampler's own
 * CPU share was 0.55-0.63 % with one busy Python thread. Pinned to the busy thread's CPU, which is
 * running anyway, the same sampler costs 0.25 %: the timer interrupt lands on a running CPU and
 * the sampler preempts the busy thread for the few microseconds of a tick.
 *
 * How. Every so often (fw_sampler.c: at full ticks, every 25 ticks) the sampler asks which CPU
 * the GIL holder last ran on (/proc/self/task/TID/stat, field 39) and, if it is not the one the
 * sampler is pinned to, pins itself there (sched_setaffinity on its own thread only; the
 * program's threads are never touched). A CPU outside the sampler's mask at start (a cpuset) is
 * not followed. If the sampler wakes up late while pinned (the CPU is saturated by something of
 * higher priority), it gives the pin up and restores its original mask for a while, so a busy
 * CPU never costs samples. Any failure turns following off for the life of the sampler.
 */
#ifndef FW_CPU_FOLLOW_H
#define FW_CPU_FOLLOW_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    cpu_set_t allowed;      /* the sampler's mask when it started */
    int pinned;             /* the CPU it is pinned to, -1 when it is not */
    bool off;               /* a call failed: follow no more */
    uint64_t resume_tick;   /* after a release, no pin before this tick */
} fw_cpu_follow;

/* In the sampler thread, before its first tick. */
void fw_cpu_follow_init(fw_cpu_follow *f);
/* Pins the calling (sampler) thread to the CPU thread `tid` last ran on, if that differs from
 * its pin. `tick` is the sampler's tick count (for the back-off after a release). True if it
 * moved the pin. */
bool fw_cpu_follow_thread(fw_cpu_follow *f, int64_t tid, uint64_t tick);
/* A tick was late: back to the original mask, and no pin for `backoff_ticks` ticks. True if
 * there was a pin to give up. */
bool fw_cpu_follow_release(fw_cpu_follow *f, uint64_t tick, uint64_t backoff_ticks);

#endif
