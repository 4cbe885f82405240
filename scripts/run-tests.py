#!/usr/bin/env python3
"""Runs every flamewatch test suite and ends with one summary line: `N passed, N failed`.

Suites:
  * C unit tests (cmocka), normal build and ASan+UBSan build: every binary in BUILD/tests and BUILD/asan/tests.
  * Agent integration tests, once per interpreter given on the command line (tests/agent/run.py).
  * Any executable tests/suites/*.sh or *.py (later components register here); each prints
    `RESULT passed=N failed=M` as its last such line.
A suite that crashes or prints no count is one failure, never a silent pass.
"""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env=None, timeout=900):
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)
        out, rc = proc.stdout.decode("utf-8", "replace"), proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace") + "\n[timed out after %ds]\n" % timeout
        rc = -1
    return out, rc, time.monotonic() - start


def cmocka_counts(out, rc):
    passed = sum(int(m) for m in re.findall(r"\[  PASSED  \] (\d+) test", out))
    failed = sum(int(m) for m in re.findall(r"\[  FAILED  \] (\d+) test", out))
    if rc != 0 and failed == 0:
        failed = 1
    if passed == 0 and failed == 0:
        failed = 1
    return passed, failed


def result_counts(out, rc):
    found = re.findall(r"RESULT passed=(\d+) failed=(\d+)", out)
    if not found:
        return 0, 1
    passed, failed = (int(x) for x in found[-1])
    if rc != 0 and failed == 0:
        failed = 1
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("pythons", nargs="*")
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build)
    total_pass = total_fail = 0
    failures = []

    def record(name, counts, out, secs):
        nonlocal total_pass, total_fail
        p, f = counts
        total_pass += p
        total_fail += f
        print("%-48s %4d passed, %d failed  (%.1fs)" % (name, p, f, secs), flush=True)
        if f:
            failures.append((name, out))

    for sub in ("tests", os.path.join("asan", "tests")):
        d = os.path.join(build, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                       UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
            out, rc, secs = run([os.path.join(d, name)], env=env)
            record("unit%s %s" % (" (asan)" if sub.startswith("asan") else "", name),
                   cmocka_counts(out, rc), out, secs)

    for py in args.pythons:
        env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"),
                   FLAMEWATCH_TEST_BUILD=build, PYTHONDONTWRITEBYTECODE="1")
        out, rc, secs = run([py, "tests/agent/run.py"], env=env, timeout=1200)
        ver = subprocess.run([py, "-c", "import sys;print('%d.%d'%sys.version_info[:2])"],
                             stdout=subprocess.PIPE).stdout.decode().strip()
        record("agent python%s" % ver, result_counts(out, rc), out, secs)

    # The agent built with ASan+UBSan (make agent-asan): the memory profiler's tests, whose hooks
    # run inside every allocation, and its robustness tests (fork, exit, switching at run time).
    # Python itself is not instrumented, so libasan is preloaded and leak checking is off
    # (CPython keeps its own allocations to the end).
    asan_build = os.path.join(build, "asan-agent")
    asan_python = os.path.join(asan_build, "python.txt")
    if os.path.isfile(asan_python):
        with open(asan_python) as f:
            py = f.read().strip()
        libasan = subprocess.run(["cc", "-print-file-name=libasan.so"], stdout=subprocess.PIPE).stdout.decode().strip()
        env = dict(os.environ, PYTHONPATH=os.path.join(asan_build, "python"), FLAMEWATCH_TEST_BUILD=asan_build,
                   PYTHONDONTWRITEBYTECODE="1", LD_PRELOAD=libasan,
                   ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=86",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86")
        out, rc, secs = run([py, "tests/agent/run.py", "-k", "test_memory"], env=env, timeout=1200)
        record("agent (asan) memory", result_counts(out, rc), out, secs)

    suites = os.path.join(ROOT, "tests", "suites")
    if os.path.isdir(suites):
        for name in sorted(os.listdir(suites)):
            path = os.path.join(suites, name)
            if not os.access(path, os.X_OK):
                continue
            env = dict(os.environ, FLAMEWATCH_TEST_BUILD=build)
            out, rc, secs = run([path], env=env, timeout=1200)
            record("suite " + name, result_counts(out, rc), out, secs)

    for name, out in failures:
        print("\n===== FAILED: %s =====\n%s" % (name, out[-20000:]))
    print("%d passed, %d failed" % (total_pass, total_fail))
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
