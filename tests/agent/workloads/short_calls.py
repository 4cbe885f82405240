"""Many short calls: a logging loop, as every real service runs.

A thread that calls and returns from small functions millions of times per second pushes and
pops its frames faster than the sampler can copy them one by one; a sampler that reads the top
frame pointer and the frames at different moments finds popped frames and loses the sample
("[unknown]"). The truth: the CPU the loop used, and the module's file.
Usage: short_calls.py TRUTH.json [SECONDS]
"""
import io
import logging
import os
import sys
import time

from wlcommon import write_truth


def log_loop(seconds):
    log = logging.getLogger("short_calls")
    log.addHandler(logging.StreamHandler(io.StringIO()))
    log.setLevel(logging.INFO)
    t0 = time.thread_time()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        log.info("request %s took %d ms", "/checkout", 42)
    return time.thread_time() - t0


def main():
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    cpu = log_loop(seconds)
    write_truth(sys.argv[1], {"cpu_s": cpu, "file": os.path.abspath(__file__)})


if __name__ == "__main__":
    main()
