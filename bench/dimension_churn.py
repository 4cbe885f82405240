#!/usr/bin/env python3
"""Server memory under function-name churn (issue 11, item 7): starts `flamewatch server` on
127.0.0.1 (a free port) with --retention 1h and --maintenance-interval 1, posts five folded uploads
of 100,000 unique function names stamped 3 days ago (so retention deletes them at once), and prints
the server's VmRSS after the uploads, 75 s later (after the dimension GC), and after a restart
(with the time to the first /healthz answer and the file's size).

Usage: python3 bench/dimension_churn.py build/flamewatch
"""
import os, sys, time, subprocess, urllib.request, socket, tempfile, shutil
BIN = sys.argv[1]
def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def rss(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
def start(d):
    p = port()
    t0 = time.time()
    pr = subprocess.Popen([BIN, "server", "--listen", "127.0.0.1:%d" % p, "--data", d, "--retention", "1h",
                           "--maintenance-interval", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/healthz" % p, timeout=1); break
        except Exception: time.sleep(0.02)
    return pr, p, time.time() - t0
d = tempfile.mkdtemp()
pr, p, _ = start(d)
print("start RSS MB", rss(pr.pid))
old = int(time.time()) - 3 * 86400
for k in range(5):
    body = "".join("main;handler;fn_%d_%d_some_generated_name 1\n" % (k, i) for i in range(100000)).encode()
    urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/ingest?name=churn&from=%d&until=%d" % (p, old + 10 * k, old + 10 * k + 10), data=body), timeout=120).read()
print("after 5 uploads RSS MB", rss(pr.pid))
time.sleep(75)
print("after 75 s of maintenance RSS MB", rss(pr.pid))
pr.terminate(); pr.wait()
pr, p, dt = start(d)
time.sleep(0.5)
print("restart: %.2f s to healthz, RSS MB %d, db %d MB" % (dt, rss(pr.pid), os.path.getsize(d + "/flamewatch.db") >> 20))
pr.terminate(); pr.wait()
shutil.rmtree(d)
