"""Process models with delivery to a real server: multiprocessing fork/spawn/forkserver children
upload their own profiles under their own pid, and a forked child that ends with os._exit still
delivers its last profile (the os._exit wrapper stops the agent first)."""
import json
import sys
import unittest

import fwserver
import fwtest

CODE = r'''
import json, multiprocessing as mp, os, sys, time

def spin(s):
    end = time.thread_time() + s
    while time.thread_time() < end: sum(range(200))

def child_fork(q): spin(0.4); q.put(os.getpid())
def child_spawn(q): spin(0.4); q.put(os.getpid())
def child_forkserver(q): spin(0.4); q.put(os.getpid())
def child_os_exit(q):
    spin(0.4); q.put(os.getpid()); q.close(); q.join_thread(); os._exit(0)

if __name__ == "__main__":
    pids = {}
    for method, fn in (("fork", child_fork), ("spawn", child_spawn),
                       ("forkserver", child_forkserver), ("fork", child_os_exit)):
        ctx = mp.get_context(method)
        q = ctx.Queue()
        p = ctx.Process(target=fn, args=(q,))
        p.start()
        pids[fn.__name__] = q.get(timeout=60)
        p.join(60)
        assert p.exitcode == 0, (fn.__name__, p.exitcode)
    print(json.dumps({"parent": os.getpid(), "children": pids}))
'''


class ProcessDeliveryTest(unittest.TestCase):
    def test_multiprocessing_children_deliver(self):
        srv = fwserver.start(self)
        tmp = fwtest.make_tmp(self, "fw-mp-")
        script = tmp + "/mpwork.py"
        with open(script, "w") as f:
            f.write(CODE)
        res = fwtest._run([fwtest.FLAMEWATCH, "run", "--server", srv.url, "--app", "mp",
                           "--upload-interval", "60", "--", sys.executable, script],
                          fwtest.child_env(), 120)
        self.assertEqual(res.returncode, 0, res.describe())
        info = res.last_json()
        for fn, pid in info["children"].items():
            rows = {r["name"]: r["total"] for r in srv.table("mp", labels=["pid=%d" % pid])["rows"]}
            self.assertGreater(rows.get(fn, 0), 0.25e9, "%s (pid %d): %s" % (fn, pid, rows))
        self.assertNotIn("Traceback", res.stderr)


if __name__ == "__main__":
    unittest.main()
