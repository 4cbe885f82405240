"""The per-version layer's checks of the interpreter it runs in (agent/fw_pyversion.c).

On 3.13+ the agent reads layout facts from the interpreter's own _Py_DebugOffsets: the table is
checked (cookie, version, GIL build, offsets it can use) before anything else is read, and the
agent refuses to start, in one line, when it does not match the CPython it was built for. A
free-threaded interpreter is refused with one line and the program runs unprofiled; no such
interpreter exists here, so the check is fed a table that says so, and `flamewatch run` is
pointed at a fake interpreter whose sysconfig reports Py_GIL_DISABLED=1.
"""
import os
import stat
import struct
import sys
import textwrap
import unittest

import fwaccuracy as fa
from flamewatch import _agent

VER = "%d.%d" % sys.version_info[:2]
FT_LINE = ("flamewatch: warning: free-threaded CPython %s is not supported (3.9-3.15 with the GIL "
           "only); running without profiling" % VER)


class NoDebugOffsetsTest(unittest.TestCase):
    """Before 3.13 there is no table: the layer says so instead of reading one."""

    def test_no_table(self):
        self.assertIsNone(_agent._debug_offsets())
        self.assertEqual(_agent._check_debug_offsets(b"x" * 64),
                         'the interpreter publishes no _Py_DebugOffsets (no "xdebugpy" cookie): it '
                         'is not the CPython %d.%d.%d this agent was built for' % sys.version_info[:3])


class DebugOffsetsTest(unittest.TestCase):
    def setUp(self):
        self.table = _agent._debug_offsets()
        self.assertIsNotNone(self.table)

    def _with(self, offset, data):
        return self.table[:offset] + data + self.table[offset + len(data):]

    def test_live_table_is_accepted(self):
        self.assertEqual(self.table[:8], b"xdebugpy")
        self.assertEqual(struct.unpack_from("<Q", self.table, 8)[0], sys.hexversion)
        self.assertIsNone(_agent._check_debug_offsets(self.table))

    def test_bad_cookie_is_refused(self):
        msg = _agent._check_debug_offsets(self._with(0, b"xdebugpz"))
        self.assertIn('no "xdebugpy" cookie', msg)
        self.assertIn("CPython %d.%d.%d" % sys.version_info[:3], msg)

    def test_other_patch_release_is_refused(self):
        other = sys.hexversion + 0x100   # the next micro release
        msg = _agent._check_debug_offsets(self._with(8, struct.pack("<Q", other)))
        self.assertEqual(msg, "this agent was built for CPython %d.%d.%d but runs under CPython "
                         "%d.%d.%d (from its _Py_DebugOffsets): rebuild it for this interpreter"
                         % (sys.version_info[:3] + sys.version_info[:2] + (sys.version_info[2] + 1,)))

    def test_free_threaded_is_refused(self):
        msg = _agent._check_debug_offsets(self._with(16, struct.pack("<Q", 1)))
        self.assertEqual(msg, "free-threaded CPython %s is not supported (3.9-3.15 with the GIL only)"
                         % VER)

    def test_unusable_offsets_are_refused(self):
        # Everything after the header (sizes and offsets) made huge: nothing may be read with it.
        bad = self.table[:24] + b"\xff" * (len(self.table) - 24)
        msg = _agent._check_debug_offsets(bad)
        self.assertTrue(msg.startswith("the interpreter's _Py_DebugOffsets describe a layout this "
                                       "agent cannot read ("), msg)
        self.assertIn("truncated", _agent._check_debug_offsets(self.table[:-1]))


class FreeThreadedTest(unittest.TestCase):
    """A fake free-threaded interpreter: the real one, with a sysconfig that reports
    Py_GIL_DISABLED=1 (a module on PYTHONPATH that wraps the real sysconfig). Free-threaded
    builds exist from 3.13 on (before, the variable is never looked at)."""

    def setUp(self):
        self.tmp = fa.make_tmp(self)
        shim = os.path.join(self.tmp, "shim")
        os.mkdir(shim)
        with open(os.path.join(shim, "sysconfig.py"), "w") as f:
            f.write(textwrap.dedent("""\
                import os, sys
                _here = os.path.dirname(os.path.abspath(__file__))
                del sys.modules[__name__]
                _path = sys.path[:]
                sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
                try:
                    import sysconfig as _real
                finally:
                    sys.path[:] = _path
                _get = _real.get_config_var
                def _fake(name):
                    return 1 if name == "Py_GIL_DISABLED" else _get(name)
                _real.get_config_var = _fake
                sys.modules[__name__] = _real
                """))
        # Named as CPython names its free-threaded interpreters, so that `flamewatch run`
        # treats it as a Python program.
        self.py = os.path.join(self.tmp, "python%st" % VER)
        with open(self.py, "w") as f:
            f.write('#!/bin/sh\nPYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}%s" exec "%s" "$@"\n'
                    % (shim, sys.executable))
        os.chmod(self.py, stat.S_IRWXU)
        self.out = os.path.join(self.tmp, "out")
        self.script = os.path.join(self.tmp, "prog.py")
        with open(self.script, "w") as f:
            f.write("import sysconfig\nprint('ran', sysconfig.get_config_var('Py_GIL_DISABLED'))\n")

    def test_flamewatch_run_says_one_line_and_the_program_runs(self):
        rc, out, err, _ = fa.run_flamewatch(["run", "--output", self.out, "--", self.py, self.script],
                                            cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "ran 1")
        self.assertEqual(err.strip().splitlines(), [FT_LINE])
        self.assertFalse(os.path.isdir(self.out) and os.listdir(self.out), "profiled anyway")

    def test_start_returns_false_with_one_line(self):
        code = ("import flamewatch; print(flamewatch.start(output=%r), flamewatch.is_running())"
                % self.out)
        env = fa.child_env({"PYTHONPATH": os.path.join(os.environ.get("FLAMEWATCH_TEST_BUILD", ""),
                                                       "python")})
        import subprocess
        proc = subprocess.run([self.py, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60, universal_newlines=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "False False")
        self.assertEqual(proc.stderr.strip().splitlines(), [FT_LINE])


# Each interpreter runs the tests that apply to it (a skipped test counts as a failure).
if sys.version_info >= (3, 13):
    del NoDebugOffsetsTest
else:
    del DebugOffsetsTest, FreeThreadedTest


if __name__ == "__main__":
    unittest.main()
