#!/usr/bin/env python3
"""Agent delivery benchmark (docs/BENCHMARKS.md, "Agent delivery").

For N application threads (1 and 50) doing steady CPU work, runs the program R times (R >= 5)
with the agent uploading to a local `flamewatch server` every second, and R times without the
agent, and reports medians of:
  * the agent's CPU per upload: worker CPU to build+encode+gzip one profile
    (stats()['last_build_cpu_ns'], sampled each upload) plus the uploader thread's CPU per
    request (stats()['upload_cpu_ns'] / uploads);
  * extra RSS: VmRSS of the process with the agent minus without, measured at the same point.
Usage: agent_delivery.py [--build build] [--runs 5] [--seconds 6]
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORK = r'''
import json, os, sys, threading, time
nthreads, seconds, agent = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
def work(stop):
    d = {}
    while not stop.is_set():
        for i in range(200):
            d[i % 50] = str(i) * 3
        time.sleep(0.002)
stop = threading.Event()
ts = [threading.Thread(target=work, args=(stop,), name="w-%d" % i) for i in range(nthreads)]
for t in ts: t.start()
builds = []
end = time.time() + seconds
last = None
while time.time() < end:
    time.sleep(0.25)
    if agent:
        import flamewatch
        s = flamewatch.stats()
        if s["profiles_built"] != last:
            last = s["profiles_built"]
            builds.append(s["last_build_cpu_ns"])
def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
out = {"rss_kb": rss_kb()}
if agent:
    import flamewatch
    s = flamewatch.stats()
    out.update(builds=builds[1:], uploads=s["uploads"], upload_cpu_ns=s["upload_cpu_ns"])
stop.set()
for t in ts: t.join()
print(json.dumps(out))
'''


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=6)
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build)
    fw = os.path.join(build, "flamewatch")
    tmp = tempfile.mkdtemp(prefix="fw-bench-")
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    srv = subprocess.Popen([fw, "server", "--listen", "127.0.0.1:%d" % port, "--data", tmp + "/data"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"))
        results = {}
        for n in (1, 50):
            base, agent = [], []
            for _ in range(args.runs):
                r = subprocess.run([sys.executable, "-c", WORK, str(n), str(args.seconds), "0"],
                                   env=env, stdout=subprocess.PIPE, check=True)
                base.append(json.loads(r.stdout.decode().splitlines()[-1]))
                r = subprocess.run([fw, "run", "--server", url, "--app", "bench%d" % n, "--upload-interval", "1",
                                    "--", sys.executable, "-c", WORK, str(n), str(args.seconds), "1"],
                                   env=env, stdout=subprocess.PIPE, check=True)
                agent.append(json.loads(r.stdout.decode().splitlines()[-1]))
            build_ms = statistics.median(statistics.median(a["builds"]) for a in agent if a["builds"]) / 1e6
            send_ms = statistics.median(a["upload_cpu_ns"] / max(a["uploads"], 1) for a in agent) / 1e6
            extra = statistics.median(a["rss_kb"] for a in agent) - statistics.median(b["rss_kb"] for b in base)
            results[n] = dict(build_cpu_ms=round(build_ms, 3), upload_cpu_ms=round(send_ms, 3),
                              cpu_per_upload_ms=round(build_ms + send_ms, 3),
                              extra_rss_mb=round(extra / 1024.0, 1),
                              uploads_median=statistics.median(a["uploads"] for a in agent))
            print("threads=%d %s" % (n, json.dumps(results[n])), flush=True)
        print(json.dumps(results))
    finally:
        srv.terminate()
        srv.wait()
        import shutil
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
