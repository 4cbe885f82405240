#!/usr/bin/env python3
"""flamewatch beside CPython's own sampling profiler (`python -m profiling.sampling`, 3.15): accuracy and cost.

Both tools profile the same workloads at the same sampling rates (100 Hz and 1 kHz by default):
flamewatch as `flamewatch run --cpu-interval MS -- PY SCRIPT`, CPython's profiler as
`PY -m profiling.sampling run --mode cpu -a -r HZ --collapsed -o FILE SCRIPT` (it starts the
target as a child process and reads its memory from outside).

Accuracy. bench/split_workload.py runs one busy thread whose CPU is split between known functions;
the workload times every call with time.thread_time(), which is the truth. "split": three
pure-Python functions (about 50/30/20 %) in shuffled chunks of 0.2-3 ms; "ccall": a GIL-holding C
call (sorted() of a big list, charged to its Python caller c_sort) beside a pure-Python loop.
Each tool's share of a function is the weight of the stacks that contain it (flamewatch: CPU
nanoseconds from `flamewatch convert --format json`; CPython: sample counts of its collapsed
output) over the weight of the stacks that contain any of the functions. The error of a run is
the mean over the functions of |measured share - true share|, in percentage points; the table
shows its median over --runs runs of each tool (alternating which tool runs first).

Equal sample counts. Both run the same fixed work (--seconds of thread CPU) at the same rate, so
on an idle machine they take about the same number of samples; the table shows how many each took
inside the functions. flamewatch's samples are weighted by CPU time, so what they are worth is the
functions' CPU seconds x the rate; CPython's --mode cpu also samples a thread that is runnable but
preempted, so on a loaded machine it takes more (wall-time) samples for the same CPU. Sampling error falls as 1/sqrt(n), so the error is also shown normalised to equal counts:
each run's error times sqrt(n_run / n_common), n_common being the smaller of the two tools'
median counts (what the error would be with n_common samples if it is sampling noise; it
overstates a systematic error slightly). The "ideal" column is the expected error of a perfect
random sampler with n_common samples: sqrt(2/pi) * sqrt(p(1-p)/n) averaged over the functions.

Cost. As bench/overhead.py (whose helpers this reuses): the fixed work of bench/workload.py, 1 or
32 threads, run without a profiler, with flamewatch, with CPython's profiler, and again without
(the A/A control), interleaved in --runs groups whose order rotates. CPU is the user + system
time of every process of the run: the bench process is made a child subreaper
(PR_SET_CHILD_SUBREAPER) and reaps every descendant, and the CPU is the growth of its
getrusage(RUSAGE_CHILDREN) over the run, so CPython's profiler process and its target are both
counted (checked against os.wait4() of the direct child). Ratios are each run's CPU over the
no-profiler run of its group; the median and quartiles are shown. The fixed cost of each tool
(an empty run: start-up and exit) is measured apart, by --runs*3 (at least 11) rotating groups;
"less the fixed cost" subtracts it. The achieved rate is each tool's own count of the ticks it ran
over the time it sampled (flamewatch: ticks / expected_ticks of flamewatch.stats(), which skips
ticks it wakes up too late for; CPython: its "Captured N samples in S seconds"), and the CPU per
tick is the extra CPU less the fixed cost over those ticks (a cost per sample that does not
depend on how many samples a tool managed to take).

Interim mode: --fw-python runs the flamewatch side on another interpreter (e.g. 3.13 while the agent
does not run on 3.15 yet); each side's ratio is then taken against a no-profiler run of its own
interpreter, and the table says so.

Usage: vs_cpython_profiler.py [--build build] [--python PY3.15] [--fw-python PY] [--rates 100,1000]
                              [--threads 1,32] [--runs 5] [--seconds 3] [--no-accuracy] [--no-cost]
                              [--json OUT]
Progress goes to stderr, the Markdown tables to stdout.
"""
import argparse
import ctypes
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import overhead  # noqa: E402  (bench/overhead.py: base_env, calibrate, quartiles, machine)

SPLIT = os.path.join(HERE, "split_workload.py")
WORKLOAD = overhead.WORKLOAD
DEFAULT_PYTHON = os.path.expanduser("~/.cache/flamewatch/pythons/sid/usr/bin/flamewatch-python3.15")
PR_SET_CHILD_SUBREAPER = 36


ENV = {}


def make_env(tmp):
    """overhead.base_env() with byte-code caching on, into a private prefix. The interpreters of
    scripts/get-pythons.sh are unpacked with `dpkg -x`, which skips Debian's byte-compilation: without
    a cache every run of CPython's profiler would compile its modules from source (0.4 s of CPU)."""
    env = overhead.base_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    ENV.clear()
    ENV.update(env)


def warm_up(args, tmp):
    """One run of each kind of command, so that every module they import is byte-compiled."""
    for py in sorted({args.python, args.fw_python}):
        run_all_cpu([py, WORKLOAD, "2", "1"], ENV)
    run_all_cpu(cpy_cmd(args.python, 100, os.path.join(tmp, "warm.collapsed"), [WORKLOAD, "2", "1"]), ENV,
                os.path.join(tmp, "warm.out"))
    run_all_cpu(cpy_cmd(args.python, 100, os.path.join(tmp, "warm.collapsed"),
                        [SPLIT, "ccall", "0.1", os.path.join(tmp, "warm.json")]), ENV, os.path.join(tmp, "warm.out"))
    run_all_cpu(fw_cmd(args.build, 100, os.path.join(tmp, "warm"), args.fw_python,
                       [SPLIT, "split", "0.1", os.path.join(tmp, "warm.json"), os.path.join(tmp, "warm-stats.json")]),
                ENV)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def become_subreaper():
    """Orphaned descendants (a profiler's helper that outlives it) are re-parented to this process,
    so that their CPU reaches RUSAGE_CHILDREN when they are reaped."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit("prctl(PR_SET_CHILD_SUBREAPER): %s" % os.strerror(ctypes.get_errno()))


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_all_cpu(cmd, env, stdout_path=None):
    """Runs cmd and waits for it and every descendant. Returns (CPU seconds of all of them, CPU of
    the direct child by wait4, wall seconds). stdout goes to stdout_path (or nowhere)."""
    before = children_cpu()
    start = time.monotonic()
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
        err = proc.stderr.read()
        _, status, ru = os.wait4(proc.pid, 0)
    finally:
        if stdout_path:
            out.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    while True:  # descendants left behind, re-parented to us
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit("benchmark child failed (%s): %s\n%s" % (proc.returncode, " ".join(cmd),
                                                                   err.decode("utf-8", "replace")))
    return children_cpu() - before, ru.ru_utime + ru.ru_stime, wall


def version(py):
    return subprocess.run([py, "-c", "import sys;print('%d.%d.%d'%sys.version_info[:3])"], check=True,
                          stdout=subprocess.PIPE).stdout.decode().strip()


def fw_cmd(build, rate, outdir, py, argv):
    interval = max(1, round(1000 / rate))
    return [os.path.join(build, "flamewatch"), "run", "--output", outdir, "--cpu-interval", str(interval),
            "--log", "warning", "--", py] + argv


def cpy_cmd(py, rate, out, argv):
    return [py, "-m", "profiling.sampling", "run", "--mode", "cpu", "-a", "-r", str(rate), "--collapsed",
            "-o", out] + argv


CAPTURED = re.compile(r"Captured ([\d,.]+) samples? in ([\d.,]+) seconds")


def captured(stdout_path):
    """(samples, seconds) from CPython's profiler's summary line."""
    with open(stdout_path, encoding="utf-8", errors="replace") as f:
        m = CAPTURED.search(f.read())
    if not m:
        return None, None
    return int(re.sub(r"[,.]", "", m.group(1))), float(m.group(2).replace(",", ""))


def attribute(stacks, fns):
    """stacks: (list of function names root first, weight). Returns ({fn: weight of the stacks that
    contain it}, weight of all stacks); a stack counts for the first tracked function from the root."""
    got = {fn: 0.0 for fn in fns}
    total = 0.0
    for names, weight in stacks:
        total += weight
        for name in names:
            if name in got:
                got[name] += weight
                break
    return got, total


def cpy_stacks(path):
    """CPython's collapsed output: 'tid:N;file:func:line;... COUNT' per line."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            names = []
            for frame in stack.split(";"):
                parts = frame.rsplit(":", 2)
                names.append(parts[1] if len(parts) == 3 else frame)
            out.append((names, float(count)))
    return out


def fw_stacks(build, outdir):
    files = sorted(os.path.join(outdir, f) for f in os.listdir(outdir) if f.endswith(".pprof.gz"))
    if not files:
        raise SystemExit("flamewatch wrote no profile into %s" % outdir)
    doc = json.loads(subprocess.run([os.path.join(build, "flamewatch"), "convert", "--type", "cpu", "--format",
                                     "json"] + files, check=True, stdout=subprocess.PIPE).stdout)
    return [([fr["name"] for fr in s["stack"]], float(s["value"])) for s in doc["samples"]]


def shares_error(got, truth):
    """Mean over functions of |share - true share| in percentage points, and the signed errors."""
    g = sum(got.values())
    t = sum(truth.values())
    signed = {fn: 100.0 * ((got[fn] / g if g else 0.0) - truth[fn] / t) for fn in truth}
    return sum(abs(v) for v in signed.values()) / len(signed), signed


def accuracy(args, tmp, kind, rate):
    res = {"kind": kind, "rate": rate, "fw": [], "cpy": []}
    for i in range(args.runs):
        order = ["fw", "cpy"] if i % 2 == 0 else ["cpy", "fw"]
        for tool in order:
            tag = "%s-%d-%s-%d" % (kind, rate, tool, i)
            truth_path = os.path.join(tmp, tag + "-truth.json")
            if tool == "fw":
                outdir = os.path.join(tmp, tag)
                stats_path = os.path.join(tmp, tag + "-stats.json")
                run_all_cpu(fw_cmd(args.build, rate, outdir, args.fw_python,
                                   [SPLIT, kind, str(args.seconds), truth_path, stats_path]), ENV)
                with open(truth_path) as f:
                    truth = json.load(f)
                with open(stats_path) as f:
                    st = json.load(f)
                got, total = attribute(fw_stacks(args.build, outdir), truth)
                # Its weights are CPU nanoseconds: a stack walked after a thread ran for a fraction of
                # the interval weighs that fraction, so the samples it is worth are the functions' CPU
                # time over the interval, not the stacks walked (more, when the thread is preempted).
                n = sum(truth.values()) * rate
                extra = "%d ticks, %d stacks walked" % (st["ticks"], st["stacks_walked"])
            else:
                out = os.path.join(tmp, tag + ".collapsed")
                stdout_path = os.path.join(tmp, tag + ".out")
                run_all_cpu(cpy_cmd(args.python, rate, out, [SPLIT, kind, str(args.seconds), truth_path]),
                            ENV, stdout_path)
                with open(truth_path) as f:
                    truth = json.load(f)
                got, total = attribute(cpy_stacks(out), truth)
                n = sum(got.values())
                samples, secs = captured(stdout_path)
                extra = "%s samples in %s s" % (samples, secs)
            err, signed = shares_error(got, truth)
            res[tool].append({"n": n, "err": err, "signed": signed, "got": got, "truth": truth})
            log("  accuracy %-5s %4d Hz run %d %-10s: %5.0f samples in the functions, error %5.2f pp (%s; %s)" % (
                kind, rate, i + 1, "flamewatch" if tool == "fw" else "CPython", n, err,
                ", ".join("%s %+.1f" % (k, v) for k, v in signed.items()), extra))
    common = min(statistics.median(r["n"] for r in res["fw"]), statistics.median(r["n"] for r in res["cpy"]))
    res["n_common"] = common
    for tool in ("fw", "cpy"):
        runs = res[tool]
        res[tool + "_summary"] = {
            "n": statistics.median(r["n"] for r in runs),
            "err": overhead.quartiles([r["err"] for r in runs]),
            "err_equal": statistics.median(r["err"] * math.sqrt(r["n"] / common) for r in runs if common),
            # Pooled over the runs: the bias that is left when the sampling noise averages out.
            "pooled_signed": shares_error({fn: sum(r["got"][fn] / sum(r["got"].values()) for r in runs)
                                           for fn in runs[0]["truth"]},
                                          {fn: sum(r["truth"][fn] / sum(r["truth"].values()) for r in runs)
                                           for fn in runs[0]["truth"]})[1],
        }
    truth = res["cpy"][0]["truth"]
    t = sum(truth.values())
    res["ideal"] = 100.0 * statistics.mean(math.sqrt(2 / math.pi) * math.sqrt((v / t) * (1 - v / t) / common)
                                           for v in truth.values()) if common else None
    return res


def fixed_cost(args, tmp):
    """Median extra CPU of an empty run (bench/workload.py with no work) under each tool."""
    n = max(11, args.runs * 3)
    deltas = {"fw": [], "cpy": []}
    for i in range(n):
        sides = ["base", "fw", "cpy"]
        sides = sides[i % 3:] + sides[:i % 3]
        cpu = {}
        for side in sides:
            if side == "base":
                cpu[side] = run_all_cpu([args.python, WORKLOAD, "1", "0"], ENV)[0]
                if args.fw_python != args.python:
                    cpu["fwbase"] = run_all_cpu([args.fw_python, WORKLOAD, "1", "0"], ENV)[0]
            elif side == "fw":
                cpu[side] = run_all_cpu(fw_cmd(args.build, 100, os.path.join(tmp, "empty-%d" % i),
                                               args.fw_python, [WORKLOAD, "1", "0"]), ENV)[0]
            else:
                cpu[side] = run_all_cpu(cpy_cmd(args.python, 100, os.path.join(tmp, "empty-%d.collapsed" % i),
                                                [WORKLOAD, "1", "0"]), ENV,
                                        os.path.join(tmp, "empty.out"))[0]
        deltas["fw"].append(cpu["fw"] - cpu.get("fwbase", cpu["base"]))
        deltas["cpy"].append(cpu["cpy"] - cpu["base"])
    res = {tool: statistics.median(v) for tool, v in deltas.items()}
    log("  fixed cost of an empty run (median of %d): flamewatch %.1f ms, CPython's profiler %.1f ms CPU" % (
        n, res["fw"] * 1e3, res["cpy"] * 1e3))
    return res


def cost(args, tmp, threads, rate, units, fixed):
    sides = ["base", "fw", "cpy", "control"]
    split = args.fw_python != args.python
    if split:
        sides.append("fwbase")
    ratios = {"fw": [], "cpy": [], "control": []}
    steady = {"fw": [], "cpy": []}
    per_tick = {"fw": [], "cpy": []}  # µs of extra CPU (less the fixed cost) per tick taken
    rates = {"fw": [], "cpy": []}
    direct_gap = 0.0
    for i in range(args.runs):
        order = sides[i % len(sides):] + sides[:i % len(sides)]
        cpu = {}
        ticks_fw = ticks_cpy = None
        for side in order:
            tag = "cost-%d-%d-%s-%d" % (threads, rate, side, i)
            if side in ("base", "control"):
                cmd = [args.python, WORKLOAD, str(threads), str(units["cpy"])]
            elif side == "fwbase":
                cmd = [args.fw_python, WORKLOAD, str(threads), str(units["fw"])]
            elif side == "fw":
                stats_path = os.path.join(tmp, tag + "-stats.json")
                cmd = fw_cmd(args.build, rate, os.path.join(tmp, tag), args.fw_python,
                             [WORKLOAD, str(threads), str(units["fw"]), stats_path])
            else:
                cmd = cpy_cmd(args.python, rate, os.path.join(tmp, tag + ".collapsed"),
                              [WORKLOAD, str(threads), str(units["cpy"])])
            stdout_path = os.path.join(tmp, tag + ".out") if side == "cpy" else None
            total, direct, wall = run_all_cpu(cmd, ENV, stdout_path)
            direct_gap = max(direct_gap, total - direct)
            cpu[side] = total
            if side == "fw":
                with open(stats_path) as f:
                    st = json.load(f)
                # Over the agent's own running time (start-up excluded, as CPython's figure is).
                if st.get("expected_ticks"):
                    rates["fw"].append(rate * st["ticks"] / st["expected_ticks"])
                ticks_fw = st["ticks"]
            elif side == "cpy":
                samples, secs = captured(stdout_path)
                if samples is not None and secs:
                    rates["cpy"].append(samples / secs)
                ticks_cpy = samples
        ratios["fw"].append(cpu["fw"] / cpu["fwbase" if split else "base"])
        ratios["cpy"].append(cpu["cpy"] / cpu["base"])
        ratios["control"].append(cpu["control"] / cpu["base"])
        steady["fw"].append((cpu["fw"] - fixed["fw"]) / cpu["fwbase" if split else "base"])
        steady["cpy"].append((cpu["cpy"] - fixed["cpy"]) / cpu["base"])
        if ticks_fw:
            per_tick["fw"].append(1e6 * (cpu["fw"] - fixed["fw"] - cpu["fwbase" if split else "base"]) / ticks_fw)
        if ticks_cpy:
            per_tick["cpy"].append(1e6 * (cpu["cpy"] - fixed["cpy"] - cpu["base"]) / ticks_cpy)
        log("  cost threads=%-2d %4d Hz group %d: none %.3f s, flamewatch %.3f s (%.4f), CPython %.3f s (%.4f), "
            "A/A %.4f%s" % (threads, rate, i + 1, cpu["base"], cpu["fw"], ratios["fw"][-1], cpu["cpy"],
                            ratios["cpy"][-1], ratios["control"][-1],
                            ", flamewatch's own no-profiler run %.3f s" % cpu["fwbase"] if split else ""))
    return {"threads": threads, "rate": rate, "ratios": ratios,
            "quartiles": {k: overhead.quartiles(v) for k, v in ratios.items()},
            "steady": {k: statistics.median(v) for k, v in steady.items()},
            "us_per_tick": {k: statistics.median(v) if v else None for k, v in per_tick.items()},
            "achieved_hz": {k: statistics.median(v) if v else None for k, v in rates.items()},
            "max_cpu_outside_wait4_s": direct_gap}


def q(t, fmt="%.4f"):
    return (fmt + " (" + fmt + "-" + fmt + ")") % (t[1], t[0], t[2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--python", default=DEFAULT_PYTHON, help="a CPython 3.15 (its profiler, and flamewatch's side)")
    ap.add_argument("--fw-python", help="run flamewatch's side on this interpreter instead (interim)")
    ap.add_argument("--rates", default="100,1000", help="sampling rates in Hz")
    ap.add_argument("--threads", default="1,32")
    ap.add_argument("--runs", type=int, default=5, help="runs per case (at least 5)")
    ap.add_argument("--seconds", type=float, default=3.0, help="CPU seconds of each workload run")
    ap.add_argument("--no-accuracy", dest="accuracy", action="store_false")
    ap.add_argument("--no-cost", dest="cost", action="store_false")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.runs < 5:
        ap.error("--runs must be at least 5")
    args.build = os.path.abspath(args.build)
    args.fw_python = args.fw_python or args.python
    rates = [int(r) for r in args.rates.split(",")]
    for r in rates:
        if not 1 <= r <= 1000 or 1000 % r:
            ap.error("--rates: each rate must divide 1000 Hz (flamewatch's interval is whole milliseconds)")
    for py in {args.python, args.fw_python}:
        if not os.access(py, os.X_OK):
            ap.error("no interpreter at %s (run scripts/get-pythons.sh, or pass --python)" % py)
    if subprocess.run([args.python, "-c", "import profiling.sampling"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        ap.error("%s has no profiling.sampling (CPython 3.15 or later needed)" % args.python)
    if not os.access(os.path.join(args.build, "flamewatch"), os.X_OK):
        ap.error("no %s/flamewatch: run make all" % args.build)
    become_subreaper()
    info = {"python": version(args.python), "fw_python": version(args.fw_python), "machine": overhead.machine(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": args.runs,
            "seconds": args.seconds, "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
            "accuracy": [], "cost": []}
    log("flamewatch vs CPython's profiler: CPython %s (profiler), flamewatch on %s, %d runs, %.1f s, load %.2f" % (
        info["python"], info["fw_python"], args.runs, args.seconds, info["machine"]["load_before"]))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fw-vs-cpy-") as tmp:
        make_env(tmp)
        warm_up(args, tmp)
        if args.accuracy:
            for kind in ("split", "ccall"):
                for rate in rates:
                    info["accuracy"].append(accuracy(args, tmp, kind, rate))
        if args.cost:
            info["fixed_cost_s"] = fixed_cost(args, tmp)
            for threads in [int(t) for t in args.threads.split(",")]:
                units = {"cpy": overhead.calibrate(args.python, threads, args.seconds)}
                units["fw"] = (units["cpy"] if args.fw_python == args.python
                               else overhead.calibrate(args.fw_python, threads, args.seconds))
                for rate in rates:
                    info["cost"].append(cost(args, tmp, threads, rate, units, info["fixed_cost_s"]))
    info["machine"]["load_after"] = os.getloadavg()[0]
    info["elapsed_s"] = time.monotonic() - started
    report(info)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(info, f, indent=1)
    return 0


def report(info):
    names = {"fw": "flamewatch", "cpy": "CPython profiler"}
    if info["accuracy"]:
        print("\n**Accuracy** (error of the CPU shares, percentage points: mean over the functions of |measured -"
              " thread_time share|; median of %d runs (quartiles))\n" % info["runs"])
        print("| workload | rate | tool | samples in the functions | error | error at equal count "
              "| ideal sampler at that count | pooled signed error per function |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for a in info["accuracy"]:
            for tool in ("fw", "cpy"):
                s = a[tool + "_summary"]
                print("| %s | %d Hz | %s | %.0f | %s | %.2f | %.2f | %s |" % (
                    a["kind"], a["rate"], names[tool], s["n"], q(s["err"], "%.2f"), s["err_equal"], a["ideal"],
                    ", ".join("%s %+.2f" % (k, v) for k, v in s["pooled_signed"].items())))
    if info["cost"]:
        fc = info["fixed_cost_s"]
        print("\n**Cost** (CPU of every process of the run / CPU without a profiler; median of %d interleaved "
              "groups (quartiles))\n" % info["runs"])
        print("| threads | rate | flamewatch | CPython profiler | A/A control | less the fixed cost: flamewatch / CPython "
              "| achieved Hz: flamewatch / CPython | µs of CPU per tick: flamewatch / CPython |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for c in info["cost"]:
            hz = c["achieved_hz"]
            us = c["us_per_tick"]
            print("| %d | %d Hz | %s | %s | %s | %.4f / %.4f | %s / %s | %s / %s |" % (
                c["threads"], c["rate"], q(c["quartiles"]["fw"]), q(c["quartiles"]["cpy"]),
                q(c["quartiles"]["control"]), c["steady"]["fw"], c["steady"]["cpy"], "%.0f" % hz["fw"] if hz["fw"] else "-",
                "%.0f" % hz["cpy"] if hz["cpy"] else "-", "%.0f" % us["fw"] if us["fw"] is not None else "-",
                "%.0f" % us["cpy"] if us["cpy"] is not None else "-"))
        print("\nfixed cost of an empty run (start-up and exit, CPU): flamewatch %.1f ms, CPython's profiler %.1f ms"
              % (fc["fw"] * 1e3, fc["cpy"] * 1e3))
    m = info["machine"]
    side = "" if info["fw_python"] == info["python"] else (
        " (**interim: flamewatch's side ran on CPython %s, each side against its own interpreter**)" %
        info["fw_python"])
    print("\nCPython %s%s; %s, %d cores, kernel %s; load average %.2f before, %.2f after; %s; %.0f s" % (
        info["python"], side, m["cpu"], m["cores"], m["kernel"], m["load_before"], m["load_after"], info["date"],
        info["elapsed_s"]))
    print("command: `python3 %s`" % info["command"])


if __name__ == "__main__":
    sys.exit(main())
