"""Memory retained by one function, then released.
Phase 1: `retain()` keeps 64 MiB (1024 bytearrays of 64 KiB) in a global while `churn()` keeps
allocating short-lived objects; phase 2: the global is dropped. Each phase lasts HOLD seconds,
so that several snapshots (one per upload interval) fall inside each; the truth records when
each phase's state was established.
Usage: mem_retain.py TRUTH.json [HOLD]
"""
import sys
import time

from wlcommon import write_truth

KEPT = []


def retain():
    for _ in range(1024):
        KEPT.append(bytearray(65536))


def churn(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        tmp = [str(i) for i in range(2000)]
        n += len(tmp)
        time.sleep(0.01)
    return n


def main():
    hold = float(sys.argv[2]) if len(sys.argv) > 2 else 3.5
    retain()
    retained_at = time.time()
    churn(hold)
    held_until = time.time()
    KEPT.clear()
    released_at = time.time()
    churn(hold)
    write_truth(sys.argv[1], {"file": __file__, "retained_bytes": 1024 * 65536,
                              "retained_at": retained_at, "held_until": held_until,
                              "released_at": released_at, "end": time.time()})


main()
