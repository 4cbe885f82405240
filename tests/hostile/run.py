#!/usr/bin/env python3
"""The hostile suite: defects found by probing the server and the agent as an attacker or a
careless client would (issue 11), each kept out by a test here.

Every `tests/hostile/test_*.py` module is a plain unittest module. Servers are started with
`hostile.Server` (tests/server/run.py's Server: a free 127.0.0.1 port chosen at run time, a
fresh data directory, stopped by the test). Ends with `RESULT passed=N failed=M`.

Usage: run.py [--build DIR] [-k SUBSTRING] (run by tests/unittest_dir.py).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import unittest_dir  # noqa: E402

if __name__ == "__main__":
    sys.exit(unittest_dir.main([HERE] + sys.argv[1:]))
