"""Shared pieces of the hostile suite: the test server and the HTTP helpers of tests/server/run.py,
pointed at the build under test."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import run as server_tests  # noqa: E402

BUILD = os.environ.get("FLAMEWATCH_TEST_BUILD", os.path.join(ROOT, "build"))
server_tests.BIN = os.path.join(BUILD, "flamewatch")
BIN = server_tests.BIN
Server = server_tests.Server
TOKENS = server_tests.TOKENS
expect_error = server_tests.expect_error
free_port = server_tests.free_port
now = server_tests.now
cli = server_tests.cli
