"""`python -m flamewatch COMMAND`: the commands a pip install provides without the C binary.

Only `run` (flamewatch/_run.py, the C CLI's `flamewatch run` flag for flag); the server, query,
diff and convert commands are in the C binary that `make` builds.
"""
import os
import sys

from . import _run

_USAGE = """usage: python -m flamewatch COMMAND [OPTIONS]

commands:
  run        run a Python program under the profiling agent

Run 'python -m flamewatch run --help' for its options. The server, query, diff, sql and
convert commands are in the flamewatch binary that 'make' builds (see README.md).
"""


def main():
    argv = sys.argv
    if len(argv) < 2:
        sys.stderr.write(_USAGE)
        return 2
    if argv[1] in ("--help", "-h", "help"):
        sys.stdout.write(_USAGE)
        return 0
    if argv[1] == "run":
        return _run.run([os.fsencode(a) for a in argv[1:]], "python -m flamewatch run")
    sys.stderr.write("flamewatch: unknown command '%s'\n%s" % (argv[1], _USAGE))
    return 2


if __name__ == "__main__":
    sys.exit(main())
