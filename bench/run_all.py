#!/usr/bin/env python3
"""`make bench`: the overhead benchmark (bench/overhead.py) under the system python3 or, with
--all, under every CPython 3.9-3.15 that scripts/find-pythons.sh finds. Results are printed as
Markdown tables (for docs/BENCHMARKS.md) and saved as JSON in BUILD/bench/. --vs-cpython also runs
bench/vs_cpython_profiler.py (flamewatch beside CPython 3.15's own profiler; it needs the 3.15 that
scripts/get-pythons.sh fetches).
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--all", action="store_true", help="every interpreter, not only python3")
    ap.add_argument("--runs", default="11")
    ap.add_argument("--vs-cpython", action="store_true",
                    help="also compare with CPython 3.15's profiler (bench/vs_cpython_profiler.py)")
    args = ap.parse_args()
    build = os.path.abspath(os.path.join(ROOT, args.build) if not os.path.isabs(args.build) else args.build)
    if args.all:
        pythons = subprocess.run(["sh", os.path.join(ROOT, "scripts", "find-pythons.sh")],
                                 stdout=subprocess.PIPE).stdout.decode().split()
    else:
        pythons = [sys.executable]
    outdir = os.path.join(build, "bench")
    os.makedirs(outdir, exist_ok=True)
    failed = 0
    for py in pythons:
        ver = subprocess.run([py, "-c", "import sys;print('%d.%d'%sys.version_info[:2])"],
                             stdout=subprocess.PIPE).stdout.decode().strip()
        out = os.path.join(outdir, "overhead-%s.json" % ver)
        rc = subprocess.call([sys.executable, os.path.join(HERE, "overhead.py"), "--build", build, "--python", py,
                              "--runs", args.runs, "--json", out])
        print("results: %s\n" % out, flush=True)
        failed |= rc != 0
    if args.vs_cpython:
        out = os.path.join(outdir, "vs-cpython.json")
        rc = subprocess.call([sys.executable, os.path.join(HERE, "vs_cpython_profiler.py"), "--build", build,
                              "--json", out])
        print("results: %s\n" % out, flush=True)
        failed |= rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
