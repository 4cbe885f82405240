#!/usr/bin/env python3
"""The ClickHouse suites (issue 12): the launcher's self-test, SQLite/ClickHouse conformance, a
two-shard cluster behind two servers, and faults. Every `tests/clickhouse/test_*.py` module is a
plain unittest module; each starts its own clickhouse-server processes (chserver.py: loopback,
ports chosen at run time, own folders) and flamewatch servers, and stops them. Ends with
`RESULT passed=N failed=M`. tests/suites/clickhouse.sh installs ClickHouse first when it can.

Usage: run.py [--build DIR] [-k SUBSTRING]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import unittest_dir  # noqa: E402

if __name__ == "__main__":
    sys.exit(unittest_dir.main([HERE] + sys.argv[1:]))
