#!/usr/bin/env python3
"""CPU cost of starting the flamewatch CLI: user + system time of the child from os.wait4(),
median of --runs runs, for several builds of the binary side by side (interleaved, so they see
the same machine conditions). Results for docs/BENCHMARKS.md ("Start-up of the CLI").

Commands timed, for each binary:
  run:  flamewatch run --output DIR -- /bin/true   (set up the environment, exec /bin/true)
  help: flamewatch --help
and /bin/true alone, the floor of any exec.

Usage: bench/cli_startup.py [--runs 31] LABEL=PATH [LABEL=PATH ...]
  e.g. bench/cli_startup.py before=/path/to/old/flamewatch after=build/flamewatch
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile


def cpu_of(cmd):
    """CPU seconds (user + system) of cmd run to completion; fails if it does not exit 0."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), err))
    return ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=31)
    ap.add_argument("binaries", nargs="+", metavar="LABEL=PATH")
    args = ap.parse_args()
    bins = []
    for b in args.binaries:
        label, sep, path = b.partition("=")
        if not sep or not os.access(path, os.X_OK):
            raise SystemExit("expected LABEL=PATH to an executable, got %r" % b)
        bins.append((label, os.path.abspath(path)))
    tmp = tempfile.mkdtemp(prefix="fw-cli-startup-")
    cases = [("/bin/true", None, lambda p, i: ["/bin/true"])]
    for label, path in bins:
        cases.append(("%s: run -- /bin/true" % label, path,
                      lambda p, i: [p, "run", "--output", os.path.join(tmp, "out-%d" % i), "--", "/bin/true"]))
        cases.append(("%s: --help" % label, path, lambda p, i: [p, "--help"]))
    times = {name: [] for name, _, _ in cases}
    try:
        for name, path, make in cases:   # one warm-up run each (page cache)
            cpu_of(make(path, -1))
        for i in range(args.runs):
            for name, path, make in cases:
                times[name].append(cpu_of(make(path, i)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| command | median CPU ms | min | max | runs |")
    print("| --- | --- | --- | --- | --- |")
    for name, _, _ in cases:
        t = times[name]
        print("| %s | %.2f | %.2f | %.2f | %d |" % (name, statistics.median(t) * 1e3, min(t) * 1e3, max(t) * 1e3,
                                                   len(t)))


if __name__ == "__main__":
    main()
