#!/bin/sh
# Analysis suite: findings, comparison significance, focus detail and questions on real agent
# profiles (tests/analysis/run.py).
cd "$(dirname "$0")/../.." || exit 1
exec python3 tests/analysis/run.py --build "${FLAMEWATCH_TEST_BUILD:-build}"
