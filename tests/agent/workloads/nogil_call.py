"""C code that releases the GIL, beside a pure-Python loop in another thread.

Thread "hasher" hashes a 32 MiB buffer with hashlib.sha256 again and again: for data this large
hashlib releases the GIL, so the thread runs on a CPU without it while thread "py-looper" runs
Python on the other core. The hashing CPU belongs to the line that calls sha256. The truth: the
thread_time() spent in the hashing calls, of the whole hasher thread, of the looper, and the line number of the call.
Usage: nogil_call.py TRUTH.json [SECONDS]
"""
import hashlib
import os
import sys
import threading
import time

from wlcommon import agent_counters, write_truth


def hash_loop(seconds, result):
    start = time.thread_time()
    data = b"x" * (32 << 20)  # page faults: 10s of ms, more on a loaded machine (outside the calls)
    in_hash = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.thread_time()
        hashlib.sha256(data).digest()  # FW-MARK: hash-call
        in_hash += time.thread_time() - t0
    result["hash_cpu"] = in_hash
    result["thread_cpu"] = time.thread_time() - start


def py_loop(stop, result):
    t0 = time.thread_time()
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i
    result["loop_cpu"] = time.thread_time() - t0


def main():
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    hasher, looper = {}, {}
    stop = threading.Event()
    tl = threading.Thread(target=py_loop, args=(stop, looper), name="py-looper")
    th = threading.Thread(target=hash_loop, args=(seconds, hasher), name="hasher")
    tl.start()
    th.start()
    th.join()
    stop.set()
    tl.join()
    write_truth(sys.argv[1], {
        "hash_cpu_s": hasher["hash_cpu"],
        "hasher_cpu_s": hasher["thread_cpu"],
        "loop_cpu_s": looper["loop_cpu"],
        "file": os.path.abspath(__file__),
        "agent": agent_counters(),
    })


if __name__ == "__main__":
    main()
