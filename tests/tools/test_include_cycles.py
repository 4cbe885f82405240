"""tools/include_cycles.py on small trees written here: it must fail with the cycle printed for
two modules that include each other and for a longer loop, and pass a one-way tree.
Run: python3 tests/tools/test_include_cycles.py"""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(ROOT, "tools", "include_cycles.py")


def tree(files):
    d = tempfile.mkdtemp(prefix="fw_cycles.")
    for path, includes in files.items():
        os.makedirs(os.path.join(d, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(d, path), "w") as f:
            f.write("/* a comment: #include \"x/ignored.h\" */\n")
            f.write("#include <stdio.h>\n")
            for inc in includes:
                f.write('#include "%s"\n' % inc)
    return d


def run(d, *folders):
    return subprocess.run([sys.executable, SCRIPT, "--root", d] + list(folders),
                          capture_output=True, text=True, timeout=60)


class IncludeCycles(unittest.TestCase):
    def test_one_way_tree_passes(self):
        d = tree({"x/a.c": ["a.h", "b.h"], "x/a.h": ["b.h"], "x/b.c": ["b.h"], "x/b.h": [],
                  "x/ignored.h": ["a.h"]})
        r = run(d, "x")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_two_modules_including_each_other_fail(self):
        d = tree({"x/a.c": ["a.h", "b.h"], "x/a.h": [], "x/b.c": ["b.h", "a.h"], "x/b.h": []})
        r = run(d, "x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("include cycle: x/a -> x/b -> x/a", r.stderr)

    def test_longer_loop_through_another_folder_fails(self):
        d = tree({"x/a.c": ["a.h", "../y/b.h"], "x/a.h": [], "y/b.c": ["b.h"], "y/b.h": ["c.h"],
                  "y/c.c": ["c.h"], "y/c.h": ["../x/a.h"]})
        self.assertEqual(run(d, "y").returncode, 1)
        r = run(d, "x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("include cycle: x/a -> y/b -> y/c -> x/a", r.stderr)
        # Only the folders given are checked: a cycle elsewhere does not fail them.
        d2 = tree({"x/a.c": ["a.h"], "x/a.h": [], "y/b.c": ["b.h", "c.h"], "y/b.h": [],
                   "y/c.c": ["c.h", "b.h"], "y/c.h": []})
        self.assertEqual(run(d2, "x").returncode, 0)
        self.assertEqual(run(d2).returncode, 1)

    def test_private_impl_header_belongs_to_its_module(self):
        d = tree({"x/p.c": ["p.h", "p_impl.h"], "x/p.h": [], "x/p_impl.h": ["p.h"],
                  "x/p_more.c": ["p.h", "p_impl.h"]})
        r = run(d, "x")
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
