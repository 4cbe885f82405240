/*
 * fw_gil_watch: GIL holds with waiters, per tick (see fw_gil_watch.h for the design). The
 * CPython facts (where the switch count and the drop request are) stay behind fw_pyversion.h.
 */
#include "fw_gil_watch.h"

#include "fw_agent.h"
#include "fw_threads.h"

#define FW_GIL_RAN_NS 1000000   /* CPU that a holder running Python could not use past a request */

uintptr_t fw_gil_watch_begin(fw_gil_watch *w, bool have_prev, bool others)
{
    fw_py_gil_state now;
    bool ok = fw_py_read_gil(&now);
    bool same = ok && have_prev && w->prev_ok && now.holder != 0 && now.holder == w->prev.holder &&
                now.switches == w->prev.switches;
    if (!same) {
        /* Another hold (or none): it has to show again that it is a C call; what was kept
         * waiting for that proof was a Python holder the machine did not run. */
        w->preempted_ticks += w->pending_ticks;
        w->c_hold = false;
        w->hold_waiters = 0;
        w->pending_ticks = 0;
        w->pending_hold_ns = 0;
        w->pending_wait_ns = 0;
    }
    w->requested_before = same && w->held;
    w->held = same && others && fw_py_gil_drop_requested(now.holder);
    w->prev = now;
    w->prev_ok = ok;
    w->waiters = 0;
    w->holder_slot = -1;
    w->holder_cpu = 0;
    return now.holder;
}

/* Whether the hold is a C call, from this tick. The holder's CPU delta covers the time between
 * its clock reads, which come after the GIL reads of their ticks (by milliseconds when the
 * machine preempts the sampler), so the GIL is read again now: only a hold still intact after
 * the clock read was intact all through the delta. Then: a request was already pending at the
 * previous tick and the holder still used CPU (running Python, it would have dropped the GIL
 * within microseconds), or the holder is not runnable at all (blocked in C with the GIL). */
static bool fw_gil_watch_is_c(const fw_gil_watch *w, const fw_thread_slot *s)
{
    fw_py_gil_state end;
    if (!fw_py_read_gil(&end) || end.holder != w->prev.holder || end.switches != w->prev.switches)
        return false;
    if (w->requested_before && w->holder_cpu >= FW_GIL_RAN_NS)
        return true;
    return s->tid > 0 && !fw_thread_runnable(s->tid);
}

bool fw_gil_watch_end(fw_gil_watch *w, fw_agent *a, int64_t interval_ns)
{
    /* A thread queued in take_gil leaves the queue only by taking the GIL, which ends the hold:
     * the waiters of a hold can only grow. Counting the most seen so far keeps a tick where the
     * machine did not run some waiter (its clock did not move) from losing them. */
    if (w->held && w->waiters > w->hold_waiters)
        w->hold_waiters = w->waiters;
    if (!w->held || w->hold_waiters == 0 || w->holder_slot < 0 || interval_ns <= 0)
        return false;
    const fw_thread_slot *s = fw_threads_slot(a->threads, w->holder_slot);
    /* The holder's last running stack: the one walked this tick, since a holder's CPU goes to
     * its current stack (or, if it used none this tick, the stack of the same unbroken hold). */
    if (!s || s->last_epoch != a->agg_epoch || s->last_entry < 0)
        return false;
    int64_t hold = interval_ns, wait = interval_ns * (int64_t)w->hold_waiters;
    if (!w->c_hold && !(w->c_hold = fw_gil_watch_is_c(w, s))) {
        /* Not known yet: kept until the hold shows what it is, or ends. */
        w->pending_ticks++;
        w->pending_hold_ns += hold;
        w->pending_wait_ns += wait;
        return false;
    }
    /* The ticks kept back belong to the same hold of the same thread: the same C call. */
    hold += w->pending_hold_ns;
    wait += w->pending_wait_ns;
    uint64_t ticks = 1 + w->pending_ticks;
    w->pending_ticks = 0;
    w->pending_hold_ns = 0;
    w->pending_wait_ns = 0;
    if (!fw_agg_add_gil(a->active, s->last_entry, (uint32_t)w->holder_slot, hold, wait))
        return false;
    a->stats.gil_hold_ticks += ticks;
    return true;
}
