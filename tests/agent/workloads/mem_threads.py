"""Allocating threads under memory and CPU sampling: threads "alloc-1".."alloc-3" each run
`allocate(k)` which makes k * 40 MiB of 64 KiB bytearrays and k * 200,000 small objects, so
their allocations are in the ratio 1:2:3; they also burn CPU while they allocate.
Usage: mem_threads.py TRUTH.json
"""
import sys
import threading
import time

from wlcommon import write_truth


def allocate(k):
    # Thread names are read from `threading` by the agent's worker within a few ticks of a
    # thread's first sample; a thread that lives only a few milliseconds may keep its "tid-N"
    # name. The allocating threads here end with a short sleep so that their names are known.
    for _ in range(k * 640):
        b = bytearray(65536)
        del b
    keep = []
    for i in range(k * 200000):
        keep.append(str(i))
        if len(keep) >= 1000:
            keep = []
    time.sleep(0.3)


def main():
    threads = [threading.Thread(target=allocate, args=(k,), name="alloc-%d" % k) for k in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    write_truth(sys.argv[1], {"file": __file__, "weights": {"alloc-1": 1, "alloc-2": 2, "alloc-3": 3}})


main()
