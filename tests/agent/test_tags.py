"""Dynamic tags: `with flamewatch.tag(...)` and `@flamewatch.tag(...)` label only the samples
taken inside, per thread and per asyncio task (contextvars), on every interpreter.

The isolation tests give each tag its own function, so a sample of one tag that shows the other
tag's function is a leak; CPU-busy code runs between awaits so that tasks interleave on one
thread many times per sampling interval.
"""
import unittest

import fwtest

THREADS = r'''
import threading, time, flamewatch
def work_a(s):
    end = time.thread_time() + s
    while time.thread_time() < end: sum(range(200))
def work_b(s):
    end = time.thread_time() + s
    while time.thread_time() < end: sum(range(200))
def run(endpoint, fn):
    with flamewatch.tag(endpoint=endpoint):
        fn(1.0)
ts = [threading.Thread(target=run, args=("/a", work_a)), threading.Thread(target=run, args=("/b", work_b))]
for t in ts: t.start()
for t in ts: t.join()
work_a(0.3)   # untagged
'''

ASYNC = r'''
import asyncio, time, flamewatch
def spin(ms):
    end = time.perf_counter() + ms / 1000.0
    while time.perf_counter() < end: sum(range(100))
async def task_a():
    with flamewatch.tag(task="a"):
        for _ in range(150):
            spin(5); await asyncio.sleep(0)
async def task_b():
    with flamewatch.tag(task="b"):
        for _ in range(150):
            spin(5); await asyncio.sleep(0)
@flamewatch.tag(task="c", kind="deco")
async def task_c():
    for _ in range(50):
        spin(5); await asyncio.sleep(0)
async def main():
    await asyncio.gather(task_a(), task_b(), task_c())
asyncio.run(main())
'''

DECO = r'''
import time, flamewatch
def spin(s):
    end = time.thread_time() + s
    while time.thread_time() < end: sum(range(100))
@flamewatch.tag(job="deco")
def decorated():
    spin(0.3)
    with flamewatch.tag(step="inner"):
        spin(0.3)
decorated()
print(decorated.__name__)
'''


def _frames(sample):
    return set(f["name"] for f in sample["stack"])


class TagTest(unittest.TestCase):
    def run_files(self, code):
        out = fwtest.make_tmp(self, "fw-tags-")
        res = fwtest.run_cli(["--output", out, "--upload-interval", "60", "--app", "tags"], code,
                             timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        return fwtest.convert_all(out), res

    def test_threads_isolated(self):
        prof, _ = self.run_files(THREADS)
        a = [s for s in prof["samples"] if s["labels"].get("endpoint") == "/a"]
        b = [s for s in prof["samples"] if s["labels"].get("endpoint") == "/b"]
        self.assertGreater(sum(s["value"] for s in a), 0.8e9)
        self.assertGreater(sum(s["value"] for s in b), 0.8e9)
        self.assertFalse([s for s in a if "work_b" in _frames(s)])
        self.assertFalse([s for s in b if "work_a" in _frames(s)])
        untagged = [s for s in prof["samples"] if "endpoint" not in s["labels"]]
        self.assertGreater(sum(s["value"] for s in untagged if "work_a" in _frames(s)), 0.2e9)

    def test_asyncio_tasks_isolated(self):
        prof, _ = self.run_files(ASYNC)
        by = {}
        for s in prof["samples"]:
            by.setdefault(s["labels"].get("task"), []).append(s)
        for name, fn in (("a", "task_a"), ("b", "task_b"), ("c", "task_c")):
            mine = by.get(name, [])
            self.assertGreater(sum(s["value"] for s in mine), 0.1e9, (name, by.keys()))
            for s in mine:
                others = {"task_a", "task_b", "task_c"} - {fn}
                self.assertFalse(_frames(s) & others, "task %s got %s" % (name, _frames(s)))
        self.assertTrue(all(s["labels"].get("kind") == "deco" for s in by["c"]))

    def test_decorator_and_nesting(self):
        prof, res = self.run_files(DECO)
        self.assertIn("decorated", res.stdout)    # functools.wraps kept the name
        deco = fwtest.total(prof, job="deco")
        inner = fwtest.total(prof, job="deco", step="inner")
        self.assertGreater(deco, 0.5e9)
        self.assertGreater(inner, 0.25e9)
        self.assertLess(inner, deco)

    def test_sampler_reads_the_current_context(self):
        # The no-GIL reader (fw_py_read_context_value) against Python's own view, with enough
        # other variables to turn the context's HAMT root into an array node.
        res = fwtest.run_python(r'''
import contextvars, flamewatch
from flamewatch import _agent
assert flamewatch._ensure_tag_var()
assert _agent._current_tag_id() == 0
with flamewatch.tag(a="1") as t:
    first = _agent._current_tag_id()
    assert first == flamewatch._TAG_VAR.get().id != 0
    others = [contextvars.ContextVar("v%d" % i) for i in range(300)]
    for i, v in enumerate(others): v.set(i)
    with flamewatch.tag(b="2"):
        inner = flamewatch._TAG_VAR.get()
        assert _agent._current_tag_id() == inner.id
        assert inner.items == (("a", "1"), ("b", "2")), inner.items
    assert _agent._current_tag_id() == first
assert _agent._current_tag_id() == 0
print("ok")
''')
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("ok", res.stdout)

    def test_invalid_tags_rejected(self):
        res = fwtest.run_python(r'''
import flamewatch
for bad in ({"pid": "1"}, {"1x": "a"}, {"k": "x" * 300}, {}):
    try:
        flamewatch.tag(**bad)
    except ValueError:
        continue
    raise SystemExit("accepted %r" % (bad,))
print("ok")
''')
        self.assertEqual(res.returncode, 0, res.describe())


if __name__ == "__main__":
    unittest.main()
