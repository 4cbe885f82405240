#!/usr/bin/env python3
"""Store scale-out benchmark (issue 12, §4; docs/BENCHMARKS.md, "Store backends").

Three set-ups, the same load and the same data, one after the other on this machine:
  sqlite : one `flamewatch server --data DIR` (the embedded default);
  ch1    : one `flamewatch server --store clickhouse://...` on one clickhouse-server;
  ch2    : two flamewatch servers on one `...?cluster=fw` URL over two clickhouse-server shards
           (tests/clickhouse/chserver.py starts them on loopback, own ports and folders).

Ingest: build/ingest_load (bench/ingest_load.c, `make bench-tools`), 8 clients posting a 2,000-stack
gzip pprof stamped now, --runs rounds of --seconds; with two servers, two generators of 4 clients
each run at the same time, one per server, and a round's figure is their sum. Reported: median
stack values/s over the rounds, and the server CPU per upload (ch2: the mean of the two servers').

Queries: a history of --days days is loaded over HTTP first (app "hist": --instances instances,
one 200-stack pprof per instance every --every seconds, from a pool of 12 payloads; ch2 splits
the uploads between its servers), then each query runs once to warm up and --runs times; the
median HTTP time (request sent to last byte) is reported; ch2 asks its second server. Queries: flame
graph over 1 h, 24 h and 7 d (maxNodes 20,000), trend and labels over 7 d.

A set-up that cannot start (no ClickHouse installed, or a flamewatch without the ClickHouse
backend) is reported as such and the others still run.

Usage: store_scale.py [--build build] [--setups sqlite,ch1,ch2] [--seconds 5] [--runs 5]
                      [--days 7] [--instances 4] [--every 600] [--json OUT]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# tests/server first: tests/clickhouse has a run.py of its own (its suite runner).
sys.path.insert(0, os.path.join(ROOT, "tests", "clickhouse"))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import chserver  # noqa: E402
import pprofgen  # noqa: E402
import run as srvtest  # noqa: E402

RUN_RE = re.compile(r"run \d+/\d+: (\d+) uploads in ([\d.]+) s, (\d+) stack values/s, .*?server CPU ([-\d.]+) ms/upload")


class Setup:
    """The flamewatch servers (and clickhouse-servers) of one set-up."""

    def __init__(self, name, build):
        self.name, self.build, self.ch, self.servers, self.error = name, build, None, [], None

    def start(self):
        args = ["--retention", "30d", "--threads", "8"]
        try:
            if self.name == "sqlite":
                self.servers = [srvtest.Server(args=args)]
            elif self.name == "ch1":
                self.ch = chserver.ClickHouse("bench").start()
                self.servers = [srvtest.Server(store=self.ch.url("bench"), args=args)]
            else:
                self.ch = chserver.ClickHouseCluster(shards=2).start()
                self.servers = [srvtest.Server(store=self.ch.url("bench"), args=args) for _ in range(2)]
            for s in self.servers:
                s.start()
        except Exception as exc:  # noqa: BLE001: reported in the table
            self.error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return self

    def stop(self):
        for s in self.servers:
            s.cleanup()
        if self.ch:
            self.ch.cleanup()


def ingest_round(setup, seconds):
    """One round of build/ingest_load against every server at once; (values/s, server ms/upload)."""
    per = 8 // len(setup.servers)
    procs = [subprocess.Popen([os.path.join(setup.build, "ingest_load"), "--url", s.url, "--pid", str(s.proc.pid),
                               "--clients", str(per), "--seconds", str(seconds), "--runs", "1",
                               "--app", "bench"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for s in setup.servers]
    vps, cpu = 0.0, []
    for p in procs:
        out, err = p.communicate(timeout=seconds * 4 + 120)
        m = RUN_RE.search(err.decode())
        if p.returncode != 0 or not m:
            raise RuntimeError("ingest_load failed: %s" % (err.decode()[-500:]))
        vps += float(m.group(3))
        cpu.append(float(m.group(4)))
    return vps, statistics.mean(cpu)


def load_history(setup, days, instances, every):
    end = int(time.time()) - 60
    payloads = [pprofgen.realistic(200, seed=700 + k, time_ns=0)[0].encode() for k in range(12)]
    jobs = [(i, end - s * every) for s in range(int(days * 86400 // every)) for i in range(instances)]
    n = len(jobs)
    lock, errors = threading.Lock(), []

    def worker(w):
        srv = setup.servers[w % len(setup.servers)]
        while True:
            with lock:
                if not jobs:
                    return
                i, t = jobs.pop()
            params = {"name": "hist{instance=i%d}" % i, "format": "pprof", "from": t, "until": t + every}
            st, body, _ = srv.request("POST", "/ingest", payloads[(i + t // every) % 12], params=params)
            if st != 200:
                errors.append((st, body[:200]))
    t0 = time.perf_counter()
    ths = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    secs = time.perf_counter() - t0
    if errors:
        raise RuntimeError("%d history uploads failed, first: %r" % (len(errors), errors[0]))
    return n, secs, end


def time_get(srv, path, params, runs):
    url = srv.url + path + "?" + urllib.parse.urlencode(params)
    times = []
    for k in range(runs + 1):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=600) as r:
            body = r.read()
        if k:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, json.loads(body)


def measure(setup, args):
    res = {"setup": setup.name}
    if setup.error:
        res["error"] = setup.error
        return res
    rounds = [ingest_round(setup, args.seconds) for _ in range(args.runs)]
    res["ingest_values_per_s"] = statistics.median(r[0] for r in rounds)
    res["ingest_rounds"] = [round(r[0]) for r in rounds]
    res["server_cpu_ms_per_upload"] = statistics.median(r[1] for r in rounds)
    n, secs, end = load_history(setup, args.days, args.instances, args.every)
    res["history"] = {"uploads": n, "seconds": round(secs, 1), "values": n * 200}
    time.sleep(args.settle)       # let maintenance (roll-ups) catch up with the history
    q = setup.servers[-1]
    to = str(end + 60)
    queries = [("flamegraph 1 h", "/api/v1/flamegraph", 3600), ("flamegraph 24 h", "/api/v1/flamegraph", 86400),
               ("flamegraph 7 d", "/api/v1/flamegraph", 7 * 86400), ("trend 7 d", "/api/v1/trend", 7 * 86400),
               ("labels 7 d", "/api/v1/labels", 7 * 86400)]
    res["queries_ms"], res["totals"] = {}, {}
    for label, path, span in queries:
        p = {"app": "hist", "type": "cpu", "from": str(end - span), "to": to}
        if path.endswith("flamegraph"):
            p["maxNodes"] = "20000"
        ms, body = time_get(q, path, p, args.runs)
        res["queries_ms"][label] = round(ms, 1)
        if "total" in body:
            res["totals"][label] = body["total"]
    if setup.ch is not None:
        # What the inserts left on disk: ClickHouse writes one part per insert, table and partition
        # (a directory of files) and merges them in the background.
        nodes = setup.ch.nodes if hasattr(setup.ch, "nodes") else [setup.ch]
        res["parts_active"] = sum(int(n.scalar("SELECT count() FROM system.parts WHERE database = 'bench' AND active"))
                                  for n in nodes)
        res["files"] = sum(sum(len(f) for _, _, f in os.walk(n.tmp)) for n in nodes)
    return res


def table(results):
    base = next((r for r in results if r["setup"] == "sqlite" and "error" not in r), None)
    cols = [r["setup"] for r in results]
    lines = ["| measure | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]

    def cell(r, v, bv, unit, fmt):
        if "error" in r:
            return "n/a"
        s = fmt % v + unit
        if base is not None and r is not base and bv:
            s += " (%.2fx)" % (v / bv)
        return s

    lines.append("| ingest, stack values/s (8 clients, median) | " + " | ".join(
        cell(r, r.get("ingest_values_per_s", 0), base and base["ingest_values_per_s"], "", "%.0f") for r in results) + " |")
    lines.append("| server CPU per upload | " + " | ".join(
        cell(r, r.get("server_cpu_ms_per_upload", 0), base and base["server_cpu_ms_per_upload"], " ms", "%.2f")
        for r in results) + " |")
    for label in ("flamegraph 1 h", "flamegraph 24 h", "flamegraph 7 d", "trend 7 d", "labels 7 d"):
        lines.append("| %s, HTTP median | " % label + " | ".join(
            cell(r, r.get("queries_ms", {}).get(label, 0), base and base["queries_ms"][label], " ms", "%.1f")
            for r in results) + " |")
    for r in results:
        if "error" in r:
            lines.append("\n%s: not measured: %s" % (r["setup"], r["error"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--setups", default="sqlite,ch1,ch2")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--instances", type=int, default=4)
    ap.add_argument("--every", type=int, default=600)
    ap.add_argument("--settle", type=float, default=15)
    ap.add_argument("--json")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    srvtest.BIN = os.path.join(args.build, "flamewatch")
    if not os.access(os.path.join(args.build, "ingest_load"), os.X_OK):
        sys.exit("store_scale: %s/ingest_load is missing: run `make bench-tools`" % args.build)
    results = []
    for name in args.setups.split(","):
        if name.startswith("ch") and not chserver.available():
            results.append({"setup": name, "error": "clickhouse-server is not installed"})
            continue
        setup = Setup(name, args.build).start()
        try:
            load = os.getloadavg()[0]
            r = measure(setup, args)
            r["load"] = [round(load, 1), round(os.getloadavg()[0], 1)]
        finally:
            setup.stop()
        print(json.dumps(r), flush=True)
        results.append(r)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
