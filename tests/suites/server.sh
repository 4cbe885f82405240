#!/bin/sh
# Server suite: HTTP ingest/query/security tests plus a short fuzzing run (tests/server/run.py).
cd "$(dirname "$0")/../.." || exit 1
exec python3 tests/server/run.py --build "${FLAMEWATCH_TEST_BUILD:-build}"
