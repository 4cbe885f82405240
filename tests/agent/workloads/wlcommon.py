"""Shared bits of the test workloads: writing the ground truth atomically.

Each workload measures itself with time.thread_time() (the same per-thread CPU clock the
agent reads) and writes what it measured; the tests never hard-code an expected number.
"""
import json
import os


def write_truth(path, data):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
    os.replace(tmp, path)


def agent_counters():
    """The sampler's own counters, for a failure message to show how the CPU was routed (not
    ground truth: the test never compares against them)."""
    try:
        import flamewatch
        st = flamewatch.stats()
    except Exception as e:  # the agent is not loaded: the test says so through assert_ran
        return {"error": repr(e)}
    keys = ("ticks", "expected_ticks", "late_ticks", "cpu_to_last_running", "cpu_nogil_current",
            "gil_left_before_read", "walks_incomplete", "cpu_moves", "cpu_releases")
    return {k: st.get(k) for k in keys}
