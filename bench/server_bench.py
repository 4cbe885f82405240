#!/usr/bin/env python3
"""Server benchmark and load generator (stdlib only).

  ingest : 8 concurrent clients upload realistic gzip pprofs (~2,000 distinct stacks each)
           as fast as the server acknowledges them; reports stack values/s and MB/s.
  query  : loads N instances x H hours of 15 s uploads (timestamps in the past), then times
           the flame graph over 1 h, 24 h and 7 days end to end over HTTP (median of 5).
  storage: database bytes per stored stack value.

Usage: server_bench.py [--build DIR] [--clients 8] [--uploads 40] [--instances 50]
                       [--hours 1] [--stacks 2000] [--query-stacks 200]
Prints a Markdown table for docs/BENCHMARKS.md ("Server").
"""
import argparse
import os
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import pprofgen  # noqa: E402
import run as srvtest  # noqa: E402


def post(url, body):
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
        return r.status


def bench_ingest(srv, clients, uploads, stacks):
    payloads = [pprofgen.realistic(stacks, seed=100 + k, time_ns=int(time.time() - 60) * 10**9)[0].encode()
                for k in range(clients)]
    errors = []
    def worker(k):
        url = srv.url + "/ingest?" + urllib.parse.urlencode({"name": "bench{instance=c%d}" % k, "format": "pprof"})
        for _ in range(uploads):
            try:
                if post(url, payloads[k]) != 200:
                    errors.append(k)
            except Exception as e:  # noqa: BLE001
                errors.append(str(e))
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - t0
    n = clients * uploads
    return {"uploads": n, "seconds": secs, "values_per_s": n * stacks / secs,
            "mb_per_s": sum(len(p) for p in payloads) * uploads / secs / 1e6, "errors": len(errors)}


def load_history(srv, instances, hours, stacks, clients=8):
    """instances x hours of uploads every 15 s, ending now; each instance its own payload."""
    end = int(time.time()) - 30
    steps = int(hours * 3600 / 15)
    payloads = [pprofgen.realistic(stacks, seed=500 + i)[0] for i in range(min(instances, 10))]
    jobs = [(i, end - s * 15) for s in range(steps) for i in range(instances)]
    lock = threading.Lock()
    def worker():
        while True:
            with lock:
                if not jobs:
                    return
                i, t = jobs.pop()
            body = payloads[i % len(payloads)].encode(compress=False)
            q = urllib.parse.urlencode({"name": "hist{instance=i%d}" % i, "format": "pprof", "from": t, "until": t + 15})
            post(srv.url + "/ingest?" + q, body)
    t0 = time.perf_counter()
    ths = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return steps * instances, time.perf_counter() - t0


def time_query(srv, frm, reps=5):
    times = []
    for _ in range(reps):
        url = srv.url + "/api/v1/flamegraph?" + urllib.parse.urlencode({"app": "hist", "from": frm, "to": "now"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=300) as r:
            r.read()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--uploads", type=int, default=40)
    ap.add_argument("--stacks", type=int, default=2000)
    ap.add_argument("--instances", type=int, default=50)
    ap.add_argument("--hours", type=float, default=1)
    ap.add_argument("--query-stacks", type=int, default=200)
    args = ap.parse_args()
    srvtest.BIN = os.path.join(os.path.abspath(args.build), "flamewatch")
    with srvtest.Server(args=["--threads", "8"]) as srv:
        ing = bench_ingest(srv, args.clients, args.uploads, args.stacks)
        print("ingest: %(uploads)d uploads in %(seconds).2fs: %(values_per_s).0f stack values/s, "
              "%(mb_per_s).1f MB/s, %(errors)d errors" % ing, flush=True)
        n, secs = load_history(srv, args.instances, args.hours, args.query_stacks)
        print("history: %d uploads (%d instances x %gh x 15 s, %d stacks each) in %.1fs"
              % (n, args.instances, args.hours, args.query_stacks, secs), flush=True)
        q1 = time_query(srv, "now-1h")
        q24 = time_query(srv, "now-24h")
        q7 = time_query(srv, "now-7d")
        size = os.path.getsize(srv.db) + (os.path.getsize(srv.db + "-wal") if os.path.exists(srv.db + "-wal") else 0)
        values = ing["uploads"] * args.stacks + n * args.query_stacks
        print("\n| measure | result |\n| --- | --- |")
        print("| ingest, %d clients, %d-stack gzip pprofs | %.0f stack values/s (%.1f MB/s of uploads) |"
              % (args.clients, args.stacks, ing["values_per_s"], ing["mb_per_s"]))
        print("| flame graph, 1 h window (median of 5) | %.0f ms |" % (q1 * 1000))
        print("| flame graph, 24 h window (median of 5) | %.0f ms |" % (q24 * 1000))
        print("| flame graph, 7 d window (median of 5) | %.0f ms |" % (q7 * 1000))
        print("| storage | %.1f bytes per stack value (%d values, %.1f MB) |" % (size / values, values, size / 1e6))


if __name__ == "__main__":
    main()
