"""Named busy threads with different CPU amounts, a sleeping thread and a ThreadPoolExecutor.

worker-1 burns about 0.9 s of CPU, worker-2 about 0.45 s, a two-thread pool runs six 0.1 s tasks,
and "sleeper" sleeps until everyone else is done. Each thread reports its own thread_time()
when its work ends (for pool threads, after each task: the last value is the thread's total),
and the sleeper its lifetime (its wall time) and its CPU.
Usage: threads.py TRUTH.json
"""
import concurrent.futures
import os
import sys
import threading
import time

from wlcommon import write_truth

lock = threading.Lock()
cpu = {}


def burn(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(500):
            x += i
    return x


def worker(budget):
    burn(budget)
    with lock:
        cpu[threading.current_thread().name] = time.thread_time()


def pool_task(budget):
    burn(budget)
    with lock:
        name = threading.current_thread().name
        cpu[name] = max(cpu.get(name, 0.0), time.thread_time())


def nap(done, info):
    start = time.monotonic()
    while not done.is_set():
        time.sleep(0.05)
    info["wall_s"] = time.monotonic() - start
    info["cpu_s"] = time.thread_time()


def main():
    done = threading.Event()
    sleeper_info = {}
    sleeper = threading.Thread(target=nap, args=(done, sleeper_info), name="sleeper")
    sleeper.start()
    workers = [threading.Thread(target=worker, args=(0.9,), name="worker-1"),
               threading.Thread(target=worker, args=(0.45,), name="worker-2")]
    for t in workers:
        t.start()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for f in [pool.submit(pool_task, 0.1) for _ in range(6)]:
            f.result()
    for t in workers:
        t.join()
    done.set()
    sleeper.join()
    write_truth(sys.argv[1], {
        "thread_cpu_s": cpu,
        "sleeper": sleeper_info,
        "file": os.path.abspath(__file__),
    })


if __name__ == "__main__":
    main()
