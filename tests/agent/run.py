#!/usr/bin/env python3
"""Runs the agent integration tests (tests/agent/test_*.py) under the interpreter running this file.

    PYTHONPATH=build/python FLAMEWATCH_TEST_BUILD=$PWD/build python3 tests/agent/run.py [-k PATTERN]

Prints one line per test as it finishes and, last, exactly one summary line
`RESULT passed=N failed=M`, which scripts/run-tests.py parses. Errors count as failures, and so do
skips and unexpected successes: a test that did not run proved nothing, so it must not hide a
failure. The exit status is 0 only when nothing failed.
"""
import argparse
import os
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class _Result(unittest.TestResult):
    """Prints each outcome as it happens and keeps the counts."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.passed = 0
        self.failed = 0
        self.reports = []
        self._start = 0.0

    def startTest(self, test):
        super().startTest(test)
        self._start = time.monotonic()

    def _line(self, test, outcome, detail=None):
        secs = time.monotonic() - self._start
        self.stream.write("%-6s %s (%.1fs)\n" % (outcome, test.id(), secs))
        self.stream.flush()
        if detail:
            self.reports.append("%s %s\n%s" % (outcome, test.id(), detail))

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.failed += 1
        self._line(test, "FAIL", "".join(traceback.format_exception(*err)))

    def addError(self, test, err):
        super().addError(test, err)
        self.failed += 1
        self._line(test, "ERROR", "".join(traceback.format_exception(*err)))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.failed += 1
        self._line(test, "SKIP", "skipped tests count as failed: %s" % reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line(test, "xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.failed += 1
        self._line(test, "XPASS", "unexpected success")

    def addSubTest(self, test, subtest, err):
        # A failing subtest fails its test once; passing subtests are part of their test.
        if err is not None:
            super().addSubTest(test, subtest, err)
            self.failed += 1
            kind = "FAIL" if issubclass(err[0], test.failureException) else "ERROR"
            self._line(subtest, kind, "".join(traceback.format_exception(*err)))


def _tests(pattern):
    loader = unittest.TestLoader()
    if pattern:
        loader.testNamePatterns = ["*%s*" % pattern]
    return loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", dest="pattern", help="only tests whose name contains PATTERN")
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    print("python %s (%s)" % (sys.version.split()[0], sys.executable), flush=True)
    result = _Result(sys.stdout)
    try:
        suite = _tests(args.pattern)
        suite.run(result)
    except Exception:  # discovery itself failed: that is a failure, never a silent pass
        traceback.print_exc()
        result.failed += 1
    if result.passed + result.failed == 0:
        print("no tests ran", flush=True)
        result.failed += 1
    for report in result.reports:
        print("\n" + "=" * 70 + "\n" + report)
    sys.stdout.write("RESULT passed=%d failed=%d\n" % (result.passed, result.failed))
    sys.stdout.flush()
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
