#!/bin/sh
# Hostile suite: abuse of the server and agent found by a probe (tests/hostile/run.py).
cd "$(dirname "$0")/../.." || exit 1
exec python3 tests/hostile/run.py --build "${FLAMEWATCH_TEST_BUILD:-build}"
