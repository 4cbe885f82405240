#!/usr/bin/env python3
"""How far the bursty workload's CPU attribution strays over many runs (tests/agent BurstyTest).

One accuracy test run says pass or fail; a rare misattribution (a woken thread found at its
sleep line) needs tens of runs to show. This runs the same workload and check as
tests/agent/test_accuracy.py's BurstyTest N times and prints each run's error in points (|truth
- profile| of burst()'s share), the sampler's routing counters, and the sorted spread.

    PYTHONPATH=build/python FLAMEWATCH_TEST_BUILD=$PWD/build PY bench/accuracy_spread.py [--runs 30] [--threads 1]
"""
import argparse
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "agent"))
import fwaccuracy as fa  # noqa: E402


class _Once(unittest.TestCase):
    threads = 1
    error = None
    counters = None

    def runTest(self):
        wl = fa.run_workload(self, "bursty", args=[self.threads, "3"], upload_interval="1")
        fa.assert_ran(self, wl)
        truth = wl.truth
        samples = fa.convert(wl.files(), "cpu")["samples"]
        handlers = [s for s in samples if s["labels"].get("thread_name", "").startswith("handler-")]
        prof = fa.leafmost_attribution(handlers, ["burst", "handler_loop"], truth["file"])
        burst = sum(t["burst_cpu_s"] for t in truth["threads"].values())
        total = sum(t["thread_cpu_s"] for t in truth["threads"].values())
        truth_sh = fa.shares({"burst": burst, "handler_loop": total - burst})
        _Once.error = abs(truth_sh["burst"] - fa.shares(prof)["burst"])
        _Once.counters = truth.get("agent")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    _Once.threads = args.threads
    errors = []
    for i in range(args.runs):
        _Once.error = None
        res = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(_Once())
        if _Once.error is None:
            print("run %d: no result: %s" % (i + 1, (res.failures + res.errors)[0][1].splitlines()[-1]), flush=True)
            continue
        errors.append(_Once.error)
        print("run %d: %.2f points  %r" % (i + 1, _Once.error, _Once.counters), flush=True)
    if not errors:
        return 1
    errors.sort()
    print("points off, sorted: %s" % " ".join("%.2f" % e for e in errors))
    print("median %.2f, max %.2f, over 3 points: %d of %d" % (
        errors[len(errors) // 2], errors[-1], sum(e > 3 for e in errors), len(errors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
