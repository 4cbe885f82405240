#!/usr/bin/env python3
"""End-to-end HTTP latency of the query API on an existing data directory (docs/BENCHMARKS.md).

Starts `flamewatch server` on DIR (written by build/gen_dataset), then for each window and
endpoint runs the request --runs times (default 5) back to back and prints the median HTTP time
(request sent -> last byte read) and the server CPU per request (utime + stime of the server from
/proc/PID/stat around the runs). The first request of each endpoint and window is a warm-up and is
not counted (the page cache is the OS's business, not the store's).

Usage: query_latency.py --build build --data DIR --end UNIX_SECONDS [--windows 3600,86400]
                        [--app hist] [--type cpu] [--runs 5] [--max-nodes 20000]
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", required=True)
    ap.add_argument("--end", type=int, required=True)
    ap.add_argument("--windows", default="3600,86400")
    ap.add_argument("--app", default="hist")
    ap.add_argument("--type", default="cpu")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-nodes", type=int, default=20000)
    ap.add_argument("--endpoints", default="flamegraph,labels,trend")
    ap.add_argument("--filter", default="", help="a label filter K=V added to every request")
    args = ap.parse_args()
    port = free_port()
    srv = subprocess.Popen([os.path.join(args.build, "flamewatch"), "server", "--listen", "127.0.0.1:%d" % port,
                            "--data", args.data, "--retention", "30d"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d" % port
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        with open("/proc/loadavg") as f:
            print("load average at start: %s" % " ".join(f.read().split()[:3]))
        print("| window | endpoint | HTTP median of %d | runs (ms) | server CPU per request |" % args.runs)
        print("| --- | --- | --- | --- | --- |")
        for w in [int(x) for x in args.windows.split(",")]:
            for ep in args.endpoints.split(","):
                url = "%s/api/v1/%s?app=%s&type=%s&from=%d&to=%d" % (base, ep, args.app, args.type,
                                                                      args.end - w, args.end)
                if ep == "flamegraph" and args.max_nodes:
                    url += "&maxNodes=%d" % args.max_nodes
                if args.filter:
                    url += "&label=" + args.filter
                urllib.request.urlopen(url, timeout=600).read()   # warm-up
                times = []
                c0 = cpu_s(srv.pid)
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    with urllib.request.urlopen(url, timeout=600) as r:
                        r.read()
                    times.append(time.perf_counter() - t0)
                c1 = cpu_s(srv.pid)
                print("| %s | %s | **%.0f ms** | %s | %.0f ms |" % (
                    "%g h" % (w / 3600), ep, statistics.median(times) * 1000,
                    ", ".join("%.0f" % (t * 1000) for t in times), (c1 - c0) * 1000 / args.runs), flush=True)
        with open("/proc/loadavg") as f:
            print("load average at end: %s" % " ".join(f.read().split()[:3]))
    finally:
        srv.terminate()
        srv.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
