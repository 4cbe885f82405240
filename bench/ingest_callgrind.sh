#!/bin/sh
# Server instructions per upload, under valgrind's callgrind: a figure that does not depend on
# what else the (shared, 2-core) machine is doing. Starts `flamewatch server` under callgrind,
# warms it up (the first uploads create the stacks), zeroes the counters, sends CLIENTS x UPLOADS
# uploads with build/ingest_load (2,000-stack gzip pprofs), dumps, and prints instructions per upload.
#
# Usage: sh bench/ingest_callgrind.sh [FLAMEWATCH_BINARY] [UPLOADS_PER_CLIENT]   (make bench-tools first)
# FW_SERVER_ARGS adds server options (e.g. FW_SERVER_ARGS="--cache-mb 1").
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-build/flamewatch}
N=${2:-10}
CLIENTS=8
PORT=$((20000 + $$ % 10000))
DIR=$(mktemp -d /tmp/fw_cg_XXXXXX)
OUT=$DIR/callgrind.out
valgrind --tool=callgrind --callgrind-out-file="$OUT" "$BIN" server --listen 127.0.0.1:$PORT \
    --data "$DIR/data" --threads 8 ${FW_SERVER_ARGS:-} >"$DIR/server.log" 2>&1 &
VPID=$!
trap 'kill $VPID 2>/dev/null; wait $VPID 2>/dev/null; if [ -n "${KEEP:-}" ]; then echo "kept $DIR" >&2; else rm -rf "$DIR"; fi' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.5
done
build/ingest_load --url "http://127.0.0.1:$PORT" --clients $CLIENTS --uploads 2 --runs 1 >/dev/null 2>&1 || echo "warm-up had errors" >&2
callgrind_control -z $VPID >/dev/null
build/ingest_load --url "http://127.0.0.1:$PORT" --clients $CLIENTS --uploads "$N" --runs 1 || echo "uploads had errors" >&2
callgrind_control -d $VPID >/dev/null
sleep 1
total=0
for f in "$OUT"*; do
    n=$(grep -m1 '^summary:' "$f" 2>/dev/null | awk '{print $2}')
    [ -n "$n" ] && total=$((total + n))
done
uploads=$((CLIENTS * N))
echo "server instructions: $total for $uploads uploads = $((total / uploads)) per 2,000-stack upload ($BIN)"
