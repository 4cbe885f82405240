#!/usr/bin/env python3
"""Profiles for the console tests, written to OUT with a manifest.json of uploads.

Used when real agent profiles are not available (the agent's `flamewatch run` writes the same
pprof shape: Python frames with qualified names, files and lines; thread_name, thread_group,
host_ip, hostname and pid on every sample). The stacks model a small web service: JSON
rendering, regex compilation, logging, lock waits in worker threads, and one thread whose name
is an XSS probe. A baseline N hours earlier has a different mix, for the comparison page.

Usage: gen_profiles.py OUT [--now UNIX] [--hours 2]
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
from pprofgen import Profile  # noqa: E402

XSS = "<img src=x onerror=alert(1)>"
PY = "/usr/lib/python3.11/"
APP = "/srv/shop/"

BOOT = [("<module>", APP + "app.py", 88), ("main", APP + "app.py", 80), ("Server.serve_forever", APP + "server.py", 41)]
REQ = BOOT + [("Server.handle_request", APP + "server.py", 57)]
JSON = REQ + [("render_json", APP + "views.py", 23), ("dumps", PY + "json/__init__.py", 231),
              ("JSONEncoder.encode", PY + "json/encoder.py", 200), ("JSONEncoder.iterencode", PY + "json/encoder.py", 258)]
REGEX = REQ + [("parse_query", APP + "views.py", 12), ("compile", PY + "re/__init__.py", 226),
               ("_compile", PY + "re/__init__.py", 294), ("compile", PY + "re/_compiler.py", 745)]
LOG = REQ + [("log_access", APP + "server.py", 70), ("Logger.info", PY + "logging/__init__.py", 1489),
             ("Logger._log", PY + "logging/__init__.py", 1634), ("StreamHandler.emit", PY + "logging/__init__.py", 1113)]
CART = REQ + [("checkout", APP + "views.py", 40), ("Cart.total", APP + "cart.py", 18)]
CART_TAX = CART + [("Cart.tax", APP + "cart.py", 31)]
THREAD = [("Thread._bootstrap", PY + "threading.py", 995), ("Thread._bootstrap_inner", PY + "threading.py", 1038),
          ("Thread.run", PY + "threading.py", 975)]
WORKER_WAIT = THREAD + [("worker_loop", APP + "worker.py", 14), ("Queue.get", PY + "queue.py", 171),
                        ("Condition.wait", PY + "threading.py", 327)]
WORKER_WORK = THREAD + [("worker_loop", APP + "worker.py", 18), ("resize_image", APP + "images.py", 9)]
EVIL = THREAD + [("evil_task", APP + "evil.py", 3), ("dumps", PY + "pickle.py", 1800), ("_Pickler.dump", PY + "pickle.py", 476)]

# (frames, thread_name, cpu weight now, cpu weight baseline)
MIX = [
    (JSON, "MainThread", 34, 12), (REGEX, "MainThread", 9, 9), (LOG, "MainThread", 6, 7),
    (CART, "MainThread", 10, 24), (CART_TAX, "MainThread", 5, 12), (REQ, "MainThread", 3, 3),
    (WORKER_WAIT, "worker-1", 4, 4), (WORKER_WAIT, "worker-2", 4, 4), (WORKER_WORK, "worker-1", 6, 6),
    (WORKER_WORK, "worker-2", 5, 5), (EVIL, XSS, 4, 4),
]


def group(name):
    out, digits = [], False
    for ch in name:
        if ch.isdigit():
            if not digits:
                out.append("*")
            digits = True
        else:
            out.append(ch)
            digits = False
    return "".join(out)


def shop_profile(t_ns, baseline, rnd, host):
    p = Profile([("cpu", "nanoseconds"), ("wall", "nanoseconds")], time_ns=t_ns, duration_ns=15_000_000_000)
    for frames, thread, now_w, base_w in MIX:
        w = base_w if baseline else now_w
        n = max(0, int(w * rnd.uniform(0.8, 1.2)))
        cpu = n * 10_000_000
        wall = cpu if "wait" not in frames[-1][0] else cpu * 20
        labels = {"thread_name": thread, "thread_group": group(thread), "host_ip": host[0], "hostname": host[1], "pid": str(host[2])}
        if frames[-1][0] == "Condition.wait":
            cpu = cpu // 10
        p.add(frames, [cpu, wall], labels)
    return p


def big_folded(nodes=50000, seed=7):
    """A folded profile whose merged tree has about `nodes` nodes (for the render benchmark)."""
    rnd = random.Random(seed)
    mods = ["django", "requests", "json", "shop", "celery", "sqlalchemy", "jinja2", "urllib3", "redis", "logging"]
    children = {0: []}
    names = {0: None}
    parent = {0: None}
    count = 1
    frontier = [0]
    while count < nodes:
        p = rnd.choice(frontier[-2000:]) if rnd.random() < 0.7 else rnd.choice(frontier)
        i = count
        count += 1
        m = rnd.choice(mods)
        names[i] = "%s.mod%d.Class%d.fn%d (/srv/%s/mod%d.py:%d)" % (m, i % 50, i % 7, i, m, i % 50, 10 + i % 900)
        parent[i] = p
        children.setdefault(p, []).append(i)
        children[i] = []
        frontier.append(i)
    lines = []
    for i in range(1, count):
        if children[i]:
            continue
        path = []
        j = i
        while j:
            path.append(names[j])
            j = parent[j]
        lines.append(";".join(reversed(path)) + " %d" % rnd.randint(1, 30))
    return "\n".join(lines) + "\n"


def main():
    out = sys.argv[1]
    now = int(sys.argv[sys.argv.index("--now") + 1]) if "--now" in sys.argv else None
    hours = int(sys.argv[sys.argv.index("--hours") + 1]) if "--hours" in sys.argv else 2
    import time
    now = now or int(time.time())
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(42)
    manifest = []
    hosts = [("10.0.0.5", "web-1", 4242), ("10.0.0.6", "web-2", 5151)]
    k = 0
    for baseline in (False, True):
        for step in range(20):  # 20 x 15 s over the last 5 minutes, per host
            for host in hosts:
                t = now - 300 + step * 15 - (hours * 3600 if baseline else 0)
                p = shop_profile(t * 1_000_000_000, baseline, rnd, host)
                name = "p%03d.pb.gz" % k
                k += 1
                with open(os.path.join(out, name), "wb") as f:
                    f.write(p.encode())
                manifest.append({"file": name, "name": "shop", "format": "pprof", "from": t, "until": t + 15})
    import gzip
    with open(os.path.join(out, "big.folded.gz"), "wb") as f:
        f.write(gzip.compress(big_folded().encode()))
    manifest.append({"file": "big.folded.gz", "name": "bigtree.cpu", "format": "folded", "from": now - 120, "until": now - 110})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
