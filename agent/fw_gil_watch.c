/*
 * fw_gil_watch: GIL holds with waiters, per tick (see fw_gil_watch.h for the design). The
 * CPython facts (where the switch count and the drop request are) stay behind fw_pyversion.h.
 */
#include "fw_gil_watch.h"



#include "fw_agent.h"
#include "fw_sampler.h"
#include "fw_threads.h"

uintptr_t fw_gil_watch_begin(fw_gil_watch *w, bool have_prev, bool others)
{
    fw_py_gil_state now;
    bool ok = fw_py_read_gil(&now);
    bool same = ok && have_prev && w->prev_ok && now.holder != 0 && now.holder == w->prev.holder &&
                now.switches == w->prev.switches;
    if (!same) {
        /* Another hold (or none): it has to show again that it is a C call. */
        w->c_hold = false;
        w->hold_waiters = 0;
    }
    w->held = same && others && fw_py_gil_drop_requested(now.holder);
    w->prev = now;
    w->prev_ok = ok;
    w->waiters = 0;
    w->holder_slot = -1;
    w->holder_cpu = 0;
    return now.holder;
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
    if (!w->c_hold) {
        w->c_hold = w->holder_cpu >= (int64_t)(a->cfg.interval_ns / 2) ||
                    (s->tid > 0 && !fw_thread_runnable(s->tid));
        if (!w->c_hold) {
            a->stats.gil_hold_preempted++;
            return false;
        }
    }
    if (!fw_agg_add_gil(a->active, s->last_entry, (uint32_t)w->holder_slot, interval_ns,
                        interval_ns * (int64_t)w->hold_waiters))
        return false;
    a->stats.gil_hold_ticks++;
    return true;
}
