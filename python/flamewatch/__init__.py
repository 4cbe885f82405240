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
  that such a child also writes its final profile before it disappears;
* ``os.execv`` and ``os.execve`` (through which every ``os.exec*`` function goes) are wrapped: the
  agent writes and sends the interval not yet flushed before the program is replaced (the new
  program keeps the pid; its agent, if any, numbers its files on after the existing ones). If the
  exec fails, the agent starts again and the program goes on being profiled;
* SIGTERM: if the program has no handler of its own (the default action, which kills the process
  without running atexit), a handler is installed that sends the final profile (within the 2 s
  exit deadline) and then dies of SIGTERM exactly as the default action would. A handler the
  program installs later simply replaces it. Python runs signal handlers in the main thread
  between bytecodes, so a main thread stuck in one long C call delays this; that is the price of
  not touching the signal from C, where nothing useful could be done safely.

With ``server=`` (``FLAMEWATCH_SERVER``, ``flamewatch run --server``) every profile is uploaded to
the server's ``/ingest`` by the agent's own uploader thread, and the application's settings are
polled and applied live. ``tag(**labels)`` labels the samples taken inside a ``with`` block or a
decorated function (sync or async), per thread and per asyncio task.

Unsupported interpreters (CPython older than 3.9 or newer than 3.15, free-threaded builds, other
implementations, or no compiled agent for this version) run unprofiled, with one warning line.
Logging is quiet by default; FLAMEWATCH_LOG=debug explains each decision on stderr, one line each.
"""

import atexit
import contextvars
import functools
import os
import re
import signal
import sys

from . import _config

__all__ = ["start", "stop", "is_running", "stats", "tag", "set_memory"]

_LEVELS = {"debug": 0, "info": 1, "warning": 2, "quiet": 3}
_state = {
    "level": None,          # configured log level (None: from FLAMEWATCH_LOG)
    "hooks": False,         # atexit and fork hooks installed
    "warned": False,        # the unsupported-interpreter warning was printed
    "real_exit": None,      # os._exit before we wrapped it
    "native": None,         # the arguments _agent.start() was given (to resume after a failed exec)
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
    # Cheap checks first: importing platform or sysconfig costs milliseconds of start-up.
    impl = sys.implementation.name
    ver = "%d.%d" % sys.version_info[:2]
    if impl != "cpython":
        return "%s %s is not supported (CPython 3.9-3.15 only)" % (impl, ver)
    if not (3, 9) <= sys.version_info[:2] <= (3, 15):
        return "CPython %s is not supported (3.9-3.15 only)" % ver
    if sys.version_info[:2] >= (3, 13):   # the first version with free-threaded builds
        import sysconfig
        if sysconfig.get_config_var("Py_GIL_DISABLED"):
            return "free-threaded CPython %s is not supported (3.9-3.15 with the GIL only)" % ver
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
          upload_interval_s=None, enabled=None, log=None, server=None, token=None,
          settings_interval_s=None, upload_queue=None, memory=None, memory_threshold_kb=None,
          ca_file=None):
    """Starts profiling this process. Returns True if the agent runs afterwards.

    Raises ValueError (with the message ``flamewatch run`` would print) for an invalid setting,
    whether it came from a keyword or from a FLAMEWATCH_* variable.
    """
    cfg = _config.resolve(dict(app=app, output=output, cpu_interval_ms=cpu_interval_ms, cpu=cpu,
                               wall=wall, tags=tags, upload_interval_s=upload_interval_s,
                               enabled=enabled, log=log, server=server, token=token,
                               settings_interval_s=settings_interval_s, upload_queue=upload_queue,
                               memory=memory, memory_threshold_kb=memory_threshold_kb,
                               ca_file=ca_file))
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
    if cfg.output is not None:
        try:
            os.makedirs(cfg.output, exist_ok=True)
        except OSError as exc:
            raise ValueError("flamewatch: invalid value for output: '%s' (expected a directory path: %s)"
                             % (cfg.output, exc.strerror))
    # The tag ContextVar is registered with the agent at the first tag() (_ensure_tag_var):
    # until then the sampler knows no thread can carry tags and skips pairing stacks with them.
    native = ((cfg.app, cfg.output or "", cfg.cpu_interval_ms, cfg.cpu, cfg.wall, cfg.tags,
               cfg.upload_interval_s, cfg.log, True, cfg.server or "", cfg.token or "",
               cfg.settings_interval_s, cfg.upload_queue),
              dict(memory=cfg.memory, memory_threshold_kb=cfg.memory_threshold_kb,
                   ca_file=cfg.ca_file or ""))
    _agent.start(*native[0], **native[1])
    _state["native"] = native
    _install_hooks()
    _wrap_exit()
    _wrap_exec()
    _install_sigterm()
    _log("debug", "profiling app=%s pid=%d every %d ms (cpu=%s wall=%s), a profile every %gs into %s%s"
         % (cfg.app, os.getpid(), cfg.cpu_interval_ms, cfg.cpu, cfg.wall, cfg.upload_interval_s,
            cfg.output or "(no files)",
            " and to %s (settings every %gs, queue %d)" % (cfg.server, cfg.settings_interval_s,
                                                           cfg.upload_queue)
            if cfg.server else ""))
    return True


def set_memory(on, threshold_kb=None):
    """Switches the memory profiler on or off while the agent runs (threshold in KB, 1-1048576).

    Off restores the allocators that were installed before ours (or, if something has wrapped
    ours since, leaves ours in place passing calls through). Returns True if the memory profiler
    runs afterwards (False after set_memory(True) while the master switch is off: it is then
    switched on when the master switch comes back). Raises ValueError for an invalid threshold.
    """
    on = _config._check_bool("on", on)
    if threshold_kb is not None:
        threshold_kb = _config._check_memory_threshold("threshold_kb", threshold_kb)
    if unsupported_reason() is not None:
        return False
    from . import _agent
    if not _agent.is_running():
        return False
    _agent.set_memory(on, threshold_kb)
    # With the master switch off (remote settings), on=True is remembered but does not run yet.
    return on and _agent.memory_stats()["sampling"]


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


# ---- exec ----
#
# os.execl/execle/execlp/execlpe/execvp/execvpe all end in a call of the module globals
# os.execv or os.execve, so wrapping those two covers the family. The exec replaces the process
# image without running atexit: without the wrapper the interval under way (up to the whole run
# with the default 15 s interval) would never be written or sent.

_EXEC_NAMES = ("execv", "execve")


def _exec_wrapper(name, real):
    def wrapper(*args, **kwargs):
        native = _stop_before_exec(name)
        try:
            return real(*args, **kwargs)
        except BaseException:
            if native is not None:
                _resume_after_exec(native)
            raise
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = real.__doc__
    wrapper._flamewatch_real = real
    return wrapper


def _stop_before_exec(name):
    """Writes and sends the final profile; returns the start arguments to resume with, or None."""
    try:
        from . import _agent
        if not _agent.is_running():
            return None
        _log("debug", "os.%s: writing the last profile before the program is replaced" % name)
        _agent.stop()
        return _state["native"]
    except Exception as exc:  # the exec must happen whatever the agent does
        _log("warning", "cannot write the last profile before os.%s: %s" % (name, exc))
        return None


def _resume_after_exec(native):
    """The exec failed and the program goes on: so does profiling."""
    try:
        from . import _agent
        if not _agent.is_running():
            _agent.start(*native[0], **native[1])
            _log("debug", "the exec failed: profiling resumes")
    except Exception as exc:
        _log("warning", "cannot resume profiling after a failed exec: %s" % exc)


def _wrap_exec():
    for name in _EXEC_NAMES:
        current = getattr(os, name, None)
        if current is not None and getattr(current, "_flamewatch_real", None) is None:
            setattr(os, name, _exec_wrapper(name, current))


# ---- SIGTERM ----

def _on_sigterm(signum, frame):
    """Default SIGTERM, plus the final profile: stop (bounded by the 2 s exit deadline), then die
    of SIGTERM with the default action, so the exit status is what it would have been."""
    try:
        _log("debug", "SIGTERM: sending the final profile before exiting")
        stop()
    except BaseException:
        pass
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm():
    """Chains SIGTERM only when the program has no handler: never replaces one it installed, and
    never from a thread other than the main one (where signal.signal would raise)."""
    try:
        import threading
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
            _log("debug", "SIGTERM handler installed (the program had none)")
        elif signal.getsignal(signal.SIGTERM) is not _on_sigterm:
            _log("debug", "the program handles SIGTERM itself: the final profile is sent at exit")
    except (ValueError, OSError, AttributeError):
        pass


# ---- dynamic tags ----

_TAG_VAR = contextvars.ContextVar("flamewatch_tags", default=None)
_TAG_STATE = {"registered": None}
_TAG_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_RESERVED = frozenset(("app", "host_ip", "hostname", "pid", "thread_name", "thread_group"))
_MAX_PAIRS = 16


def _ensure_tag_var():
    """Tells the agent which ContextVar holds the current tags (once per process)."""
    if _TAG_STATE["registered"] is None:
        try:
            from . import _agent
            _TAG_STATE["registered"] = bool(_agent.set_tag_var(_TAG_VAR))
        except Exception as exc:  # unsupported interpreter: tags are accepted and ignored
            _log("debug", "dynamic tags are not recorded: %s" % exc)
            _TAG_STATE["registered"] = False
    return _TAG_STATE["registered"]


def _pairs_of(labels):
    pairs = []
    for key, value in labels.items():
        if not _TAG_KEY_RE.match(key) or len(key) > 64:
            raise ValueError("flamewatch.tag: invalid key %r (expected 1 to 64 characters matching "
                             "[A-Za-z_][A-Za-z0-9_.]*)" % (key,))
        if key in _RESERVED:
            raise ValueError("flamewatch.tag: %r is a built-in label and cannot be a tag" % key)
        value = value if isinstance(value, str) else str(value)
        if len(value) > 256 or "\0" in value:
            raise ValueError("flamewatch.tag: value of %r longer than 256 characters or with NUL" % key)
        pairs.append((key, value))
    if not 1 <= len(pairs) <= _MAX_PAIRS:
        raise ValueError("flamewatch.tag: expected 1 to %d tags" % _MAX_PAIRS)
    return tuple(sorted(pairs))


class _Tag(object):
    """What tag() returns: a context manager (re-entrant; enter and leave it in the same thread or
    task) and a decorator for sync and async functions."""

    __slots__ = ("_pairs", "_tokens")

    def __init__(self, pairs):
        self._pairs = pairs
        self._tokens = []

    def __enter__(self):
        tagset = None
        if _ensure_tag_var():
            from . import _agent
            current = _TAG_VAR.get()
            merged = dict(current.items) if current is not None else {}
            merged.update(self._pairs)
            if len(merged) <= _MAX_PAIRS:
                tagset = _agent.tagset(tuple(sorted(merged.items())))
        self._tokens.append(_TAG_VAR.set(tagset) if tagset is not None else None)
        return self

    def __exit__(self, exc_type, exc, tb):
        token = self._tokens.pop()
        if token is not None:
            _TAG_VAR.reset(token)
        return False

    def __call__(self, fn):
        pairs = self._pairs
        import inspect   # only decorators need it; it is slow to import at start-up
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def tagged_async(*args, **kwargs):
                with _Tag(pairs):
                    return await fn(*args, **kwargs)
            return tagged_async

        @functools.wraps(fn)
        def tagged(*args, **kwargs):
            with _Tag(pairs):
                return fn(*args, **kwargs)
        return tagged


def tag(**labels):
    """Labels the samples taken inside a block or a function with ``labels``::

        with flamewatch.tag(endpoint="/checkout"):
            handle()

        @flamewatch.tag(job="reindex")
        async def reindex(): ...

    Nested blocks add to (or override) the enclosing block's tags. The tags follow the block's
    thread and asyncio task only (contextvars); tasks created inside inherit them. Keys are
    ``[A-Za-z_][A-Za-z0-9_.]*`` (built-in label names are refused), values are strings of at most
    256 characters. Costs a few microseconds per block; nothing when the agent is unsupported.
    """
    return _Tag(_pairs_of(labels))
