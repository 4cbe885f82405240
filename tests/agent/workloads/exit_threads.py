"""Exit while threads still run: two daemon threads spin forever, one non-daemon thread
("finisher") is still working when the main thread returns, so the interpreter waits for it
and then exits with the daemons busy. Mode "sysexit" leaves through sys.exit(3) instead.

The finisher writes its own truth file (the main thread is gone by then); the main thread
writes the truth of its own work before it returns.
Usage: exit_threads.py TRUTH.json [normal|sysexit]
"""
import os
import sys
import threading
import time

from wlcommon import write_truth


def spin_forever():
    x = 0
    while True:
        for i in range(500):
            x += i


def finisher_work(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(500):
            x += i
    return x


def finisher(truth_path):
    t0 = time.thread_time()
    finisher_work(0.6)
    write_truth(truth_path + ".finisher", {"cpu_s": time.thread_time() - t0})


def main_work(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(500):
            x += i
    return x


def main():
    truth_path = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) > 2 else "normal"
    for i in range(2):
        threading.Thread(target=spin_forever, name="daemon-spin-%d" % i, daemon=True).start()
    threading.Thread(target=finisher, args=(truth_path,), name="finisher").start()
    t0 = time.thread_time()
    main_work(0.3)
    write_truth(truth_path, {"main_cpu_s": time.thread_time() - t0, "pid": os.getpid(), "mode": mode})
    if mode == "sysexit":
        sys.exit(3)


if __name__ == "__main__":
    main()
