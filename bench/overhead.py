#!/usr/bin/env python3
"""CPU overhead of the flamewatch agent at a 10 ms sampling interval.

Method. The same fixed amount of pure-Python work (bench/workload.py) runs as a child process,
without the agent (plain `python workload.py`) and with it (`flamewatch run -- python
workload.py`), RUNS pairs of runs, interleaved so that both see the same machine conditions; the
order inside a pair alternates (baseline first, then agent first, ...), so that a machine that
slows down or speeds up during the run favours neither side. For each run the child's CPU time,
user + system of all its threads (the agent's sampler and worker threads included), comes from
os.wait4(). The overhead is the median of the per-pair ratios agent/baseline; their quartiles
are shown too.

The noise floor. A shared virtual machine varies by several percent between two identical runs,
more than the targets. So, unless --no-control, each pair also has a third run without the agent,
and the median and quartiles of baseline/baseline ratios (the A/A control) are shown beside the
agent's: a difference smaller than the control's spread is not resolved by this run.

From the agent's counters (flamewatch.stats(), written by the child at the end): the cost per
sample (µs per thread stack walked) and the achieved sampling rate (ticks per second of the
run, and ticks / ticks the interval called for). The child also reads the CPU clocks of the
agent's own native threads: their CPU as a share of the rest of the process is a low-noise view
of the direct cost; the CPU that a bare thread waking up at the same interval costs on this machine
(bench/wake_cost.c) is shown as its floor. "Estimate" adds to it the agent's start-up and exit cost (an empty run with
and without the agent, measured apart) over the baseline's CPU time: what the ratio would be
without noise, short of indirect costs such as cache effects.

Usage: overhead.py [--build build] [--python PY] [--threads 1,32] [--runs 11] [--seconds 3]
                   [--interval 10] [--no-control] [--json OUT]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOAD = os.path.join(HERE, "workload.py")
TARGETS = {1: 1.01, 32: 1.03}


def run_child(cmd, env):
    """Runs cmd; returns (CPU seconds of the child, user + system, its wall seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit("benchmark child failed (%s): %s\n%s" % (proc.returncode, " ".join(cmd), err))
    return ru.ru_utime + ru.ru_stime, wall


def base_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAMEWATCH_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def calibrate(python, threads, seconds):
    """Units of work that take about `seconds` of CPU without the agent."""
    units = 20
    while True:
        cpu, _ = run_child([python, WORKLOAD, str(threads), str(units)], base_env())
        if cpu >= 0.5:
            return max(1, int(units * seconds / cpu))
        units *= 4


def startup_cost(build, python, interval, tmp, runs):
    """Median extra CPU of an empty run with the agent: importing flamewatch, starting and
    stopping its threads, writing the final file. Shown apart from the steady-state cost.
    Empty runs take ~40 ms and vary by a few ms, so at least 21 pairs, in alternating order."""
    flamewatch = os.path.join(build, "flamewatch")
    plain = [python, WORKLOAD, "1", "0"]
    deltas = []
    for i in range(max(runs, 21)):
        agent_cmd = [flamewatch, "run", "--output", os.path.join(tmp, "startup-%d" % i), "--cpu-interval",
                     str(interval), "--"] + plain
        if i % 2 == 0:
            b, _ = run_child(plain, base_env())
            a, _ = run_child(agent_cmd, base_env())
        else:
            a, _ = run_child(agent_cmd, base_env())
            b, _ = run_child(plain, base_env())
        deltas.append(a - b)
    return statistics.median(deltas)


def wake_cost(interval, tmp, runs=5):
    """µs of CPU a bare thread costs per wake-up at `interval` ms on this machine (bench/wake_cost.c,
    compiled here with cc), the median of `runs` runs of 300 wake-ups; None without a C compiler."""
    exe = os.path.join(tmp, "wake_cost")
    try:
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "wake_cost.c")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return statistics.median(float(subprocess.run([exe, str(interval), "300"], check=True,
                                                      stdout=subprocess.PIPE).stdout)
                                 for _ in range(runs))
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        print("  (no wake-up floor: %s)" % exc, flush=True)
        return None


def quartiles(values):
    """(first quartile, median, third quartile), by statistics.quantiles' default method."""
    if len(values) < 2:
        return (values[0], values[0], values[0])
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return (q1, statistics.median(values), q3)


def measure(build, python, threads, runs, seconds, interval, tmp, startup, control):
    flamewatch = os.path.join(build, "flamewatch")
    units = calibrate(python, threads, seconds)
    plain = [python, WORKLOAD, str(threads), str(units)]
    base, agent, ratios, controls, stats = [], [], [], [], []
    for i in range(runs):
        out = os.path.join(tmp, "profiles-%d-%d" % (threads, i))
        stats_path = os.path.join(tmp, "stats-%d-%d.json" % (threads, i))
        with_agent = [flamewatch, "run", "--output", out, "--cpu-interval", str(interval), "--log", "warning",
                      "--"] + plain + [stats_path]
        sides = ["base", "agent"] + (["control"] if control else [])
        if i % 2 == 1:
            sides.reverse()
        cpu = {}
        for side in sides:
            cpu[side], wall = run_child(with_agent if side == "agent" else plain, base_env())
            if side == "agent":
                with open(stats_path) as f:
                    st = json.load(f)
                st["wall_s"] = wall
                stats.append(st)
        b, a = cpu["base"], cpu["agent"]
        base.append(b)
        agent.append(a)
        ratios.append(a / b)
        extra = ""
        if control:
            controls.append(cpu["control"] / b)
            extra = ", control %.3f s (A/A %.4f)" % (cpu["control"], controls[-1])
        print("  threads=%-3d pair %d: baseline %.3f s, agent %.3f s, ratio %.4f%s, %.1f us/stack, %d ticks"
              % (threads, i + 1, b, a, a / b, extra, stats[-1].get("us_per_stack", 0.0), stats[-1].get("ticks", 0)),
              flush=True)
    walked = sum(s.get("stacks_walked", 0) for s in stats)
    ticks = sum(s.get("ticks", 0) for s in stats)
    expected = sum(s.get("expected_ticks", 0) for s in stats)
    wall = sum(s["wall_s"] for s in stats)
    share = statistics.median(
        s["agent_threads_cpu_s"] / max(1e-9, s["process_cpu_s"] - s["agent_threads_cpu_s"]) for s in stats)
    return {
        "threads": threads,
        "runs": runs,
        "units": units,
        "baseline_cpu_s": statistics.median(base),
        "agent_cpu_s": statistics.median(agent),
        "median_ratio": statistics.median(ratios),
        "ratio_quartiles": quartiles(ratios),
        "control_quartiles": quartiles(controls) if controls else None,
        "ratio_of_medians": statistics.median(agent) / statistics.median(base),
        "steady_ratio": statistics.median((a - startup) / b for a, b in zip(agent, base)),
        "ratios": ratios,
        "controls": controls,
        # Median over runs: one run on a busy machine (the sampler preempted mid-walk) can
        # inflate a mean by an order of magnitude.
        "us_per_stack": statistics.median(s["walk_ns"] / s["stacks_walked"] / 1000.0
                                          for s in stats if s.get("stacks_walked")) if walked else None,
        "stacks_per_tick": walked / ticks if ticks else None,
        "ticks_per_s": ticks / wall if wall else None,
        "tick_ratio": ticks / expected if expected else None,
        "late_ticks": sum(s.get("late_ticks", 0) for s in stats),
        # The agent threads' own CPU as a share of the rest of the process: immune to the
        # run-to-run noise of comparing two processes, but blind to indirect costs.
        "agent_threads_share": share,
        "estimate": 1.0 + share + startup / statistics.median(base),
        "target": TARGETS.get(threads),
    }


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "machine": platform.machine(),
            "load_before": os.getloadavg()[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--threads", default="1,32")
    ap.add_argument("--runs", type=int, default=11, help="pairs of runs per case (at least 5)")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--no-control", dest="control", action="store_false",
                    help="skip the A/A control run of each pair (a third of the time)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.runs < 5:
        ap.error("--runs must be at least 5")
    build = os.path.abspath(args.build)
    ver = subprocess.run([args.python, "-c", "import sys;print('%d.%d.%d'%sys.version_info[:3])"],
                         stdout=subprocess.PIPE).stdout.decode().strip()
    info = {"python": ver, "interval_ms": args.interval, "machine": machine(), "results": []}
    print("flamewatch overhead: CPython %s, %d ms interval, %d runs per case, %s" % (
        ver, args.interval, args.runs, info["machine"]["cpu"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="fw-bench-") as tmp:
        info["startup_cpu_s"] = startup_cost(build, args.python, args.interval, tmp, args.runs)
        print("  agent start-up + final write: %.1f ms CPU" % (info["startup_cpu_s"] * 1e3), flush=True)
        info["wake_us"] = wake_cost(args.interval, tmp)
        if info["wake_us"] is not None:
            print("  a bare thread waking every %d ms: %.1f us CPU per wake-up, %.2f%% of a core" % (
                args.interval, info["wake_us"], info["wake_us"] / (args.interval * 10.0)), flush=True)
        for t in [int(x) for x in args.threads.split(",")]:
            info["results"].append(measure(build, args.python, t, args.runs, args.seconds, args.interval, tmp,
                                           info["startup_cpu_s"], args.control))
    info["machine"]["load_after"] = os.getloadavg()[0]
    print()
    print("| threads | baseline CPU s | agent CPU s | median ratio (quartiles) | target | A/A control (quartiles) "
          "| estimate | agent threads | µs/stack | stacks/tick | ticks/s | ticks/expected |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in info["results"]:
        tgt = r["target"]
        verdict = "" if tgt is None else (" met" if r["median_ratio"] <= tgt else " **missed**")
        cq = r["control_quartiles"]
        print("| %d | %.3f | %.3f | %.4f (%.3f-%.3f) | %s%s | %s | %.4f | %.2f%% | %.2f | %.2f | %.1f | %.3f |" % (
            r["threads"], r["baseline_cpu_s"], r["agent_cpu_s"], r["median_ratio"], r["ratio_quartiles"][0],
            r["ratio_quartiles"][2], "≤%.2f" % tgt if tgt else "-", verdict,
            "%.4f (%.3f-%.3f)" % (cq[1], cq[0], cq[2]) if cq else "-", r["estimate"],
            100 * r["agent_threads_share"], r["us_per_stack"] or 0,
            r["stacks_per_tick"] or 0, r["ticks_per_s"] or 0, r["tick_ratio"] or 0))
    if info.get("wake_us") is not None:
        print("\nwake-up floor: a thread that only wakes every %d ms costs %.2f%% of a core here (%.1f us per "
              "wake-up); it is part of the agent threads' share." % (
                  args.interval, info["wake_us"] / (args.interval * 10.0), info["wake_us"]))
    print("\nmachine: %s, %d cores, kernel %s; load average %.2f before, %.2f after" % (
        info["machine"]["cpu"], info["machine"]["cores"], info["machine"]["kernel"],
        info["machine"]["load_before"], info["machine"]["load_after"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(info, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
