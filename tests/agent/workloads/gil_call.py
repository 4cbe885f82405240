"""A long GIL-holding C call beside a pure-Python loop in another thread.

Thread "c-caller" runs sum(range(10**8)) once (1-2 s inside one C call that never releases the
GIL), with sleeps around it so that thread "py-looper" (pure Python) gets the CPU before and
after. The truth: the thread_time() of the sum call, the thread_time() of the looper, and the
line number of the sum call (found from this file's own text).
Usage: gil_call.py TRUTH.json
"""
import os
import sys
import threading
import time

from wlcommon import write_truth


def call_sum(result):
    time.sleep(0.3)
    t0 = time.thread_time()
    result["value"] = sum(range(10**8))  # FW-MARK: sum-call
    result["sum_cpu"] = time.thread_time() - t0
    time.sleep(0.7)
    result["thread_cpu"] = time.thread_time()


def py_loop(stop, result):
    t0 = time.thread_time()
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i
    result["loop_cpu"] = time.thread_time() - t0


def sum_line():
    marker = "# FW-" + "MARK: sum-call"  # split so that this line does not match itself
    with open(__file__, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if marker in line:
                return i
    return -1


def main():
    caller, looper = {}, {}
    stop = threading.Event()
    tl = threading.Thread(target=py_loop, args=(stop, looper), name="py-looper")
    tc = threading.Thread(target=call_sum, args=(caller,), name="c-caller")
    tl.start()
    tc.start()
    tc.join()
    stop.set()
    tl.join()
    write_truth(sys.argv[1], {
        "sum_cpu_s": caller["sum_cpu"],
        "caller_thread_cpu_s": caller["thread_cpu"],
        "loop_cpu_s": looper["loop_cpu"],
        "sum_line": sum_line(),
        "file": os.path.abspath(__file__),
    })


if __name__ == "__main__":
    main()
