"""gunicorn with Debian's packages (scripts/ensure-deps.sh installs gunicorn and python3-flask).

Debian installs them for its /usr/bin/python3 (3.11) into /usr/lib/python3/dist-packages, so they
only fit a 3.11 interpreter: these tests are defined only when the runner is CPython 3.11 (the
pyenv 3.11 interpreter, for which the agent is built, with that directory appended to
PYTHONPATH). Under the other interpreters the class does not exist, so nothing is skipped.

Checked for `-w 2`, `-w 2 --preload` and `-k gthread`: every worker uploads under its own pid,
the master idles (a few samples at most, besides its imports), and SIGTERM to the master ends
everything cleanly with the workers' last profiles delivered.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import fwserver
import fwtest

DIST = "/usr/lib/python3/dist-packages"

APP = r'''
import time
from flask import Flask, jsonify
app = Flask(__name__)

def handler_work():
    end = time.thread_time() + 0.05
    n = 0
    while time.thread_time() < end:
        n += sum(range(300))
    return n

@app.route("/work")
def work():
    return jsonify(n=handler_work())
'''


def _port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _wait_http(url, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError("gunicorn exited: %s" % proc.communicate()[1].decode())
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not answer")


if sys.version_info[:2] == (3, 11) and os.path.isdir(os.path.join(DIST, "gunicorn")):
    class GunicornTest(unittest.TestCase):
        def run_gunicorn(self, extra):
            srv = fwserver.start(self)
            tmp = fwtest.make_tmp(self, "fw-gun-")
            with open(os.path.join(tmp, "webapp.py"), "w") as f:
                f.write(APP)
            port = _port()
            app = "gun%d" % port
            env = fwtest.child_env()
            env["PYTHONPATH"] = env["PYTHONPATH"] + ":" + DIST
            cmd = [fwtest.FLAMEWATCH, "run", "--server", srv.url, "--app", app, "--upload-interval", "1",
                   "--", sys.executable, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:%d" % port,
                   "--graceful-timeout", "5"] + extra + ["webapp:app"]
            proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.addCleanup(lambda: proc.poll() is None and proc.kill())
            url = "http://127.0.0.1:%d/work" % port
            _wait_http(url, proc)
            # Concurrent clients: a sync worker serves one request at a time, so both get work.
            end = time.time() + 3

            def client():
                while time.time() < end:
                    _wait_http(url, proc)
            clients = [threading.Thread(target=client) for _ in range(4)]
            for c in clients:
                c.start()
            for c in clients:
                c.join()
            proc.send_signal(signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise AssertionError("gunicorn did not stop on SIGTERM")
            self.assertEqual(proc.returncode, 0, err.decode())
            master = proc.pid   # flamewatch run execs: the master keeps its pid
            pids = srv.labels(app).get("pid", set())
            workers = []
            for pid in pids - {str(master)}:
                rows = {r["name"]: r["total"] for r in srv.table(app, labels=["pid=" + pid])["rows"]}
                if rows.get("handler_work", 0) > 0:
                    workers.append(pid)
            self.assertGreaterEqual(len(workers), 2, (pids, master, err.decode()[-2000:]))
            master_cpu, master_imports = 0, 0
            if str(master) in pids:
                table = srv.table(app, labels=["pid=%d" % master])
                master_cpu = table["total"]
                master_imports = sum(r["total"] for r in table["rows"] if r["name"] == "_find_and_load")
            workers_cpu = sum(srv.trend_total(app, labels=["pid=" + p]) for p in workers)
            # Importing the app (all of it with --preload) costs the master the same CPU however
            # loaded the machine is, while the workers' share of 3 s shrinks with load: the
            # bound is on what the master does besides importing.
            self.assertLess(master_cpu - master_imports, 0.1 * workers_cpu, (master_cpu, master_imports, workers_cpu))
            self.assertNotIn("Traceback", err.decode())

        def test_two_workers(self):
            self.run_gunicorn([])

        def test_two_workers_preload(self):
            self.run_gunicorn(["--preload"])

        def test_gthread(self):
            self.run_gunicorn(["-k", "gthread", "--threads", "2"])


if __name__ == "__main__":
    unittest.main()
