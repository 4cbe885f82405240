#!/bin/sh
# Web console suite: the console in a real browser (Debian's chromium via playwright-core)
# against a real `flamewatch server` (tests/web/run.mjs). Screenshots: BUILD/test-output/web/.
cd "$(dirname "$0")/../.." || exit 1
if [ ! -d node_modules/playwright-core ]; then npm ci --no-audit --no-fund --loglevel=error || { echo "RESULT passed=0 failed=1"; exit 1; }; fi
exec node tests/web/run.mjs
