#!/usr/bin/env python3
"""The analysis suite (issue 13): the server's findings engine, GET /api/v1/analysis,
POST /api/v1/ask and `flamewatch analyze`/`flamewatch ask`, on real agent profiles of
tests/web/shop.py and tests/analysis/retain.py (fixture.py), plus small synthetic folded
profiles where a test needs exact numbers.

Every `tests/analysis/test_*.py` module is a plain unittest module. Ends with
`RESULT passed=N failed=M`; a skipped test counts as failed.

Usage: run.py [--build DIR] [-k SUBSTRING] (run by tests/unittest_dir.py).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import unittest_dir  # noqa: E402

if __name__ == "__main__":
    sys.exit(unittest_dir.main([HERE] + sys.argv[1:]))
