"""The last stretch of CPU before the agent stops is in the final profile.

The sampler charges each thread, at every tick, the CPU it used since the previous tick. What a
thread used after the last tick would be lost when the program exits (or execs) between two
ticks; the sampler therefore takes one last look when it is told to stop. With a 250 ms interval
(ticks 125-375 ms apart) the stretch after the last tick is up to 375 ms of a 0.6 s function, so a
lost stretch cannot hide in the noise.
"""
import unittest

import fwtest

CODE = r'''
import json, time
import flamewatch

def tail_work(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(200):
            x += i
    return x

def wait_for_ticks(n):
    start = time.monotonic()
    while flamewatch.stats().get("ticks", 0) < n and time.monotonic() - start < 10:
        time.sleep(0.01)

# The first tick (250-375 ms after the start) takes the threads' baselines: wait for it, so
# that all of tail_work comes after them, then for the tick after it.
wait_for_ticks(2)
before = flamewatch.stats()
t0 = time.thread_time()
tail_work(0.6)        # then the program exits, at a random point between two ticks
keys = ("ticks", "late_ticks", "quick_ticks", "cpu_to_last_running", "gil_left_before_read",
        "cpu_nogil_current")
after = flamewatch.stats()
print(json.dumps({"tail_work": time.thread_time() - t0,
                  "stats_before": {k: before.get(k) for k in keys},
                  "stats_after": {k: after.get(k) for k in keys}}))
'''


class FinalTickTest(unittest.TestCase):
    def test_cpu_after_the_last_tick_is_kept(self):
        out = fwtest.make_tmp(self, "fw-final-")
        res = fwtest.run_cli(["--output", out, "--app", "finaltick", "--cpu-interval", "250"], CODE,
                             timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        report = res.last_json()
        truth = report["tail_work"]
        got = waiting = 0
        for sample in fwtest.convert(fwtest.profile_files(out))["samples"]:
            if sample["labels"].get("thread_name") != "MainThread":
                continue
            if any(f["name"] == "wait_for_ticks" for f in sample["stack"]):
                waiting += sample["value"] / 1e9
            else:
                got += sample["value"] / 1e9
        # Everything from the first tick's baseline to the exit is charged: the main thread's
        # CPU after the wait is tail_work's, give or take the few milliseconds of the exit.
        # Most of it is charged to tail_work itself, but not all: a tick that falls in the exit,
        # after tail_work returned, finds the thread holding the GIL there and charges it the
        # delta since the previous tick, as any sampler would. Without the last look, the
        # stretch after the last tick (on average half an interval) would be missing.
        msg = "main thread after the wait: %.3f s in the profile (%.3f s while waiting), %.3f s " \
              "of tail_work by thread_time; agent stats before %r, after (before the last look) " \
              "%r" % (got, waiting, truth, report["stats_before"], report["stats_after"])
        self.assertGreater(got, truth - 0.05, msg)
        self.assertLess(got, truth + 0.05, msg)


if __name__ == "__main__":
    unittest.main()
