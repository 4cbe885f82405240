#!/usr/bin/env python3
"""Latency of POST /api/v1/sql, this build against a baseline build, side by side (docs/BENCHMARKS.md).

Writes a small data directory once (--uploads realistic pprof uploads of --samples samples, 10 s
apart), then --runs times starts each server on it in turn and times two console queries: the SQL
shown beside the flame graph (the samples view, json_each over every block) and an aggregate over
the samples view. Each query is run once as a warm-up before it is timed. Prints the medians and
the ratio new/base.

Usage: sql_console.py --base BASE_BUILD [--build build] [--runs 7] [--uploads 20] [--samples 500]
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import run as srv  # noqa: E402
import pprofgen  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--base", required=True, help="a build directory (or any directory holding flamewatch)")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--samples", type=int, default=500)
    a = ap.parse_args()
    bins = [("base", os.path.join(a.base, "flamewatch")), ("new", os.path.join(a.build, "flamewatch"))]
    tmp = tempfile.mkdtemp(prefix="fw-sqlbench-")
    data = os.path.join(tmp, "data")
    try:
        srv.BIN = bins[1][1]
        now = int(time.time())
        with srv.Server(data=data) as s:
            for i in range(a.uploads):
                p, _ = pprofgen.realistic(a.samples, seed=i, time_ns=(now - 600 + i * 10) * 10**9)
                st, body, _ = s.ingest("bench{env=prod}", p.encode(), "pprof")
                assert st == 200, body
            _, fg = s.flame("bench", frm="now-1h", to="now+1m")
        queries = [("shown flame graph SQL", fg["sql"]),
                   ("aggregate over samples", "SELECT s.app, count(*), sum(value) FROM samples"
                                              " JOIN series s ON s.id = samples.series_id GROUP BY 1")]
        times = {}
        for _ in range(a.runs):
            for name, binary in bins:
                srv.BIN = binary
                with srv.Server(data=data) as s:
                    for qn, q in queries:
                        body = json.dumps({"query": q}).encode()
                        s.request("POST", "/api/v1/sql", body)
                        t0 = time.monotonic()
                        st, out, _ = s.request("POST", "/api/v1/sql", body)
                        times.setdefault((qn, name), []).append(time.monotonic() - t0)
                        assert st == 200, out[:300]
        for qn, _ in queries:
            b = statistics.median(times[(qn, "base")])
            n = statistics.median(times[(qn, "new")])
            print("%-24s base %8.1f ms   new %8.1f ms   new/base %.2f   (median of %d)"
                  % (qn, b * 1000, n * 1000, n / b, a.runs))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
