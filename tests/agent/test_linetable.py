"""Our line-table decoders against CPython's own mapping.

For every code object of several stdlib modules (recursively through co_consts) and every
instruction offset, flamewatch._agent._addr2line(code, offset) must equal what CPython says:
co_lines() on 3.10+, and on 3.9 (which has no co_lines) the last line start at or before the
offset according to dis.findlinestarts. The decoder reads the table through the same
fw_py_read_code path the sampler uses.
"""
import bisect
import dis
import importlib
import sys
import types
import unittest

from flamewatch import _agent

MODULES = [
    "json.decoder",
    "re._parser" if sys.version_info >= (3, 11) else "sre_parse",
    "argparse",
    "asyncio.base_events",
    "email.message",
    "typing",
    "collections",
]


def all_code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from all_code_objects(const)


def module_code(name):
    module = importlib.import_module(name)
    with open(module.__file__, "rb") as f:
        source = f.read()
    return compile(source, module.__file__, "exec")


def expected_lines(code):
    """{offset: line or None} for every instruction offset of code."""
    n = len(code.co_code)
    if hasattr(code, "co_lines"):
        result = {off: None for off in range(0, n, 2)}
        for start, end, line in code.co_lines():
            for off in range(start, end, 2):
                if off in result:
                    result[off] = line
        return result
    starts = list(dis.findlinestarts(code))
    addrs = [a for a, _ in starts]
    result = {}
    for off in range(0, n, 2):
        i = bisect.bisect_right(addrs, off) - 1
        result[off] = starts[i][1] if i >= 0 else code.co_firstlineno
    return result


class LineTableTest(unittest.TestCase):
    def test_stdlib_modules(self):
        checked = 0
        codes = 0
        for name in MODULES:
            for code in all_code_objects(module_code(name)):
                codes += 1
                for off, want in expected_lines(code).items():
                    got = _agent._addr2line(code, off)
                    if got != want:
                        self.fail("%s %s (%s:%d) offset %d: got %r, CPython says %r"
                                  % (name, code.co_name, code.co_filename,
                                     code.co_firstlineno, off, got, want))
                    checked += 1
        self.assertGreater(checked, 10000)
        sys.stderr.write("\n[linetable] Python %d.%d: %d instructions in %d code objects "
                         "checked\n" % (sys.version_info[:2] + (checked, codes)))

    def test_special_cases(self):
        # Generators, comprehensions, lambdas, decorators, multi-line expressions and
        # functions far from the top of the file exercise long deltas and no-line entries.
        src = "\n" * 300 + (
            "def gen(x):\n"
            "    yield from (i * 2\n"
            "                for i in range(x)\n"
            "                if i)\n"
            "\n" * 200 +
            "async def co(a,\n"
            "             b):\n"
            "    try:\n"
            "        await a\n"
            "    except Exception:\n"
            "        pass\n"
            "    finally:\n"
            "        return [lambda: b for _ in a]\n"
            "x = {k: v for k, v in\n"
            "     zip('ab', 'cd')}\n"
        )
        checked = 0
        for code in all_code_objects(compile(src, "<special>", "exec")):
            for off, want in expected_lines(code).items():
                self.assertEqual(_agent._addr2line(code, off), want,
                                 "%s offset %d" % (code.co_name, off))
                checked += 1
        self.assertGreater(checked, 20)

    def test_rejects_non_code(self):
        with self.assertRaises(TypeError):
            _agent._addr2line("not code", 0)


if __name__ == "__main__":
    unittest.main()
