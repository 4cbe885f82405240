"""Configuration of the flamewatch agent: keyword arguments, FLAMEWATCH_* variables, defaults.

This module implements docs/CONFIGURATION.md for the Python side (``flamewatch.start()`` and the
bootstrap ``sitecustomize`` started by ``flamewatch run``). Precedence: keyword > environment >
default (the ``flamewatch run`` flags arrive here already exported as environment variables).

Every invalid value raises ValueError with the message the CLI prints, naming where the value came
from: the keyword for an argument of start(), the variable for the environment, e.g.
``flamewatch: invalid value for FLAMEWATCH_CPU_INTERVAL: 'abc' (expected an integer from 1 to 1000)``.
The checks and the "expected ..." texts are the same as cli/run_check.c so that both front ends reject
exactly the same values with the same words.
"""

import errno
import os
import re
import stat
import sys

__all__ = ["Config", "resolve", "default_app"]

DEFAULT_OUTPUT = "flamewatch-profiles"
MAX_TAGS = 32

_BOOL_EXPECTED = "expected a boolean: 1/0, true/false, yes/no or on/off"
# The application-name rule of common/fw_appname.h (FW_APP_NAME_RULE), word for word: the
# server applies it at ingest and in the settings path, so a name accepted here is never
# refused or altered there. tests/hostile/test_http_layer.py checks that the two agree.
_APP_RULE = ("1 to 128 bytes of UTF-8 without control characters, '/', '{', '}', ',' or '=', "
             "not starting or ending with a space, and not '.' or '..'")
_APP_EXPECTED = "expected " + _APP_RULE
_APP_FORBIDDEN = frozenset("/{},=")
_INTERVAL_EXPECTED = "expected an integer from 1 to 1000"
_UPLOAD_EXPECTED = "expected seconds from 0.1 to 3600, a decimal number such as 15 or 0.5"
_LOG_EXPECTED = "expected one of debug, info, warning, quiet"
_MEMORY_THRESHOLD_EXPECTED = "expected an integer number of KB from 1 to 1048576"
_KEY_EXPECTED = "expected K=V with a key of 1 to 64 characters matching [A-Za-z_][A-Za-z0-9_.]*"
_VALUE_EXPECTED = "expected K=V with a value of at most 256 characters without ','"
_TAGS_EXPECTED = "expected k=v pairs separated by ',', e.g. team=web,region=eu"
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_LEVELS = ("debug", "info", "warning", "quiet")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Config(object):
    """A validated configuration. ``log`` is one of debug/info/warning/quiet."""

    __slots__ = ("app", "output", "cpu_interval_ms", "cpu", "wall", "tags",
                 "upload_interval_s", "enabled", "log", "server", "token", "settings_interval_s",
                 "upload_queue", "memory", "memory_threshold_kb", "ca_file")

    def __init__(self, **kw):
        for name in self.__slots__:
            setattr(self, name, kw[name])

    def __repr__(self):
        return "Config(%s)" % ", ".join("%s=%r" % (n, getattr(self, n)) for n in self.__slots__)


def _shown(value):
    """The value as the CLI shows it: text with control characters escaped."""
    text = value if isinstance(value, str) else repr(value)
    out = []
    for ch in text:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    text = "".join(out)
    if len(text) > 500:
        text = text[:500] + "..."
    return text


def _invalid(where, value, expected):
    return ValueError("flamewatch: invalid value for %s: '%s' (%s)" % (where, _shown(value), expected))


def app_name_problem(value):
    """None if ``value`` is a valid application name, else what is wrong (common/fw_appname.c)."""
    if not isinstance(value, str) or not value:
        return "is empty"
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from undecodable bytes in argv
        return "is not valid UTF-8"
    if len(data) > 128:
        return "is longer than 128 bytes"
    if "\0" in value:
        return "contains a NUL byte"
    for ch in value:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return "contains a control character"
        if ch in _APP_FORBIDDEN:
            return "contains '%s'" % ch
    if value[0] == " " or value[-1] == " ":
        return "starts or ends with a space"
    if value in (".", ".."):
        return "is '.' or '..'"
    return None


def _check_app(where, value):
    if app_name_problem(value) is not None:
        raise _invalid(where, value, _APP_EXPECTED)
    return value


def _check_output(where, value):
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if hasattr(value, "__fspath__"):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\0" in value:
        raise _invalid(where, value, "expected a directory path")
    if len(value.encode("utf-8", "surrogateescape")) >= 4096 - 256:
        raise _invalid(where, value, "expected a directory path shorter than 3840 bytes")
    if os.path.exists(value) and not os.path.isdir(value):
        raise _invalid(where, value, "expected a directory path")
    return os.path.abspath(value)


def _check_interval(where, value):
    if isinstance(value, bool):
        raise _invalid(where, value, _INTERVAL_EXPECTED)
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and re.match(r"[0-9]{1,5}\Z", value):
        n = int(value)
    else:
        raise _invalid(where, value, _INTERVAL_EXPECTED)
    if not 1 <= n <= 1000:
        raise _invalid(where, value, _INTERVAL_EXPECTED)
    return n


def _check_bool(where, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise _invalid(where, value, _BOOL_EXPECTED)


def _check_upload(where, value):
    if isinstance(value, bool):
        raise _invalid(where, value, _UPLOAD_EXPECTED)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and len(value) <= 24 and re.match(r"([0-9]+\.?[0-9]*|\.[0-9]+)\Z", value):
        seconds = float(value)
    else:
        raise _invalid(where, value, _UPLOAD_EXPECTED)
    if not 0.1 <= seconds <= 3600.0:
        raise _invalid(where, value, _UPLOAD_EXPECTED)
    return seconds


_SERVER_EXPECTED = "expected an http:// or https:// URL such as http://127.0.0.1:4040"
_TOKEN_EXPECTED = "expected 1 to 511 printable ASCII characters"
_SETTINGS_EXPECTED = "expected seconds from 0.1 to 86400, a decimal number such as 30 or 0.5"
_QUEUE_EXPECTED = "expected an integer from 0 (no count limit) to 10000"


def _check_server(where, value):
    if (not isinstance(value, str) or not re.match(r"https?://[^\s/?#]+(/[^\s?#]*)?\Z", value)
            or len(value) > 1000):
        raise _invalid(where, value, _SERVER_EXPECTED)
    return value.rstrip("/")


def _check_token(where, value):
    if not isinstance(value, str) or not re.match(r"[\x21-\x7e]{1,511}\Z", value):
        raise _invalid(where, "***" if isinstance(value, str) else value, _TOKEN_EXPECTED)
    return value


_CA_FILE_EXPECTED = "expected the path of a PEM file of certificate authorities, shorter than 3840 bytes"


def _check_ca_file(where, value):
    """A regular file we can open for reading; returned absolute (children may chdir)."""
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if hasattr(value, "__fspath__"):
        value = os.fspath(value)
    if (not isinstance(value, str) or not value or "\0" in value
            or len(value.encode("utf-8", "surrogateescape")) >= 4096 - 256):
        raise _invalid(where, value, _CA_FILE_EXPECTED)
    # Opening (not os.access) judges with the effective ids, as the agent will; same words as
    # cli/run_check.c fw_run_check_ca_file().
    try:
        fd = os.open(value, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise _invalid(where, value, "expected a PEM file of certificate authorities: no such file")
        raise _invalid(where, value, "expected a readable PEM file of certificate authorities")
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    if not regular:
        raise _invalid(where, value,
                       "expected a PEM file of certificate authorities, not a directory or device")
    return os.path.abspath(value)


def _check_settings_interval(where, value):
    if isinstance(value, bool):
        raise _invalid(where, value, _SETTINGS_EXPECTED)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and len(value) <= 24 and re.match(r"([0-9]+\.?[0-9]*|\.[0-9]+)\Z", value):
        seconds = float(value)
    else:
        raise _invalid(where, value, _SETTINGS_EXPECTED)
    if not 0.1 <= seconds <= 86400.0:
        raise _invalid(where, value, _SETTINGS_EXPECTED)
    return seconds


def _check_queue(where, value):
    if isinstance(value, bool):
        raise _invalid(where, value, _QUEUE_EXPECTED)
    if isinstance(value, str) and re.match(r"[0-9]{1,6}\Z", value):
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= 10000:
        raise _invalid(where, value, _QUEUE_EXPECTED)
    return value


def _check_log(where, value):
    if isinstance(value, str) and value.lower() in _LEVELS:
        return value.lower()
    raise _invalid(where, value, _LOG_EXPECTED)


def _check_tag(where, shown, key, value):
    if not isinstance(key, str) or len(key) > 64 or not _KEY_RE.match(key):
        raise _invalid(where, shown, _KEY_EXPECTED)
    if not isinstance(value, str):
        value = str(value)
    if len(value) > 256 or "," in value or "\0" in value:
        raise _invalid(where, shown, _VALUE_EXPECTED)
    return key, value


def _check_tags_env(where, text):
    tags = {}
    if text == "":
        return tags
    for item in text.split(","):
        if "=" not in item:
            raise _invalid(where, text, _TAGS_EXPECTED)
        key, value = item.split("=", 1)
        key, value = _check_tag(where, text, key, value)
        tags[key] = value
        if len(tags) > MAX_TAGS:
            raise _invalid(where, text, "expected at most 32 tags")
    return tags


def _check_tags_kw(where, value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(where, value, "expected a dict of str to str")
    tags = {}
    for key, val in value.items():
        k, v = _check_tag(where, "%s=%s" % (key, val), key, val)
        tags[k] = v
    if len(tags) > MAX_TAGS:
        raise _invalid(where, value, "expected at most 32 tags")
    return tags


def _cmdline():
    try:
        with open("/proc/self/cmdline", "rb") as f:
            raw = f.read()
        return [os.fsdecode(a) for a in raw.split(b"\0")[:-1]]
    except OSError:
        return list(getattr(sys, "orig_argv", None) or sys.argv)


_OPTS_WITH_VALUE = ("-W", "-X", "-Q")


def default_app():
    """The script's name without .py, the module for -m, or the console script's name."""
    argv = _cmdline()
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m" and i + 1 < len(argv):
            return _sanitize_app(argv[i + 1])
        if arg.startswith("-m") and len(arg) > 2:
            return _sanitize_app(arg[2:])
        if arg == "-c" or (arg.startswith("-") and "c" in arg[1:] and not arg.startswith("--")):
            return "python"
        if arg in _OPTS_WITH_VALUE:
            i += 2
            continue
        if arg == "-" or not arg.startswith("-"):
            break
        i += 1
    script = argv[i] if i < len(argv) and argv[i] != "-" else ""
    if not script and sys.argv and sys.argv[0] not in ("", "-c", "-m"):
        script = sys.argv[0]
    name = os.path.basename(script)
    if name.endswith(".py"):
        name = name[:-3]
    return _sanitize_app(name or "python")


def _sanitize_app(name):
    """The default name made valid the way cli/run_child.c's fw_run_default_app does it."""
    out, size = [], 0
    for ch in name:
        if ch in _APP_FORBIDDEN or ord(ch) < 0x20 or ord(ch) == 0x7F:
            ch = "_"
        try:
            n = len(ch.encode("utf-8"))
        except UnicodeEncodeError:
            ch, n = "_", 1
        if size + n > 128:
            break
        out.append(ch)
        size += n
    name = "".join(out)
    if name[:1] == " ":
        name = "_" + name[1:]
    if name[-1:] == " ":
        name = name[:-1] + "_"
    if name in ("", ".", ".."):
        return "python"
    return name


def _check_memory_threshold(where, value):
    """Mean bytes between two allocation samples, in KB (KiB): 1 KB to 1 GB."""
    if isinstance(value, bool):
        raise _invalid(where, value, _MEMORY_THRESHOLD_EXPECTED)
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and re.match(r"[0-9]{1,8}\Z", value):
        n = int(value)
    else:
        raise _invalid(where, value, _MEMORY_THRESHOLD_EXPECTED)
    if not 1 <= n <= 1048576:
        raise _invalid(where, value, _MEMORY_THRESHOLD_EXPECTED)
    return n


_ENV = (
    ("app", "FLAMEWATCH_APP", _check_app),
    ("output", "FLAMEWATCH_OUTPUT", _check_output),
    ("cpu_interval_ms", "FLAMEWATCH_CPU_INTERVAL", _check_interval),
    ("cpu", "FLAMEWATCH_CPU", _check_bool),
    ("wall", "FLAMEWATCH_WALL", _check_bool),
    ("memory", "FLAMEWATCH_MEMORY", _check_bool),
    ("memory_threshold_kb", "FLAMEWATCH_MEMORY_THRESHOLD", _check_memory_threshold),
    ("tags", "FLAMEWATCH_TAGS", _check_tags_env),
    ("upload_interval_s", "FLAMEWATCH_UPLOAD_INTERVAL", _check_upload),
    ("enabled", "FLAMEWATCH_ENABLED", _check_bool),
    ("log", "FLAMEWATCH_LOG", _check_log),
    ("server", "FLAMEWATCH_SERVER", _check_server),
    ("token", "FLAMEWATCH_TOKEN", _check_token),
    ("ca_file", "FLAMEWATCH_CA_FILE", _check_ca_file),
    ("settings_interval_s", "FLAMEWATCH_SETTINGS_INTERVAL", _check_settings_interval),
    ("upload_queue", "FLAMEWATCH_UPLOAD_QUEUE", _check_queue),
)

_KW_CHECKS = {"tags": _check_tags_kw}


def _defaults():
    return {
        "app": None,   # computed lazily: reading /proc is only needed when nothing was given
        "output": DEFAULT_OUTPUT,
        "cpu_interval_ms": 10,
        "cpu": True,
        "wall": False,
        "memory": False,
        "memory_threshold_kb": 1024,
        "tags": {},
        "upload_interval_s": 15.0,
        "enabled": True,
        "log": "warning",
        "server": None,
        "token": None,
        "ca_file": None,
        "settings_interval_s": 30.0,
        "upload_queue": 0,          # no count limit: the 64 MB byte budget alone
    }


def resolve(kwargs=None, environ=None):
    """Returns a Config from keyword arguments (None = not given), the environment and defaults.

    Raises ValueError on the first invalid value, in the documented order of the settings.
    """
    kwargs = kwargs or {}
    environ = os.environ if environ is None else environ
    values = _defaults()
    for name, var, check in _ENV:
        given = kwargs.get(name)
        if given is not None:
            values[name] = _KW_CHECKS.get(name, check)(name, given)
        elif var in environ:
            values[name] = check(var, environ[var])
    if values["app"] is None:
        values["app"] = default_app()
    if values["output"] == DEFAULT_OUTPUT:
        # With a server and no output directory given, profiles are only uploaded.
        output_given = kwargs.get("output") is not None or "FLAMEWATCH_OUTPUT" in environ
        if values["server"] and not output_given:
            values["output"] = None
        else:
            values["output"] = _check_output("output", DEFAULT_OUTPUT)
    return Config(**values)
