"""The stack walker against CPython's own view of every thread.

Threads are parked on an Event in various shapes of Python code; _walk_threads() (which reads
thread states, frames and code objects only through flamewatch's fw_pyversion/fw_stack) must
give the same (qualified name, filename, line) stacks as sys._current_frames().
Qualified names follow the product rule: co_qualname on 3.11+, and on 3.9/3.10 the function
name prefixed with the class of a first argument named self or cls.
"""
import asyncio
import sys
import threading
import time
import unittest

from flamewatch import _agent

PY311 = sys.version_info >= (3, 11)
DEPTH = 300


def expected_name(frame):
    code = frame.f_code
    if PY311:
        return code.co_qualname
    if code.co_argcount > 0 and code.co_varnames[0] in ("self", "cls"):
        first = frame.f_locals.get(code.co_varnames[0])
        if first is not None:
            if code.co_varnames[0] == "cls" and isinstance(first, type):
                return "%s.%s" % (first.__name__, code.co_name)
            if code.co_varnames[0] == "self":
                return "%s.%s" % (type(first).__name__, code.co_name)
    return code.co_name


def expected_stack(frame):
    out = []
    while frame is not None:
        out.append((expected_name(frame), frame.f_code.co_filename, frame.f_lineno))
        frame = frame.f_back
    return out


# ---- workloads: each ends up blocked in Event.wait() ----------------------------------------

class Parser:
    def parse(self, ev):
        return self._inner(ev)

    def _inner(self, ev):
        ev.wait()


class Factory:
    @classmethod
    def build(cls, ev):
        ev.wait()


def outer(ev):
    def inner():
        ev.wait()
    inner()


def generator(ev):
    ev.wait()
    yield 1


def run_generator(ev):
    for _ in generator(ev):
        pass


async def coroutine(ev):
    ev.wait()


def run_coroutine(ev):
    asyncio.run(coroutine(ev))


class Größe:
    def 計算(self, ev):
        ev.wait()


def recurse(n, ev):
    if n == 0:
        ev.wait()
        return 0
    return recurse(n - 1, ev) + 1


class WalkerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ev = ev = threading.Event()
        cls.threads = {
            "method": threading.Thread(target=Parser().parse, args=(ev,)),
            "classmethod": threading.Thread(target=Factory.build, args=(ev,)),
            "nested": threading.Thread(target=outer, args=(ev,)),
            "generator": threading.Thread(target=run_generator, args=(ev,)),
            "coroutine": threading.Thread(target=run_coroutine, args=(ev,)),
            "unicode": threading.Thread(target=Größe().計算, args=(ev,)),
            "recursion": threading.Thread(target=recurse, args=(DEPTH, ev)),
            "lambda": threading.Thread(target=lambda: ev.wait()),
        }
        # Deeper than FW_STACK_MAX_DEPTH (512): compared separately, it must be truncated.
        cls.too_deep = threading.Thread(target=recurse, args=(600, ev), daemon=True)
        cls.too_deep.start()
        for t in cls.threads.values():
            t.daemon = True
            t.start()
        cls.walked, cls.frames = cls._snapshot()

    @classmethod
    def tearDownClass(cls):
        cls.ev.set()
        for t in list(cls.threads.values()) + [cls.too_deep]:
            t.join(10)

    @classmethod
    def _parked(cls, frames):
        for t in cls.threads.values():
            f = frames.get(t.ident)
            if f is None or f.f_code.co_name != "wait" or "threading" not in f.f_code.co_filename:
                return False
        return True

    @classmethod
    def _snapshot(cls):
        # Threads reach the wait asynchronously: retry until both views agree on every parked
        # thread (they can only differ while a thread is still on its way to the wait).
        walked, frames = None, None
        for _ in range(200):
            frames = sys._current_frames()
            if cls._parked(frames):
                walked = _agent._walk_threads()
                frames = sys._current_frames()
                if all(walked.get(t.ident) == expected_stack(frames[t.ident])
                       for t in cls.threads.values()):
                    break
            time.sleep(0.02)
        return walked, frames

    def check(self, key):
        t = self.threads[key]
        want = expected_stack(self.frames[t.ident])
        got = self.walked.get(t.ident)
        self.assertIsNotNone(got, "thread %s not found by _walk_threads" % key)
        self.assertEqual(got, want)
        return got

    def test_every_thread_state_found(self):
        idents = set(self.walked)
        self.assertIn(threading.get_ident(), idents)
        for t in self.threads.values():
            self.assertIn(t.ident, idents)

    def test_method(self):
        got = self.check("method")
        names = [name for name, _, _ in got]
        self.assertIn("Parser.parse", names)
        self.assertIn("Parser._inner", names)
        self.assertIn("Thread.run", names)

    def test_classmethod(self):
        got = self.check("classmethod")
        self.assertIn("Factory.build", [name for name, _, _ in got])

    def test_nested(self):
        got = self.check("nested")
        want = "outer.<locals>.inner" if PY311 else "inner"
        self.assertIn(want, [name for name, _, _ in got])

    def test_generator(self):
        got = self.check("generator")
        self.assertEqual([n for n, _, _ in got][2:4], ["generator", "run_generator"])

    def test_coroutine(self):
        got = self.check("coroutine")
        self.assertIn("coroutine", [name for name, _, _ in got])

    def test_unicode_names(self):
        got = self.check("unicode")
        self.assertIn("Größe.計算", [name for name, _, _ in got])

    def test_deep_recursion_whole(self):
        got = self.check("recursion")
        self.assertEqual(sum(1 for name, _, _ in got if name == "recurse"), DEPTH + 1)
        self.assertNotIn("[truncated]", [name for name, _, _ in got])

    def test_too_deep_is_truncated(self):
        got = self.walked[self.too_deep.ident]
        want = expected_stack(self.frames[self.too_deep.ident])
        self.assertGreater(len(want), 600)
        self.assertEqual(len(got), 512)
        self.assertEqual(got[:511], want[:511])
        self.assertEqual(got[511][0], "[truncated]")

    def test_lambda(self):
        got = self.check("lambda")
        self.assertIn("WalkerTest.setUpClass.<locals>.<lambda>" if PY311 else "<lambda>",
                      [name for name, _, _ in got])

    def test_current_thread_below_top(self):
        # The calling thread is running, so only its callers (not its own line) are stable.
        got = _agent._walk_threads()[threading.get_ident()]
        want = expected_stack(sys._getframe())
        self.assertEqual(got[1:], want[1:])
        self.assertEqual(got[0][:2], want[0][:2])

    def test_walk_cost(self):
        def deep(n):
            return _agent._walk_cost(200) if n == 0 else deep(n - 1)
        ns = deep(100)
        self.assertGreater(ns, 0)
        sys.stderr.write("\n[walker] Python %d.%d: %.0f ns per frame\n"
                         % (sys.version_info[:2] + (ns,)))


if __name__ == "__main__":
    unittest.main()
