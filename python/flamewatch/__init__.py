"""flamewatch: continuous profiling for Python services.

    import flamewatch
    flamewatch.start(app="shop")          # keyword > FLAMEWATCH_* environment > default
    ...
    flamewatch.stop()                      # optional: done at exit anyway

The sampling itself happens in native threads of the extension ``flamewatch._agent``; this module
decides whether and how to start it, and keeps it alive across the process's life:

* at exit, an ``atexit`` callback stops the agent and writes the final profile (daemon threads may
  still be running: the agent never waits for them);
* on fork (``os.fork``, multiprocessing, gunicorn), ``os.register_at_fork`` hooks restart the agent
  in the child, which then writes its own files under its own pid;
* ``os._exit`` (which multiprocessing's forked children use) is wrapped while the agent runs, so
  that such a child also writes its final profile before it disappears.

Unsupported interpreters (CPython older than 3.9 or newer than 3.13, free-threaded builds, other
implementations, or no compiled agent for this version) run unprofiled, with one warning line.
Logging is quiet by default; FLAMEWATCH_LOG=debug explains each decision on stderr, one line each.
"""

import atexit
import os
import sys

from . import _config

__all__ = ["start", "stop", "is_running", "stats"]

_LEVELS = {"debug": 0, "info": 1, "warning": 2, "quiet": 3}
_state = {
    "level": None,          # configured log level (None: from FLAMEWATCH_LOG)
    "hooks": False,         # atexit and fork hooks installed
    "warned": False,        # the unsupported-interpreter warning was printed
    "real_exit": None,      # os._exit before we wrapped it
}


def _level():
    level = _state["level"]
    if level is None:
        level = os.environ.get("FLAMEWATCH_LOG", "warning").lower()
    return _LEVELS.get(level, 2)


def _log(level, message):
    if _LEVELS[level] >= _level() and _level() < 3:
        try:
            sys.stderr.write("flamewatch: %s\n" % message)
            sys.stderr.flush()
        except Exception:  # a closed stderr must not break the program
            pass


def unsupported_reason():
    """Why this interpreter cannot be profiled, or None."""
    import platform
    impl = platform.python_implementation()
    ver = "%d.%d" % sys.version_info[:2]
    if impl != "CPython":
        return "%s %s is not supported (CPython 3.9-3.13 only)" % (impl, ver)
    if not (3, 9) <= sys.version_info[:2] <= (3, 13):
        return "CPython %s is not supported (3.9-3.13 only)" % ver
    import sysconfig
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "free-threaded CPython %s is not supported (3.9-3.13 with the GIL only)" % ver
    try:
        from . import _agent  # noqa: F401
    except ImportError as exc:
        _log("debug", "cannot import the compiled agent: %s" % exc)
        return "no compiled agent for CPython %s" % ver
    return None


def _warn_unsupported(reason):
    if not _state["warned"]:
        _state["warned"] = True
        _log("warning", "warning: %s; running without profiling" % reason)


def is_running():
    """True while the agent samples this process."""
    if unsupported_reason() is not None:
        return False
    from . import _agent
    return _agent.is_running()


def stats():
    """The agent's counters (ticks, expected_ticks, stacks_walked, walk_ns, ...), or {}."""
    if unsupported_reason() is not None:
        return {}
    from . import _agent
    return _agent.stats()


def start(app=None, output=None, cpu_interval_ms=None, cpu=None, wall=None, tags=None,
          upload_interval_s=None, enabled=None, log=None):
    """Starts profiling this process. Returns True if the agent runs afterwards.

    Raises ValueError (with the message ``flamewatch run`` would print) for an invalid setting,
    whether it came from a keyword or from a FLAMEWATCH_* variable.
    """
    cfg = _config.resolve(dict(app=app, output=output, cpu_interval_ms=cpu_interval_ms, cpu=cpu,
                               wall=wall, tags=tags, upload_interval_s=upload_interval_s,
                               enabled=enabled, log=log))
    _state["level"] = cfg.log
    if not cfg.enabled:
        _log("debug", "disabled (enabled=False or FLAMEWATCH_ENABLED=0): not profiling")
        return False
    reason = unsupported_reason()
    if reason is not None:
        _warn_unsupported(reason)
        return False
    from . import _agent
    if _agent.is_running():
        _log("debug", "already running: start() ignored")
        return True
    try:
        os.makedirs(cfg.output, exist_ok=True)
    except OSError as exc:
        raise ValueError("flamewatch: invalid value for output: '%s' (expected a directory path: %s)"
                         % (cfg.output, exc.strerror))
    _agent.start(cfg.app, cfg.output, cfg.cpu_interval_ms, cfg.cpu, cfg.wall, cfg.tags,
                 cfg.upload_interval_s, cfg.log)
    _install_hooks()
    _wrap_exit()
    _log("debug", "profiling app=%s pid=%d every %d ms (cpu=%s wall=%s), a profile every %gs into %s"
         % (cfg.app, os.getpid(), cfg.cpu_interval_ms, cfg.cpu, cfg.wall, cfg.upload_interval_s,
            cfg.output))
    return True


def stop():
    """Stops the agent and writes the final profile. Returns its path, or None."""
    if unsupported_reason() is not None:
        return None
    from . import _agent
    if not _agent.is_running():
        return None
    path = _agent.stop()
    _unwrap_exit()
    _log("debug", "stopped; final profile %s" % path)
    return path


def _start_from_env():
    """The bootstrap's entry point: start from FLAMEWATCH_* only, never raise."""
    try:
        return start()
    except ValueError as exc:
        _log("warning", "%s; running without profiling" % str(exc)[len("flamewatch: "):])
    except Exception as exc:  # the program must run even if the agent cannot
        _log("warning", "cannot start the agent (%s); running without profiling" % exc)
    return False


# ---- process life: exit and fork ----

def _atexit():
    try:
        stop()
    except Exception as exc:
        _log("warning", "final profile failed: %s" % exc)


def _before_fork():
    from . import _agent
    _agent.before_fork()


def _after_fork_parent():
    from . import _agent
    _agent.after_fork_parent()


def _after_fork_child():
    from . import _agent
    was_running = _agent.is_running()
    try:
        _agent.after_fork_child()
    except Exception as exc:
        _log("warning", "cannot profile the forked child %d: %s" % (os.getpid(), exc))
        return
    if was_running:
        _log("debug", "forked child %d profiles itself" % os.getpid())


def _install_hooks():
    if _state["hooks"]:
        return
    _state["hooks"] = True
    atexit.register(_atexit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_parent,
                            after_in_child=_after_fork_child)


def _exit_and_flush(status):
    """os._exit, after the agent has written its final profile."""
    try:
        from . import _agent
        if _agent.is_running():
            _agent.stop()
    except BaseException:
        pass
    real = _state["real_exit"]
    (real or _real_os_exit)(status)


_real_os_exit = os._exit


def _wrap_exit():
    if os._exit is not _exit_and_flush:
        _state["real_exit"] = os._exit
        os._exit = _exit_and_flush


def _unwrap_exit():
    if os._exit is _exit_and_flush and _state["real_exit"] is not None:
        os._exit = _state["real_exit"]
