"""Children of every kind: os.fork, and multiprocessing with fork, spawn and forkserver.

The parent works first (parent_work), then starts the four children at once. Each child burns
CPU in its own function and writes its pid, its kind and its CPU time to TRUTH_DIR/child-PID.json;
the parent writes TRUTH.json with its own pid and the children's truth files' directory.
A forked child exits through sys.exit() (as gunicorn workers do); multiprocessing children
exit the way multiprocessing makes them.
Usage: processes.py TRUTH.json [CHILD_SECONDS]
"""
import multiprocessing
import os
import sys
import time

from wlcommon import write_truth


def burn(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(500):
            x += i
    return x


def parent_work(budget):
    return burn(budget)


def fork_child_work(budget):
    return burn(budget)


def mp_child_work(budget):
    return burn(budget)


def report(truth_dir, kind, cpu):
    write_truth(os.path.join(truth_dir, "child-%d.json" % os.getpid()),
                {"pid": os.getpid(), "kind": kind, "cpu_s": cpu})


def mp_child(kind, truth_dir, budget):
    t0 = time.thread_time()
    mp_child_work(budget)
    report(truth_dir, kind, time.thread_time() - t0)


def main():
    truth_path = sys.argv[1]
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 0.6
    truth_dir = os.path.dirname(os.path.abspath(truth_path))
    t0 = time.thread_time()
    parent_work(0.3)
    parent_cpu = time.thread_time() - t0

    pid = os.fork()
    if pid == 0:
        t0 = time.thread_time()
        fork_child_work(budget)
        report(truth_dir, "os.fork", time.thread_time() - t0)
        sys.exit(0)

    procs = []
    for method in ("fork", "spawn", "forkserver"):
        ctx = multiprocessing.get_context(method)
        p = ctx.Process(target=mp_child, args=("mp-" + method, truth_dir, budget), name="mp-" + method)
        p.start()
        procs.append(p)
    _, status = os.waitpid(pid, 0)
    codes = {"os.fork": os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status}
    for p in procs:
        p.join()
        codes[p.name] = p.exitcode
    write_truth(truth_path, {
        "pid": os.getpid(),
        "parent_cpu_s": parent_cpu,
        "exit_codes": codes,
        "truth_dir": truth_dir,
        "file": os.path.abspath(__file__),
    })


if __name__ == "__main__":
    main()
