"""`python -m flamewatch run` and `flamewatch-run`: the C CLI's `flamewatch run` for pip users.

A pip install has the agent and the package but not the C binary that `make` builds, so this module
does what cli/run_args.c, run_check.c, run_child.c and cmd_run.c do, step for step, and ends the
same way: it exports the
FLAMEWATCH_* settings, puts the bootstrap sitecustomize (python/flamewatch/_bootstrap) and the
package's directory in front of PYTHONPATH, and exec()s PROGRAM, so the program keeps this pid,
its signals, its exit status and its terminal.

Same flags, same variables, same words: the two front ends must be indistinguishable to a user
and to a script that checks exit statuses. That is why this module works on bytes, as C does:
argv and the environment are taken as the bytes the kernel gave (os.fsencode undoes Python's
surrogateescape), UTF-8 is checked as C checks it, messages are cut where C's buffers cut them.
tests/suites/pip_run.py runs both front ends over every flag, variable and error and compares
their exit statuses, their messages and the environment the program receives; a change to one
side that is not made to the other fails there. The application-name check is delegated to
_config (flamewatch.start()'s rules), which cli/run_check.c fw_run_check_app() mirrors.

Exit statuses: 0 for --help, 2 for a usage error (nothing has run), 1 when the package is
broken, and after that a shell's: 127 PROGRAM not found, 126 PROGRAM not executable.
"""

import errno
import os
import stat
import sys

from . import _config

__all__ = ["main"]

_MAX_TAGS = 32
_PATH_BYTES = 4096
_ERR_BYTES = 1024   # FW_RUN_ERR_BYTES: C's messages are cut to 1023 bytes

_BOOL_EXPECTED = b"expected a boolean: 1/0, true/false, yes/no or on/off"
_KEY_EXPECTED = b"expected K=V with a key of 1 to 64 characters matching [A-Za-z_][A-Za-z0-9_.]*"
_TOO_MANY_TAGS = b"expected at most 32 tags"

# name, metavar (None: no value), FLAMEWATCH_* variable: the table of cli/run_args.c fw_opts.
OPTIONS = (
    (b"--app", b"NAME", b"FLAMEWATCH_APP"),
    (b"--output", b"DIR", b"FLAMEWATCH_OUTPUT"),
    (b"--cpu-interval", b"MS", b"FLAMEWATCH_CPU_INTERVAL"),
    (b"--upload-interval", b"S", b"FLAMEWATCH_UPLOAD_INTERVAL"),
    (b"--log", b"LEVEL", b"FLAMEWATCH_LOG"),
    (b"--tag", b"K=V", b"FLAMEWATCH_TAGS"),
    (b"--server", b"URL", b"FLAMEWATCH_SERVER"),
    (b"--token", b"TOKEN", b"FLAMEWATCH_TOKEN"),
    (b"--ca-file", b"PATH", b"FLAMEWATCH_CA_FILE"),
    (b"--no-cpu", None, b"FLAMEWATCH_CPU"),
    (b"--wall", None, b"FLAMEWATCH_WALL"),
    (b"--memory-threshold", b"KB", b"FLAMEWATCH_MEMORY_THRESHOLD"),
    (b"--memory", None, b"FLAMEWATCH_MEMORY"),
    (b"--disable", None, b"FLAMEWATCH_ENABLED"),
    (b"--help", None, None),
    (b"-h", None, None),
)

USAGE = """\
usage: %s [OPTIONS] [--] PROGRAM [ARGS...]

Runs PROGRAM (python app.py, python -m module, or a console script such as gunicorn)
with the flamewatch agent loaded. Every flag has a FLAMEWATCH_* variable; a flag wins.

options:
  --app NAME             application name (FLAMEWATCH_APP; default: the script, module
                         or console script name)
  --output DIR           directory for the pprof files (FLAMEWATCH_OUTPUT;
                         default ./flamewatch-profiles, created if missing)
  --cpu-interval MS      CPU sampling interval, 1-1000 ms (FLAMEWATCH_CPU_INTERVAL; 10)
  --no-cpu               no CPU profile (FLAMEWATCH_CPU=0)
  --wall                 wall-clock profile too, idle threads included (FLAMEWATCH_WALL=1)
  --memory               memory profiles too: allocations and live memory
                         (FLAMEWATCH_MEMORY=1)
  --memory-threshold KB  mean KB allocated between two memory samples, 1-1048576
                         (FLAMEWATCH_MEMORY_THRESHOLD; 1024)
  --tag K=V              a label on every sample, repeatable (FLAMEWATCH_TAGS=k=v,k2=v2)
  --upload-interval S    seconds between profiles, 0.1-3600 (FLAMEWATCH_UPLOAD_INTERVAL; 15)
  --server URL           upload every profile to this flamewatch (or Pyroscope) server and
                         apply its settings live (FLAMEWATCH_SERVER); without --output,
                         no files are written
  --token TOKEN          bearer token for the server (FLAMEWATCH_TOKEN)
  --ca-file PATH         PEM file of the certificate authorities trusted for an https
                         server, instead of the system's bundle (FLAMEWATCH_CA_FILE)
  --disable              load the agent switched off (FLAMEWATCH_ENABLED=0)
  --log LEVEL            debug, info, warning or quiet (FLAMEWATCH_LOG; warning)
  -h, --help             this help

Booleans in the environment: 1/0, true/false, yes/no, on/off.
Invalid values exit with status 2 before PROGRAM starts; a PROGRAM that cannot be found
exits 127, one that cannot be executed 126, as in a shell.
"""


class _Usage(Exception):
    """A usage error: the message (bytes, one line) and exit status 2."""


class _Bad(Exception):
    """A validator's refusal: the "expected ..." text (bytes)."""


def _utf8_chars(b):
    try:
        return len(b.decode("utf-8"))   # strict: refuses overlongs, surrogates, > U+10FFFF
    except UnicodeDecodeError:
        return -1


def _cut(msg):
    return msg[:_ERR_BYTES - 1]


def _invalid(where, value, expected):
    """fw_run_invalid(): control characters escaped, the value cut as C's 512-byte buffer cuts it."""
    shown = bytearray()
    i = 0
    while i < len(value) and len(shown) + 5 < 512:
        c = value[i]
        if c < 0x20 or c == 0x7F:
            shown += b"\\x%02x" % c
        else:
            shown.append(c)
        i += 1
    cut = len(value) > 512 and len(shown) + 5 >= 512
    return _cut(b"flamewatch: invalid value for %s: '%s%s' (%s)"
                % (where, bytes(shown), b"..." if cut else b"", expected))


def _digits(v, maxlen, lo, hi, expected):
    if not v or len(v) > maxlen or not v.isdigit() or not lo <= int(v) <= hi:
        raise _Bad(expected)
    return int(v)


def check_app(v):
    if _utf8_chars(v) < 0:  # fw_app_name_problem() refuses it with the same rule text
        raise _Bad(_config._APP_EXPECTED.encode("utf-8"))
    try:
        _config._check_app("app", v.decode("utf-8"))
    except ValueError as exc:
        text = str(exc)
        raise _Bad(text[text.rindex(" (") + 2:-1].encode("utf-8"))
    return v


def check_output(v):
    if not v:
        raise _Bad(b"expected a directory path")
    if len(v) >= _PATH_BYTES - 256:
        raise _Bad(b"expected a directory path shorter than 3840 bytes")
    return v


def check_cpu_interval(v):
    return _digits(v, 5, 1, 1000, b"expected an integer from 1 to 1000")


def check_memory_threshold(v):
    return _digits(v, 8, 1, 1048576, b"expected an integer number of KB from 1 to 1048576")


def check_bool(v):
    low = v.lower()   # bytes.lower() is ASCII-only, as strcasecmp() in the C locale
    if low in (b"1", b"true", b"yes", b"on"):
        return True
    if low in (b"0", b"false", b"no", b"off"):
        return False
    raise _Bad(_BOOL_EXPECTED)


def check_upload_interval(v):
    exp = b"expected seconds from 0.1 to 3600, a decimal number such as 15 or 0.5"
    if (any(c not in b"0123456789." for c in v) or v.count(b".") > 1 or len(v) > 24
            or not any(c in b"0123456789" for c in v) or not 0.1 <= float(v) <= 3600.0):
        raise _Bad(exp)
    return v


def check_log(v):
    low = v.lower()
    if low in (b"debug", b"info", b"warning", b"quiet"):
        return low
    raise _Bad(b"expected one of debug, info, warning, quiet")


def _printable(v):
    return all(0x20 < c < 0x7F for c in v)


def check_server(v):
    skip = 7 if v.startswith(b"http://") else 8 if v.startswith(b"https://") else 0
    if not (skip and skip < len(v) <= 1000 and v[skip:skip + 1] not in (b"/", b"?") and _printable(v)):
        raise _Bad(b"expected an http:// or https:// URL such as http://127.0.0.1:4040")
    return v


def check_token(v):
    if not (1 <= len(v) <= 511 and _printable(v)):
        raise _Bad(b"expected 1 to 511 printable ASCII characters")
    return v


def check_ca_file(v):
    if not v or len(v) >= _PATH_BYTES - 256:
        raise _Bad(b"expected the path of a PEM file of certificate authorities, shorter than 3840 bytes")
    try:
        fd = os.open(v, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise _Bad(b"expected a PEM file of certificate authorities: no such file"
                   if exc.errno in (errno.ENOENT, errno.ENOTDIR)
                   else b"expected a readable PEM file of certificate authorities")
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    if not regular:
        raise _Bad(b"expected a PEM file of certificate authorities, not a directory or device")
    return v


def check_tag(v):
    if b"=" not in v:
        raise _Bad(b"expected K=V")
    key, _, val = v.partition(b"=")
    if (not 1 <= len(key) <= 64 or not (key[:1].isalpha() or key[:1] == b"_")
            or any(not (chr(c).isalnum() and c < 0x80) and c not in b"_." for c in key)):
        raise _Bad(_KEY_EXPECTED)
    n = _utf8_chars(val)
    if n < 0:
        raise _Bad(b"expected K=V with a value in valid UTF-8")
    if n > 256 or b"," in val:
        raise _Bad(b"expected K=V with a value of at most 256 characters without ','")
    return key, val


def _tag_put(tags, key, val):
    if key not in tags and len(tags) >= _MAX_TAGS:
        return False
    tags[key] = val   # dicts keep the first position of a key, as fw_tag_put() replaces in place
    return True


def check_tags(v):
    tags = {}
    if not v:
        return tags
    for item in v.split(b","):
        try:
            key, val = check_tag(item)
        except _Bad as bad:
            if bad.args[0] == b"expected K=V":
                raise _Bad(b"expected k=v pairs separated by ',', e.g. team=web,region=eu")
            raise
        if not _tag_put(tags, key, val):
            raise _Bad(_TOO_MANY_TAGS)
    return tags


_CHECKS = {
    b"--app": check_app, b"--output": check_output, b"--cpu-interval": check_cpu_interval,
    b"--upload-interval": check_upload_interval, b"--log": check_log, b"--server": check_server,
    b"--token": check_token, b"--ca-file": check_ca_file,
    b"--memory-threshold": check_memory_threshold,
}


def parse_args(argv):
    """fw_run_parse_args(): returns (flags, index of PROGRAM) or None for --help."""
    flags = {}
    tags = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == b"--":
            i += 1
            break
        if a[:1] != b"-" or a == b"-":
            break
        opt = None
        value = None
        for name, metavar, _var in OPTIONS:
            if a.startswith(name) and a[len(name):len(name) + 1] in (b"", b"="):
                opt = (name, metavar)
                if a[len(name):len(name) + 1] == b"=":
                    value = a[len(name) + 1:]
                break
        if opt is None:
            raise _Usage(b"flamewatch: unknown option for run: '%s' (see 'flamewatch run --help')" % a)
        name, metavar = opt
        if metavar is None and value is not None:
            raise _Usage(b"flamewatch: option %s takes no value (got '%s')" % (name, a))
        if metavar is not None and value is None:
            if i + 1 >= len(argv):
                raise _Usage(b"flamewatch: option %s needs a value (%s %s)" % (name, name, metavar))
            i += 1
            value = argv[i]
        i += 1
        if name in (b"--help", b"-h"):
            return None
        try:
            if name == b"--tag":
                check_tag(value)
                key = value.partition(b"=")[0]
                known = [t for t in tags if t.partition(b"=")[0] == key]
                if known:
                    tags[tags.index(known[0])] = value
                elif len(tags) >= _MAX_TAGS:
                    raise _Bad(_TOO_MANY_TAGS)
                else:
                    tags.append(value)
            elif metavar is None:
                flags[name] = True
            else:
                _CHECKS[name](value)
                flags[name] = value
        except _Bad as bad:
            raise _Usage(_invalid(name, b"***" if name == b"--token" else value, bad.args[0]))
    if i >= len(argv):
        raise _Usage(b"flamewatch: run needs a program: flamewatch run [OPTIONS] -- PROGRAM [ARGS]")
    if argv[i] == b"":
        raise _Usage(b"flamewatch: run needs a program, got an empty name")
    flags[b"--tag"] = tags
    return flags, i


# flag, variable, validator, how a flag without a value sets it: the settings in fw_run_resolve()'s
# order, which decides which of two bad values is reported.
_SETTINGS = (
    (b"--app", b"FLAMEWATCH_APP", check_app, None),
    (b"--output", b"FLAMEWATCH_OUTPUT", check_output, None),
    (b"--cpu-interval", b"FLAMEWATCH_CPU_INTERVAL", check_cpu_interval, None),
    (b"--no-cpu", b"FLAMEWATCH_CPU", check_bool, b"0"),
    (b"--wall", b"FLAMEWATCH_WALL", check_bool, b"1"),
    (b"--memory", b"FLAMEWATCH_MEMORY", check_bool, b"1"),
    (b"--memory-threshold", b"FLAMEWATCH_MEMORY_THRESHOLD", check_memory_threshold, None),
    (b"--disable", b"FLAMEWATCH_ENABLED", check_bool, b"0"),
    (b"--upload-interval", b"FLAMEWATCH_UPLOAD_INTERVAL", check_upload_interval, None),
    (b"--log", b"FLAMEWATCH_LOG", check_log, None),
    (b"--server", b"FLAMEWATCH_SERVER", check_server, None),
    (b"--token", b"FLAMEWATCH_TOKEN", check_token, None),
    (b"--ca-file", b"FLAMEWATCH_CA_FILE", check_ca_file, None),
)


def _canonical(var, value):
    """The exported spelling: booleans 1/0, integers without leading zeros, lowercase levels."""
    if var in (b"FLAMEWATCH_CPU", b"FLAMEWATCH_WALL", b"FLAMEWATCH_MEMORY", b"FLAMEWATCH_ENABLED"):
        return b"1" if check_bool(value) else b"0"
    if var in (b"FLAMEWATCH_CPU_INTERVAL", b"FLAMEWATCH_MEMORY_THRESHOLD"):
        return b"%d" % int(value)
    if var == b"FLAMEWATCH_LOG":
        return value.lower()
    return value


def resolve(flags, environ):
    """fw_run_resolve(): {variable: canonical value} for the settings that were given."""
    cfg = {}
    for flag, var, check, implied in _SETTINGS:
        if flag in flags:
            cfg[var] = _canonical(var, implied if implied is not None else flags[flag])
        elif var in environ:
            try:
                check(environ[var])
            except _Bad as bad:
                raise _Usage(_invalid(var, b"***" if var == b"FLAMEWATCH_TOKEN" else environ[var],
                                      bad.args[0]))
            cfg[var] = _canonical(var, environ[var])
    tags = None
    if b"FLAMEWATCH_TAGS" in environ:
        try:
            tags = check_tags(environ[b"FLAMEWATCH_TAGS"])
        except _Bad as bad:
            raise _Usage(_invalid(b"FLAMEWATCH_TAGS", environ[b"FLAMEWATCH_TAGS"], bad.args[0]))
    for tag in flags[b"--tag"]:
        tags = {} if tags is None else tags
        key, val = check_tag(tag)
        if not _tag_put(tags, key, val):
            raise _Usage(_invalid(b"--tag", tag, b"expected at most 32 tags, FLAMEWATCH_TAGS included"))
    if tags is not None:
        cfg[b"FLAMEWATCH_TAGS"] = b",".join(k + b"=" + v for k, v in tags.items())
    return cfg


def _absolute(path):
    if path.startswith(b"/"):
        out = path
    else:
        cwd = os.getcwdb()
        rel = path
        while rel.startswith(b"./"):
            rel = rel[2:]
        out = cwd if rel in (b".", b"") else cwd + (b"" if cwd == b"/" else b"/") + rel
    if len(out) >= _PATH_BYTES:
        return None
    return out


def _mkdirs(path):
    """mkdir -p, component by component, as cmd_run.c's fw_mkdirs(); raises OSError."""
    if len(path) >= _PATH_BYTES:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
    for i in range(1, len(path) + 1):
        if i < len(path) and path[i:i + 1] != b"/":
            continue
        try:
            os.mkdir(path[:i], 0o777)
        except FileExistsError:
            pass
    if not stat.S_ISDIR(os.stat(path).st_mode):
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))


def _package_root():
    over = os.environb.get(b"FLAMEWATCH_PYTHONPATH")
    if over:
        return os.path.realpath(over) if os.path.exists(over) else over
    here = os.fsencode(os.path.realpath(os.path.abspath(__file__)))
    return os.path.dirname(os.path.dirname(here))


def _is_python(prog):
    """fw_run_is_python(): python[DIGITS.][d|-dbg|m|t|td], after an optional WORD- prefix
    (x86_64-linux-gnu-python3.14, the tests' flamewatch-python3.15)."""
    b = os.path.basename(prog)
    dash = b.find(b"-")
    while not b.startswith(b"python") and dash >= 0:
        if b[dash + 1:].startswith(b"python"):
            b = b[dash + 1:]
            break
        dash = b.find(b"-", dash + 1)
    if not b.startswith(b"python"):
        return False
    rest = b[6:].lstrip(b"0123456789.")
    return rest in (b"", b"d", b"-dbg", b"m", b"t", b"td")


def _python_target(argv):
    """fw_python_target(): ('m'|'c'|'s'|'-', operand, the first of -E/-I/-S seen or None)."""
    skip = None
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == b"--":
            return ("s", argv[i + 1], skip) if i + 1 < len(argv) else ("-", None, skip)
        if a[:1] != b"-" or a == b"-":
            return ("s", a, skip) if a[:1] != b"-" else ("-", None, skip)
        if a.startswith(b"--"):
            if a == b"--check-hash-based-pycs":
                i += 1
            i += 1
            continue
        for k in range(1, len(a)):
            c = a[k:k + 1]
            if skip is None and c in (b"E", b"I", b"S"):
                skip = c
            if c in (b"m", b"c", b"W", b"X"):
                if k + 1 < len(a):
                    operand = a[k + 1:]
                elif i + 1 < len(argv):
                    i += 1
                    operand = argv[i]
                else:
                    operand = None
                if c in (b"m", b"c"):
                    return c.decode(), operand, skip
                break
        i += 1
    return "-", None, skip


def default_app(argv):
    """fw_run_default_app(): the script without .py, the module, or PROGRAM's base name."""
    name = argv[0]
    kind = "s"
    if _is_python(argv[0]):
        kind, what, _ = _python_target(argv)
        name = what if kind in ("s", "m") and what else b"python"
    if kind != "m":
        end = len(name)
        while end > 1 and name[end - 1:end] == b"/":
            end -= 1
        trimmed = name[:end]
        slash = trimmed.rfind(b"/", 0, len(trimmed) - 1)
        name = trimmed[slash + 1:] if slash >= 0 else trimmed
        if len(name) > 3 and name.endswith(b".py"):
            name = name[:-3]
    # Whole UTF-8 characters, at most 128 bytes; what the name rule forbids becomes '_'.
    out = bytearray()
    i = 0
    while i < len(name):
        c = name[i]
        clen = 4 if c >= 0xF0 else 3 if c >= 0xE0 else 2 if c >= 0xC0 else 1
        if i + clen > len(name) or _utf8_chars(name[i:i + clen]) != 1:
            clen = 1
            if len(out) + 1 > 128:
                break
            out.append(0x5F)
        else:
            if len(out) + clen > 128:
                break
            if clen == 1 and (c in b"{},=/" or c < 0x20 or c == 0x7F):
                out.append(0x5F)
            else:
                out += name[i:i + clen]
        i += clen
    if out[:1] == b" ":
        out[0] = 0x5F
    if out[-1:] == b" ":
        out[-1] = 0x5F
    if not out or name == b"/" or out in (b".", b".."):
        return b"python"
    return bytes(out)


def _exec_failed(prog, err):
    slash = b"/" in prog
    if err in (errno.ENOENT, errno.ENOTDIR):
        _say(b"flamewatch: %s: %s" % (prog, b"No such file or directory" if slash else b"command not found"))
        return 127
    if err == errno.EACCES and slash and os.path.isdir(prog):
        _say(b"flamewatch: %s: Is a directory" % prog)
        return 126
    _say(b"flamewatch: %s: %s" % (prog, os.strerror(err).encode()))
    return 126


def _say(line):
    sys.stderr.flush()
    os.write(2, line + b"\n")


def run(argv, prog_name):
    """`flamewatch run` with argv[0] == "run" (bytes); returns the exit status when it does not exec."""
    try:
        parsed = parse_args(argv)
        if parsed is None:
            sys.stdout.write(USAGE % prog_name)
            sys.stdout.flush()
            return 0
        flags, prog_index = parsed
        cfg = resolve(flags, os.environb)
    except _Usage as usage:
        _say(usage.args[0])
        return 2

    server = b"FLAMEWATCH_SERVER" in cfg
    output_given = b"FLAMEWATCH_OUTPUT" in cfg
    want_files = output_given or not server
    where = b"--output" if b"--output" in flags else b"FLAMEWATCH_OUTPUT"
    given = cfg.get(b"FLAMEWATCH_OUTPUT", b"flamewatch-profiles")
    abs_out = _absolute(given)
    if abs_out is None:
        _say(_invalid(where, given, b"expected a directory; the path is too long"))
        return 2
    if want_files and cfg.get(b"FLAMEWATCH_ENABLED") != b"0":
        try:
            _mkdirs(abs_out)
        except OSError as exc:
            reason = os.strerror(exc.errno).encode()
            if not output_given:
                _say(b"flamewatch: cannot create the default output directory '%s': %s "
                     b"(choose one with --output)" % (abs_out, reason))
            else:
                _say(_invalid(where, given, b"expected a directory that exists or can be created: " + reason))
            return 2
    if want_files:
        cfg[b"FLAMEWATCH_OUTPUT"] = abs_out
    else:
        cfg.pop(b"FLAMEWATCH_OUTPUT", None)
    if b"FLAMEWATCH_CA_FILE" in cfg:
        ca = _absolute(cfg[b"FLAMEWATCH_CA_FILE"])
        if ca is None:
            _say(_invalid(b"--ca-file" if b"--ca-file" in flags else b"FLAMEWATCH_CA_FILE",
                          cfg[b"FLAMEWATCH_CA_FILE"], b"expected a file; the path is too long"))
            return 2
        cfg[b"FLAMEWATCH_CA_FILE"] = ca

    root = _package_root()
    probe = os.path.join(root, b"flamewatch", b"_bootstrap", b"sitecustomize.py")
    if not os.access(probe, os.R_OK):
        _say(b"flamewatch: the agent's Python package is missing: %s: %s (run 'make agent', or set "
             b"FLAMEWATCH_PYTHONPATH to the directory that holds the flamewatch package)"
             % (probe, os.strerror(errno.ENOENT).encode()))
        return 1

    prog_argv = argv[prog_index:]
    if b"FLAMEWATCH_APP" not in cfg:
        cfg[b"FLAMEWATCH_APP"] = default_app(prog_argv)
    old = os.environb.get(b"PYTHONPATH")
    pythonpath = root + b"/flamewatch/_bootstrap:" + root + (b":" + old if old else b"")
    os.environb[b"PYTHONPATH"] = pythonpath
    os.environb[b"FLAMEWATCH_RUN"] = b"1"
    for var, value in cfg.items():
        os.environb[var] = value

    if cfg.get(b"FLAMEWATCH_LOG") != b"quiet" and _is_python(prog_argv[0]):
        skip = _python_target(prog_argv)[2]
        if skip:
            _say(b"flamewatch: warning: python -%s %s, so the agent will not start"
                 % (skip, b"skips sitecustomize" if skip == b"S" else b"ignores PYTHONPATH"))

    sys.stdout.flush()
    sys.stderr.flush()
    return _exec_failed(prog_argv[0], _execvp(prog_argv))


def _execvp(argv):
    """glibc's execvp(), which os.execvp() is not quite: a file without a #! line (ENOEXEC) is run
    by /bin/sh, and EACCES found on the way wins over a later ENOENT. Returns the errno."""
    prog = argv[0]
    if b"/" in prog:
        paths = [prog]
    else:
        search = os.environb.get(b"PATH", b"/bin:/usr/bin")
        paths = [(d or b".") + b"/" + prog for d in search.split(b":")]
    got_eacces = False
    err = errno.ENOENT
    for path in paths:
        try:
            os.execv(path, argv)
        except OSError as exc:
            err = exc.errno
        if err == errno.ENOEXEC:
            try:
                os.execv(b"/bin/sh", [b"/bin/sh", path] + argv[1:])
            except OSError as exc:
                err = exc.errno
        if err == errno.EACCES:
            got_eacces = True
        elif err not in (errno.ENOENT, errno.ESTALE, errno.ENOTDIR, errno.ENODEV, errno.ETIMEDOUT):
            return err
    return errno.EACCES if got_eacces else err


def main(argv=None):
    """The `flamewatch-run` console script: `flamewatch-run [OPTIONS] [--] PROGRAM [ARGS...]`."""
    argv = sys.argv if argv is None else argv
    return run([b"run"] + [os.fsencode(a) for a in argv[1:]], "flamewatch-run")


if __name__ == "__main__":
    sys.exit(main())
