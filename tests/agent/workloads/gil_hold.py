"""Long C calls that hold the GIL, or release it, while other threads want to run Python.

Thread "holder" makes CALLS calls to one C function, sleeping SLEEP s before each, while
WAITERS threads ("waiter-1", ...) run a pure-Python loop the whole time, so that they wait for
the GIL whenever the holder has it. MODE picks the call:
  hold     sum(range(N)): one C call that never releases the GIL (builtin sum over a range
           iterator never reaches the eval loop, so it never sees a drop request);
  release  hashlib.sha256 over a 32 MiB buffer: hashlib releases the GIL for data over 2 KiB,
           so the waiters run while it hashes;
  alone    sum(range(N)) with no waiter: the main thread is blocked in join() meanwhile.
The truth: the wall time of each call measured around it (time.monotonic()), their sum, how
many threads waited, and the line of the call (found from this file's text).
Usage: gil_hold.py TRUTH.json MODE [WAITERS] [CALLS]
"""
import hashlib
import os
import sys
import threading
import time

from wlcommon import write_truth

SLEEP = 0.25
N = 3 * 10**7
DATA = b"x" * (32 << 20)


def c_call(mode):
    if mode == "release":
        return hashlib.sha256(DATA).digest()  # FW-MARK: release-call
    return sum(range(N))  # FW-MARK: hold-call


def hold_loop(mode, calls, result):
    spans = []
    for _ in range(calls):
        time.sleep(SLEEP)  # the waiters take the GIL and run meanwhile
        t0 = time.monotonic()
        c_call(mode)
        spans.append(time.monotonic() - t0)
    result["spans"] = spans


def py_loop(stop, result):
    t0 = time.thread_time()
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i
    result["cpu"] = time.thread_time() - t0


def marker(name):
    text = "# FW-" + "MARK: " + name  # split so that this line does not match itself
    with open(__file__, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if text in line:
                return i
    return -1


def main():
    mode = sys.argv[2]
    waiters = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    calls = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    if mode == "alone":
        waiters = 0
    stop = threading.Event()
    loops = [{} for _ in range(waiters)]
    threads = [threading.Thread(target=py_loop, args=(stop, loops[k]), name="waiter-%d" % (k + 1))
               for k in range(waiters)]
    held = {}
    holder = threading.Thread(target=hold_loop, args=(mode, calls, held), name="holder")
    for t in threads:
        t.start()
    holder.start()
    holder.join()
    stop.set()
    for t in threads:
        t.join()
    write_truth(sys.argv[1], {
        "mode": mode,
        "waiters": waiters,
        "spans_s": held["spans"],
        "calls_s": sum(held["spans"]),
        "waiter_cpu_s": [r["cpu"] for r in loops],
        "call_line": marker("release-call" if mode == "release" else "hold-call"),
        "function": "c_call",
        "file": os.path.abspath(__file__),
    })


if __name__ == "__main__":
    main()
