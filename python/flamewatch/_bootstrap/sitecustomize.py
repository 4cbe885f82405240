"""flamewatch bootstrap: starts the agent in programs launched by `flamewatch run`.

`flamewatch run` puts this directory (and the flamewatch package's) first on PYTHONPATH and sets
FLAMEWATCH_RUN=1, so every Python process of the program imports this module at startup, including
multiprocessing spawn/forkserver children and subprocesses, which inherit the environment.

It must never break the program:
  * this file stays valid Python 2.7 and 3.x syntax (no f-strings), because whatever interpreter
    the program runs may import it;
  * on an interpreter the agent does not support (CPython < 3.9 or > 3.15, free-threaded builds,
    other implementations, no compiled agent) it prints exactly one warning line and does nothing;
  * any other failure is one warning line too, never a traceback.
Afterwards it hands over to the next `sitecustomize` on sys.path (the one it shadows), if any.
"""
import os
import sys


def _flamewatch_warn(message):
    if os.environ.get("FLAMEWATCH_LOG", "").lower() == "quiet":
        return
    try:
        sys.stderr.write("flamewatch: warning: %s; running without profiling\n" % message)
        sys.stderr.flush()
    except Exception:
        pass


def _flamewatch_unsupported():
    implementation = getattr(sys, "implementation", None)   # 2.7 has none
    if implementation is not None:
        impl = implementation.name
    else:
        import platform
        impl = platform.python_implementation().lower()
    ver = "%d.%d" % tuple(sys.version_info[:2])
    if impl != "cpython":
        return "%s %s is not supported (CPython 3.9-3.15 only)" % (impl, ver)
    if not ((3, 9) <= tuple(sys.version_info[:2]) <= (3, 15)):
        return "CPython %s is not supported (3.9-3.15 only)" % ver
    if tuple(sys.version_info[:2]) < (3, 13):   # no free-threaded builds before 3.13
        return None
    import sysconfig
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "free-threaded CPython %s is not supported (3.9-3.15 with the GIL only)" % ver
    return None


def _flamewatch_boot():
    if os.environ.get("FLAMEWATCH_RUN") != "1":
        return
    reason = _flamewatch_unsupported()
    if reason is not None:
        _flamewatch_warn(reason)
        return
    try:
        import flamewatch
    except Exception:
        _flamewatch_warn("cannot import the flamewatch package (%s)" % (sys.exc_info()[1],))
        return
    flamewatch._start_from_env()


def _flamewatch_chain():
    """Loads the sitecustomize this one shadows: the next one on sys.path."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        try:
            directory = os.path.abspath(entry or os.getcwd())
            if directory == here or os.path.realpath(directory) == os.path.realpath(here):
                continue
            candidates = (os.path.join(directory, "sitecustomize.py"),
                          os.path.join(directory, "sitecustomize", "__init__.py"))
            path = [c for c in candidates if os.path.isfile(c)]
        except Exception:
            continue
        if path:
            _flamewatch_load(path[0])
            return


def _flamewatch_load(path):
    try:
        if sys.version_info[0] >= 3:
            import importlib.util
            spec = importlib.util.spec_from_file_location("sitecustomize", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules["sitecustomize"] = module
            spec.loader.exec_module(module)
        else:
            import imp
            imp.load_source("sitecustomize", path)
    except Exception:
        # The same treatment site.py gives a failing sitecustomize: report and go on.
        sys.stderr.write("Error in sitecustomize (%s); set PYTHONVERBOSE for traceback:\n%s: %s\n"
                         % (path, type(sys.exc_info()[1]).__name__, sys.exc_info()[1]))


_flamewatch_boot()
_flamewatch_chain()
