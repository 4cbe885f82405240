#!/usr/bin/env python3
"""Overhead of flamewatch's memory profiler against no profiler and tracemalloc (docs/BENCHMARKS.md,
"Memory").

Configurations, each a child process running bench/memory_workload.py KIND N:
  none        plain python
  fw-off      flamewatch run --no-cpu (the agent, memory profiler off: start-up and final profile)
  fw-1024     flamewatch run --no-cpu --memory --memory-threshold 1024
  fw-64       flamewatch run --no-cpu --memory --memory-threshold 64
  tm-1        python -X tracemalloc=1
  tm-16       python -X tracemalloc=16
(the CPU profile is off so that the memory profiler's cost is measured alone; --cpu turns it on in
every flamewatch configuration). Kinds (bench/memory_workload.py): alloc, mixed, and the shapes of
issue 15: churn (small dict/list/str churn), frees (frees of unsampled blocks), threads (churn in
4 threads). Runs are interleaved:
round r runs every configuration once, in a rotated order, RUNS rounds. For each run: wall time,
the child's CPU time (user + system, all threads, from os.wait4) and its peak RSS (ru_maxrss).
Reported: the median over rounds of the per-round ratio configuration/none, for wall and CPU, and
the extra peak RSS (median of the configuration minus median of none). The memory profiler's own
cost is also shown against fw-off (same agent start-up and exit, memory off): column "/fw-off".

--configs picks a subset (none is always run: it is the denominator). --baseline BUILD adds
base-off, base-1024 and base-64: the same flamewatch configurations from another build (say, the
previous commit's), interleaved with the rest, so that a change is measured side by side.

Usage: memory_overhead.py [--build build] [--python PY] [--runs 5] [--configs a,b] [--baseline B]
                          [--kinds alloc,mixed,churn,frees,threads] [--cpu] [--json OUT]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOAD = os.path.join(HERE, "memory_workload.py")
SIZES = {"alloc": 120, "mixed": 80, "churn": 10, "frees": 4, "threads": 10}
CONFIGS = ["none", "fw-off", "fw-1024", "fw-64", "tm-1", "tm-16"]


def command(cfg, build, python, kind, out, baseline=None, cpu=False):
    wl = [python, WORKLOAD, kind, str(SIZES[kind])]
    if cfg.startswith("base-"):
        build, cfg = baseline, "fw-" + cfg[5:]
    if cfg == "none":
        return wl
    if cfg.startswith("tm-"):
        return [python, "-X", "tracemalloc=" + cfg[3:]] + wl[1:]
    mem = [] if cfg == "fw-off" else ["--memory", "--memory-threshold", cfg[3:]]
    return [os.path.join(build, "flamewatch"), "run"] + ([] if cpu else ["--no-cpu"]) + mem + [
        "--output", out, "--upload-interval", "15", "--"] + wl


def run_once(cmd, env):
    if cmd[0].endswith("flamewatch"):
        # Each build's agent: flamewatch run finds it through PYTHONPATH.
        env = dict(env, PYTHONPATH=os.path.join(os.path.dirname(cmd[0]), "python"))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    if status != 0:
        raise SystemExit("failed (%s): %s\n%s" % (status, " ".join(cmd), err))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--baseline")
    ap.add_argument("--kinds", default=",".join(SIZES))
    ap.add_argument("--cpu", action="store_true",
                    help="CPU profiling on in every flamewatch configuration (issue 15 measured so)")
    ap.add_argument("--json")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    baseline = os.path.abspath(args.baseline) if args.baseline else None
    configs = ["none"] + [c for c in args.configs.split(",") if c and c != "none"]
    if baseline:
        configs += ["base-off", "base-1024", "base-64"]
    for c in configs:
        if c not in CONFIGS and not c.startswith("base-"):
            raise SystemExit("unknown configuration %r (known: %s)" % (c, ", ".join(CONFIGS)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAMEWATCH_")}
    env["PYTHONPATH"] = os.path.join(build, "python")
    tmp = tempfile.mkdtemp(prefix="fw-membench-")
    results = {}
    try:
        for kind in args.kinds.split(","):
            raw = {c: [] for c in configs}
            for r in range(args.runs):
                order = configs[r % len(configs):] + configs[:r % len(configs)]
                for cfg in order:
                    out = os.path.join(tmp, "%s-%s-%d" % (kind, cfg, r))
                    raw[cfg].append(run_once(command(cfg, build, args.python, kind, out, baseline,
                                                     args.cpu),
                                             env))
                    shutil.rmtree(out, ignore_errors=True)
            base = raw["none"]
            rows = {}
            off = raw.get("fw-off") or raw.get("base-off") or base
            for cfg in configs:
                own_off = raw.get("base-off", off) if cfg.startswith("base-") else off
                wall_r = statistics.median(x[0] / b[0] for x, b in zip(raw[cfg], base))
                cpu_r = statistics.median(x[1] / b[1] for x, b in zip(raw[cfg], base))
                rss = statistics.median(x[2] for x in raw[cfg]) - statistics.median(b[2] for b in base)
                rows[cfg] = {"wall_ratio": wall_r, "cpu_ratio": cpu_r, "extra_rss_mb": rss,
                             "wall_vs_off": statistics.median(x[0] / b[0] for x, b in zip(raw[cfg], own_off)),
                             "cpu_vs_off": statistics.median(x[1] / b[1] for x, b in zip(raw[cfg], own_off)),
                             "wall_s": statistics.median(x[0] for x in raw[cfg]),
                             "cpu_s": statistics.median(x[1] for x in raw[cfg])}
            results[kind] = rows
            print("%s (%s, %d interleaved runs%s)" % (kind, args.python, args.runs,
                                                      ", CPU profile on" if args.cpu else ""))
            print("  %-9s %8s %8s %9s %9s %11s %11s %10s" % ("config", "wall", "cpu", "wall/none", "cpu/none",
                                                           "wall/fw-off", "cpu/fw-off", "+RSS MiB"))
            for cfg in configs:
                x = rows[cfg]
                print("  %-9s %7.2fs %7.2fs %9.3f %9.3f %11.3f %11.3f %10.1f" % (
                    cfg, x["wall_s"], x["cpu_s"], x["wall_ratio"], x["cpu_ratio"], x["wall_vs_off"],
                    x["cpu_vs_off"], x["extra_rss_mb"]))
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
