"""The CPU-bound workload of bench/overhead.py: a fixed amount of pure-Python work, split
over THREADS threads, with a call stack about 15 frames deep (so that each sample walks a
realistic stack). The amount of work is fixed, not the time, so that extra CPU time in the
process is the profiler's cost.

Usage: workload.py THREADS UNITS [STATS.json]
When it runs under the agent, it writes flamewatch.stats() to STATS.json at the end.
"""
import json
import os
import sys
import threading
import time


def leaf(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def layer(depth, n):
    if depth == 0:
        return leaf(n)
    return layer(depth - 1, n)


def worker(units):
    for _ in range(units):
        layer(12, 400)


def agent_threads_cpu(ours):
    """CPU seconds used so far by the process's native threads other than the main thread and
    the workload's threads (`ours`: their native ids; join() returns a moment before a thread
    is gone from /proc): what is left are the agent's threads (sampler, worker).
    Each is read from its Linux per-thread CPU clock: clockid = (~tid << 3) | 6, the kernel's
    encoding of CPUCLOCK_SCHED for one thread (what pthread_getcpuclockid returns)."""
    skip = set(ours) | {threading.main_thread().native_id}
    total = 0.0
    for name in os.listdir("/proc/self/task"):
        tid = int(name)
        if tid in skip:
            continue
        try:
            total += time.clock_gettime((~tid << 3) | 6)
        except OSError:  # the thread ended meanwhile
            pass
    return total


def main():
    threads, units = int(sys.argv[1]), int(sys.argv[2])
    per = [units // threads + (1 if i < units % threads else 0) for i in range(threads)]
    ts = [threading.Thread(target=worker, args=(n,), name="bench-%d" % i) for i, n in enumerate(per)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if len(sys.argv) > 3 and os.environ.get("FLAMEWATCH_RUN") == "1":
        import flamewatch
        st = dict(flamewatch.stats())
        st["agent_threads_cpu_s"] = agent_threads_cpu([t.native_id for t in ts])
        st["process_cpu_s"] = time.process_time()
        with open(sys.argv[3], "w") as f:
            json.dump(st, f)


if __name__ == "__main__":
    main()
