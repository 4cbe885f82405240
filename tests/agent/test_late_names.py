"""A thread's name is the one `threading` knows when the profile is written.

The agent asks `threading` for a new thread's name, and asks again every 50 ms while `threading`
does not list the thread yet, for up to 5 s, before it calls the thread "tid-<tid>"; before each
flush it also looks up the threads still without a real name. LateNameTest: a thread started with
`_thread` (which `threading` does not list) computes, then gets listed and named through
threading.current_thread(); every profile written after that carries the name. The thread lives
to the end (`threading` forgets a thread when it ends, so only a live thread can be named).
SlowStartTest: a thread that `threading` lists only 0.5 s after it exists, and that ends before
the only flush, is named all the same. EndedUnnamedTest: threads that hold the GIL from their start
to their end, so that the agent cannot read `threading` while they live, are named from the Thread
objects the program still holds, and a thread that reuses an ended one's pthread id (glibc reuses
stacks) does not lend it its name.
"""
import os
import unittest

import fwtest

CODE = r"""
import _thread, json, threading, time
import flamewatch

def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

def wait_files(n):
    end = time.monotonic() + 20
    while flamewatch.stats().get("files_written", 0) < n and time.monotonic() < end:
        time.sleep(0.005)

done, finish = threading.Event(), threading.Event()
out = {}

def body():
    burn(0.3)             # seen by the sampler, unknown to `threading`
    # Flushes come every 0.5 s, the renaming of all threads once a second, with the second flush
    # at the latest: named right after it, the thread is next written by a flush that no
    # renaming of all precedes.
    wait_files(2)
    threading.current_thread().name = "late-named"   # listed (as a dummy thread) and named
    out["named_at"] = time.time()
    burn(0.2)
    done.set()
    finish.wait()         # alive at the flushes: the agent names live threads only

_thread.start_new_thread(body, ())
done.wait()
wait_files(4)
finish.set()
print(json.dumps(out))
"""


def cpu_by_thread_name(files, function):
    """Seconds of CPU of the samples whose stack holds `function`, by thread name."""
    by_name = {}
    for sample in fwtest.convert(files)["samples"]:
        if any(f["name"] == function for f in sample["stack"]):
            name = sample["labels"].get("thread_name", "")
            by_name[name] = by_name.get(name, 0) + sample["value"] / 1e9
    return by_name


class LateNameTest(unittest.TestCase):
    def test_named_at_the_flushes_after_it_is_named(self):
        out = fwtest.make_tmp(self, "fw-names-")
        res = fwtest.run_cli(["--output", out, "--app", "latenames", "--upload-interval", "0.5"],
                             CODE, timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        named_at = res.last_json()["named_at"]
        # Files written a moment after the naming (the look-up before a flush waits for the GIL,
        # which the thread holds: 50 ms is ample) must carry the name on every sample of body.
        later = [f for f in fwtest.profile_files(out) if os.path.getmtime(f) > named_at + 0.05]
        self.assertTrue(later, "no profile written after the thread was named")
        by_name = cpu_by_thread_name(later, "body")
        msg = "CPU of body by thread name, in the %d files after the naming: %r" % (len(later), by_name)
        self.assertGreater(by_name.get("late-named", 0), 0, msg)
        self.assertEqual([k for k in by_name if k != "late-named"], [], msg)


SLOW_START = r"""
import json, threading, time

def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

# A thread that `threading` lists only 0.5 s after it exists, as one that waits that long for the
# GIL to run its own start-up on a busy machine (CPython 3.13 makes a thread's state before the
# thread runs): its first looks fail. It computes, then ends before the next flush.
original = threading.Thread._bootstrap_inner
def slow_bootstrap(self):
    time.sleep(0.5)
    original(self)
threading.Thread._bootstrap_inner = slow_bootstrap

t0 = time.thread_time()
worker = threading.Thread(target=burn, args=(0.3,), name="slow-start")
worker.start()
worker.join()
threading.Thread._bootstrap_inner = original
time.sleep(0.2)
print(json.dumps({"done": True}))
"""


class SlowStartTest(unittest.TestCase):
    def test_thread_listed_late_is_named_while_it_lives(self):
        out = fwtest.make_tmp(self, "fw-names-")
        # One flush at the exit only: the thread is gone by then, so the agent must have found its
        # name while it lived.
        res = fwtest.run_cli(["--output", out, "--app", "slowstart", "--upload-interval", "30"],
                             SLOW_START, timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        by_name = cpu_by_thread_name(fwtest.profile_files(out), "burn")
        msg = "CPU of burn by thread name: %r" % by_name
        self.assertGreater(by_name.get("slow-start", 0), 0.25, msg)
        self.assertEqual([k for k in by_name if k != "slow-start"], [], msg)


GIL_HELD_FOR_LIFE = r"""
import json, sys, threading, time

def compute(seconds):
    # Pure Python with no call that lets the GIL go: with the switch interval below, no other
    # thread (the agent's worker included) runs from this thread's start to its end.
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1
    return x

def first():
    compute(0.3)

def second():
    compute(0.3)

sys.setswitchinterval(30)
threads = []
for name, target in (("first-holder", first), ("second-holder", second)):
    t = threading.Thread(target=target, name=name)
    t.start()
    t.join()
    threads.append(t)       # ended, but still referenced: `threading._dangling` lists it
sys.setswitchinterval(0.005)
time.sleep(0.2)
print(json.dumps({"idents": [t.ident for t in threads]}))
"""


class EndedUnnamedTest(unittest.TestCase):
    def test_thread_that_ended_before_any_lookup_is_named(self):
        out = fwtest.make_tmp(self, "fw-names-")
        res = fwtest.run_cli(["--output", out, "--app", "gilheld", "--upload-interval", "30"],
                             GIL_HELD_FOR_LIFE, timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        files = fwtest.profile_files(out)
        for function, name in (("first", "first-holder"), ("second", "second-holder")):
            by_name = cpu_by_thread_name(files, function)
            msg = "CPU of %s by thread name: %r (idents %r)" % (function, by_name, res.last_json()["idents"])
            self.assertGreater(by_name.get(name, 0), 0.25, msg)
            self.assertEqual([k for k in by_name if k != name], [], msg)


if __name__ == "__main__":
    unittest.main()
