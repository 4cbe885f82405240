"""A thread's name is the one `threading` knows when the profile is written.

The agent asks `threading` for a new thread's name a few times, 20 ms apart, and then gives it
the fallback "tid-<tid>". On a busy machine a new thread can wait for the GIL longer than those
attempts last, so the fallback must not be final: before each flush the agent looks up the
threads that still carry it. Here a thread started with `_thread` (which `threading` does not
list) computes long enough for the agent to give up on it, then gets listed and named through
threading.current_thread(); every profile written after that carries the name. The thread lives
to the end (`threading` forgets a thread when it ends, so only a live thread can be named).
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
    burn(0.3)             # seen by the sampler, unknown to `threading`: the agent gives up
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
        by_name = {}
        for sample in fwtest.convert(later)["samples"]:
            if any(f["name"] == "body" for f in sample["stack"]):
                name = sample["labels"].get("thread_name", "")
                by_name[name] = by_name.get(name, 0) + sample["value"] / 1e9
        msg = "CPU of body by thread name, in the %d files after the naming: %r" % (len(later), by_name)
        self.assertGreater(by_name.get("late-named", 0), 0, msg)
        self.assertEqual([k for k in by_name if k != "late-named"], [], msg)


if __name__ == "__main__":
    unittest.main()
