#!/usr/bin/env python3
"""Instruction counts of the memory profiler (docs/BENCHMARKS.md, "Memory"): what one allocation
and one sample cost, counted by valgrind's callgrind, which (unlike time on a shared machine) gives
the same answer on every run.

The child runs bench/memory_workload.py's workload KIND (--kind: alloc, mixed, churn, frees, threads)
with N = ROUNDS
in one of four configurations:
  off        flamewatch.start(cpu=False, memory=False)   (cpu=True in every mode with --cpu)
  idle       memory on at a 1 GiB threshold: the hooks run on every call, nearly nothing is sampled
  1024, 64   memory on at that threshold (KB)
and prints memory_stats(). Reported per build:
  hook Ir/call   (Ir(idle) - Ir(off)) / calls of the hooks (malloc, calloc, realloc and free of the
                 three domains, counted by callgrind): the per-allocation fast path
  Ir/sample      (Ir(64) - Ir(idle)) / (samples(64) - samples(idle)): user-space cost of a sample
  syscalls/sample process_vm_readv calls per sample at 64 KB (strace -f -c), if strace exists:
                 each is ~1-3 us of kernel time that callgrind does not count
  per hook       for each of malloc, calloc, realloc, free (three domains summed): calls and
                 the hook function's own Ir per call at 1024 KB (callgrind_annotate, inlined code
                 included; the slow paths it calls are not). A free that never reaches us (OBJ
                 and MEM under pymalloc) is not a call.
  loop 1024/off  Ir(1024)/Ir(off) of the workload alone: both minus the same mode's run of
                 churn at 0 rounds (interpreter and agent start-up); not for mixed

Usage: memory_callgrind.py [--build build] [--baseline OTHER_BUILD] [--python PY] [--rounds 10]
                           [--kind KIND] [--cpu]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOOKS = re.compile(r"^fw_(raw|mem|obj)_(malloc|calloc|realloc|free)$")


def child(mode, rounds, kind, cpu=False):
    import json
    sys.path.insert(0, HERE)
    import flamewatch
    import memory_workload
    kb = {"off": 1024, "idle": 1048576}.get(mode) or int(mode)
    out = tempfile.mkdtemp(prefix="fw-cg-")
    flamewatch.start(app="cg", output=out, cpu=cpu, memory=mode != "off", memory_threshold_kb=kb,
                     upload_interval_s=3600)
    memory_workload.KINDS["mixed"] = memory_workload.mixed
    memory_workload.KINDS[kind](rounds)
    from flamewatch import _agent
    stats = _agent.memory_stats()
    flamewatch.stop()
    shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(stats))


def parse_callgrind(path):
    """Total Ir, and the calls made to the hook functions (callgrind's compressed names)."""
    names, total, calls, cfn = {}, 0, 0, None
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
            m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.strip())
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                if line.startswith("cfn="):
                    cfn = names.get(m.group(1), "")
                continue
            if line.startswith("calls=") and cfn is not None and HOOKS.match(cfn):
                calls += int(line.split("=")[1].split()[0])
    return total, calls


def hook_costs(path):
    """Own Ir and calls of each kind of hook call (malloc, calloc, realloc, free; the three
    domains summed), from callgrind_annotate's per-function self cost."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", path], capture_output=True,
                         text=True).stdout
    ir = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+) .*:fw_(?:raw|mem|obj)_(malloc|calloc|realloc|free)(?:\s|$)", line)
        if m:
            ir[m.group(2)] = ir.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    calls = {}
    names, cfn = {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.strip())
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                if line.startswith("cfn="):
                    cfn = names.get(m.group(1), "")
                continue
            if line.startswith("calls=") and cfn is not None:
                h = HOOKS.match(cfn)
                if h:
                    calls[h.group(2)] = calls.get(h.group(2), 0) + int(line.split("=")[1].split()[0])
    return {k: (calls.get(k, 0), ir.get(k, 0)) for k in ("malloc", "calloc", "realloc", "free")}


CPU = []   # ["--cpu"] when --cpu is given: passed to every child


def run(build, python, mode, rounds, tmp, kind):
    import json
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"))
    env = {k: v for k, v in env.items() if not k.startswith("FLAMEWATCH_")}
    out = os.path.join(tmp, "cg.%s" % mode)
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, python,
                        os.path.abspath(__file__), "--child", mode, "--rounds", str(rounds),
                        "--kind", kind] + CPU, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("callgrind run failed:\n" + p.stderr[-3000:])
    stats = json.loads(p.stdout.strip().splitlines()[-1])
    total, calls = parse_callgrind(out)
    return total, calls, stats


def syscalls_per_sample(build, python, rounds, tmp, kind):
    import json
    if not shutil.which("strace"):
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAMEWATCH_")}
    env["PYTHONPATH"] = os.path.join(build, "python")
    log = os.path.join(tmp, "strace.txt")
    p = subprocess.run(["strace", "-f", "-c", "-o", log, "-e", "trace=process_vm_readv", python,
                        os.path.abspath(__file__), "--child", "64", "--rounds", str(rounds),
                        "--kind", kind],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        return None
    samples = json.loads(p.stdout.strip().splitlines()[-1])["samples"]
    n = 0
    with open(log) as f:
        for line in f:
            if line.rstrip().endswith("process_vm_readv"):
                n = int(line.split()[3])
    return n / max(samples, 1)


def measure(build, python, rounds, kind):
    tmp = tempfile.mkdtemp(prefix="fw-cgb-")
    try:
        r = {m: run(build, python, m, rounds, tmp, kind) for m in ("off", "idle", "1024", "64")}
        hooks = hook_costs(os.path.join(tmp, "cg.1024"))
        loop = None
        if kind in ("churn", "frees", "threads", "alloc"):
            z = {m: run(build, python, m, 0, tmp, "churn")[0] for m in ("off", "1024")}
            loop = (r["1024"][0] - z["1024"]) / max(r["off"][0] - z["off"], 1)
        hook_calls = r["idle"][1]
        per_call = (r["idle"][0] - r["off"][0]) / max(hook_calls, 1)
        ds = r["64"][2]["samples"] - r["idle"][2]["samples"]
        per_sample = (r["64"][0] - r["idle"][0]) / max(ds, 1)
        return {"Ir": {m: r[m][0] for m in r}, "samples": {m: r[m][2]["samples"] for m in r},
                "hook_calls": hook_calls, "hook_ir_per_call": per_call, "ir_per_sample": per_sample,
                "syscalls_per_sample": syscalls_per_sample(build, python, rounds, tmp, kind),
                "hooks": hooks, "loop_ratio": loop}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--baseline")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--kind", choices=("alloc", "mixed", "churn", "frees", "threads"), default="alloc")
    ap.add_argument("--cpu", action="store_true",
                    help="CPU sampling on in every mode (off included), as issue 15 measured; its "
                         "ticks follow wall time, which callgrind stretches, so they add noise")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.cpu:
        CPU.append("--cpu")
    if args.child:
        return child(args.child, args.rounds, args.kind, args.cpu)
    builds = [("build", os.path.abspath(args.build))]
    if args.baseline:
        builds.insert(0, ("baseline", os.path.abspath(args.baseline)))
    print("%s(%d) under callgrind, %s" % (args.kind, args.rounds, args.python))
    print("  %-9s %14s %14s %14s %14s %10s %12s %10s %12s" % (
        "build", "Ir off", "Ir idle", "Ir 1024", "Ir 64", "hook calls", "hook Ir/call",
        "Ir/sample", "syscalls/smp"))
    for name, path in builds:
        m = measure(path, args.python, args.rounds, args.kind)
        sc = m["syscalls_per_sample"]
        print("  %-9s %14d %14d %14d %14d %10d %12.1f %10.0f %12s" % (
            name, m["Ir"]["off"], m["Ir"]["idle"], m["Ir"]["1024"], m["Ir"]["64"], m["hook_calls"],
            m["hook_ir_per_call"], m["ir_per_sample"], "-" if sc is None else "%.2f" % sc))
        print("  %-9s samples: idle %d, 1024 KB %d, 64 KB %d; Ir(1024)/Ir(off) %.4f, Ir(64)/Ir(off) %.4f" % (
            "", m["samples"]["idle"], m["samples"]["1024"], m["samples"]["64"],
            m["Ir"]["1024"] / m["Ir"]["off"], m["Ir"]["64"] / m["Ir"]["off"]))
        print("  %-9s per hook at 1024 KB: %s%s" % (
            "", ", ".join("%s %d calls x %.1f Ir" % (k, c, ir / c if c else 0.0)
                          for k, (c, ir) in m["hooks"].items()),
            "" if m["loop_ratio"] is None else "; loop 1024/off %.4f" % m["loop_ratio"]))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
