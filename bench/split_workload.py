"""The accuracy workloads of bench/vs_cpython_profiler.py: one busy thread whose CPU time is split
between a few functions in a known way, each function's share measured by the workload itself
with time.thread_time() around every call (the truth the profilers are scored against).

Usage: split_workload.py KIND SECONDS TRUTH.json [STATS.json]

KIND
  split   three pure-Python functions, fn_alpha, fn_beta and fn_gamma, about 50/30/20 % of the CPU,
          called in a shuffled order in chunks of 0.2-3 ms (chunks shorter and longer than a
          sampling interval, in an order that cannot line up with a fixed sampling period);
  ccall   c_sort, a GIL-holding C call (sorted() of 60,000 shuffled ints, about 5-10 ms), beside
          py_loop, a pure-Python loop of a similar length, about half and half. The profilers
          should charge the C call to the Python function that made it (c_sort).

The work stops when the thread has used SECONDS of CPU. TRUTH.json gets each function's CPU
seconds; under `flamewatch run` (FLAMEWATCH_RUN=1) STATS.json gets flamewatch.stats().
"""
import json
import os
import random
import sys
import time


def spin(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def deep(depth, n):
    if depth == 0:
        return spin(n)
    return deep(depth - 1, n)


# Three callers of the same leaf: a profiler that attributes the leaf to the right caller must
# walk the whole stack correctly.
def fn_alpha(n):
    return deep(6, n)


def fn_beta(n):
    return deep(6, n)


def fn_gamma(n):
    return deep(6, n)


def c_sort(data):
    return sorted(data)


def py_loop(n):
    return deep(6, n)


def run(plan, seconds):
    """Calls (function, argument) pairs of `plan`, shuffled, until `seconds` of thread CPU; returns
    each function's thread CPU seconds."""
    cpu = {fn.__name__: 0.0 for fn, _ in plan}
    rng = random.Random(1234)
    clock = time.thread_time
    start = clock()
    while clock() - start < seconds:
        rng.shuffle(plan)
        for fn, arg in plan:
            t0 = clock()
            fn(arg)
            cpu[fn.__name__] += clock() - t0
    return cpu


def calibrate_loop(target_s):
    """Iterations of spin() in py_loop/fn_* that take about target_s of CPU."""
    n = 2000
    while True:
        t0 = time.thread_time()
        deep(6, n)
        dt = time.thread_time() - t0
        if dt >= 0.002:
            return max(1, int(n * target_s / dt))
        n *= 2


def main():
    kind, seconds, truth_path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    rng = random.Random(42)
    if kind == "split":
        ms = calibrate_loop(0.001)
        plan = []
        # Chunks of 0.2-3 ms; the total per round is about 50/30/20.
        for fn, share in ((fn_alpha, 50), (fn_beta, 30), (fn_gamma, 20)):
            total = 0.0
            while total < share / 10.0:
                chunk = rng.uniform(0.2, 3.0)
                plan.append((fn, max(1, int(ms * chunk))))
                total += chunk
    elif kind == "ccall":
        data = list(range(60000))
        rng.shuffle(data)
        t0 = time.thread_time()
        for _ in range(5):
            sorted(data)
        per_sort = (time.thread_time() - t0) / 5
        n = calibrate_loop(per_sort)
        plan = [(c_sort, data)] * 10 + [(py_loop, n)] * 10
    else:
        raise SystemExit("unknown kind %r (split or ccall)" % kind)
    cpu = run(plan, seconds)
    with open(truth_path, "w") as f:
        json.dump(cpu, f)
    if len(sys.argv) > 4 and os.environ.get("FLAMEWATCH_RUN") == "1":
        import flamewatch
        with open(sys.argv[4], "w") as f:
            json.dump(dict(flamewatch.stats()), f)


if __name__ == "__main__":
    main()
