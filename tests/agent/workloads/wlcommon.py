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
