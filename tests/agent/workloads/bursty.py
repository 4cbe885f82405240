"""CPU in short bursts between short sleeps, as a request handler that waits on I/O does.

THREADS threads (default 1) each run burst() (3 ms of CPU) then time.sleep(0.001), for about
SECONDS. Almost all of their CPU is in burst(); the sleeps take next to none (the truth keeps
both: burst() CPU from thread_time() around each call, and each thread's total).
A profiler that charges the CPU a thread used since the last tick to wherever the thread is at
the tick would charge much of burst()'s CPU to the sleep line, where the threads often are.
Usage: bursty.py TRUTH.json [THREADS] [SECONDS]
"""
import os
import sys
import threading
import time

from wlcommon import agent_counters, write_truth


def burst(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x += i
    return x


def handler_loop(seconds, out):
    in_burst = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.thread_time()
        burst(0.003)
        in_burst += time.thread_time() - t0
        time.sleep(0.001)  # FW-MARK: wait
    out[threading.current_thread().name] = {"burst_cpu_s": in_burst, "thread_cpu_s": time.thread_time()}


def main():
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    out = {}
    ts = [threading.Thread(target=handler_loop, args=(seconds, out), name="handler-%d" % i) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    write_truth(sys.argv[1], {"threads": out, "file": os.path.abspath(__file__), "agent": agent_counters()})


if __name__ == "__main__":
    main()
