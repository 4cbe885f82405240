"""A short CPU burn that reports what a profile's labels should say: its pid, its host name,
and the FLAMEWATCH_* variables `flamewatch run` gave it.
Usage: labels.py TRUTH.json [SECONDS]
"""
import os
import socket
import sys
import time

from wlcommon import write_truth


def labelled_work(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(500):
            x += i
    return x


def main():
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    labelled_work(budget)
    write_truth(sys.argv[1], {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "env": {k: v for k, v in os.environ.items() if k.startswith("FLAMEWATCH_") or k == "PYTHONPATH"},
        "file": os.path.abspath(__file__),
    })


if __name__ == "__main__":
    main()
