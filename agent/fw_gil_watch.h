/*
 * fw_gil_watch: which stack held the GIL for a whole tick while other threads waited for it.
 *
 * A C call that does not release the GIL (sum(range(10**8)), a pathological regex, a C
 * extension's loop) stops every other Python thread for as long as it runs. The CPU profile
 * shows the call's cost, not that it stalled the rest of the process; this is what does. Per
 * tick, the sampler asks (fw_gil_watch_begin) whether:
 *   - the GIL has the same holder and the same switch count as at the previous tick, so it
 *     never changed hands in between (take_gil counts every change of holder); and
 *   - a drop request is pending for that holder: a thread waited a full switch interval (5 ms)
 *     without getting it. A holder running Python drops the GIL within microseconds of the
 *     request, so a pending request at a tick means the holder is not looking: it is in C.
 * Then, while it goes through the threads (fw_gil_watch_thread), it counts the waiters: other
 * threads whose CPU clock moved during the tick although none of them could run Python, and
 * that do not run C code without the GIL (fw_run_state). A thread queued in take_gil wakes
 * every switch interval to check again, which moves its clock by microseconds; one asleep or
 * blocked on a lock does not move; and since a queued thread leaves the queue only by taking the
 * GIL, which ends the hold, a hold's waiters are the most counted at any of its ticks. At the end (fw_gil_watch_end) the holder's stack of the tick
 * is charged the tick's wall interval as "GIL hold" and that times the waiters as "GIL wait",
 * once the hold is known to be a C call. A holder running Python can only miss a request when
 * the machine does not run it (preempted on a busy host): that is the scheduler's doing, not a
 * C call's. A hold (one switch count) shows that it is a C call at a tick where the holder used
 * CPU (1 ms) although the request was already pending at the previous tick, or is not runnable
 * at all (blocked in C, in I/O or on a lock, with the GIL held), and the hold is still intact
 * after its clock was read. Its ticks before that are kept back and charged with it; a hold that
 * ends without showing it (the holder ran and dropped the GIL) is not charged at all.
 * Nothing is charged without a waiter, so a single-threaded program shows none, nor while the
 * CPU profile is off (the waiters are counted with the CPU clocks).
 *
 * Resolution is the tick: an episode is seen from the first tick after a waiter's first
 * timeout, so each episode is undercounted by up to one interval plus the switch interval; a
 * hold shorter than one interval is seen only when it spans a tick boundary with a request
 * pending.
 *
 * Cost: the GIL's holder and switch count are two plain loads (static memory); the drop
 * request one more load, or one memory read where it lies on the heap (3.9/3.10's interpreter,
 * 3.13+'s non-main thread states), and only when the GIL stayed with one holder and another
 * thread is known. During a hold with waiters, quick ticks read every thread's clock (quiet
 * ones too) to count the waiters.
 */
#ifndef FW_GIL_WATCH_H
#define FW_GIL_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "fw_pyversion.h"

struct fw_agent;

typedef struct {
    fw_py_gil_state prev;      /* the GIL at the previous tick */
    bool prev_ok;
    bool held;                 /* this tick: one holder since the previous tick, a request pending */
    uint32_t waiters;          /* this tick: threads counted as waiting */
    int32_t holder_slot;       /* this tick: the holder's thread slot, -1 if not seen */
    int64_t holder_cpu;        /* this tick: the holder's CPU delta */
    bool c_hold;               /* the hold of switch count prev.switches is known to be a C call */
    uint32_t hold_waiters;     /* the most waiters seen during that hold */
    bool requested_before;     /* a request was pending at the previous tick of that hold */
    uint64_t pending_ticks;    /* ticks of that hold kept back until it shows it is a C call */
    int64_t pending_hold_ns, pending_wait_ns;
    uint64_t preempted_ticks;  /* ticks of holds that never showed it (Python holders preempted) */
} fw_gil_watch;

/* Start of a tick: reads the GIL and decides `held`. `have_prev` is false on the first tick
 * (and after collection was switched back on); `others` says another thread is known. Returns
 * the GIL holder (0: none). */
uintptr_t fw_gil_watch_begin(fw_gil_watch *w, bool have_prev, bool others);
/* For each thread of the tick: its slot, whether it holds the GIL, its CPU delta and whether
 * it runs without the GIL. */
static inline void fw_gil_watch_thread(fw_gil_watch *w, int32_t slot, bool holds_gil,
                                       int64_t cpu, bool nogil)
{
    if (holds_gil) {
        w->holder_slot = slot;
        w->holder_cpu = cpu;
    } else if (w->held && cpu > 0 && !nogil)
        w->waiters++;
}
/* End of a tick (agent mutex held): charges `interval_ns` to the holder's stack of this tick
 * when the GIL was held with waiters. True if it did. */
bool fw_gil_watch_end(fw_gil_watch *w, struct fw_agent *a, int64_t interval_ns);

#endif
