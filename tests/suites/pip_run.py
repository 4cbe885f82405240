#!/usr/bin/env python3
"""`python -m flamewatch run` and `flamewatch-run` as a pip user meets them, and their agreement
with the C CLI's `flamewatch run`.

A pip user's setup, nothing from build/ on any path: a venv of Debian's /usr/bin/python3 made
with --system-site-packages (Debian's setuptools and wheel; there is no PyPI here), a copy of the
source tree, `pip install --no-build-isolation .`, then both entry points run real programs
(`python app.py`, `python -m pkg.mod`, gunicorn) and must leave profiles with the program's
functions in them.

Agreement: cli/run_args.c + cli/cmd_run.c and python/flamewatch/_run.py implement the same
command twice, so every flag, every FLAMEWATCH_* variable and every error is run through both
(the venv's `python -m flamewatch run` and `flamewatch-run`, and BUILD/flamewatch run) with an
environment-printing PROGRAM, and the exit status, stdout (the FLAMEWATCH_* variables and
PYTHONPATH the program receives) and stderr must be identical. The flags and variables the C
help lists must all be exercised here, so a flag added to one side only fails this suite.
Everything lives in one temporary directory, removed at the end. Last line: RESULT passed=N failed=M.
"""
import glob
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FLAMEWATCH_TEST_BUILD", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
SYSTEM_PY = "/usr/bin/python3"

passed = 0
failed = 0


def ok(name):
    global passed
    passed += 1
    print("ok   " + name, flush=True)


def bad(name, detail=""):
    global failed
    failed += 1
    print("FAIL " + name, flush=True)
    for line in str(detail).splitlines()[-40:]:
        print("     | " + line)


def check(name, cond, detail=""):
    (ok if cond else bad)(name, *([] if cond else [detail]))
    return cond


def clean_env(venv, extra=None):
    """A pip user's shell with the venv activated: no build/, no PYTHONPATH, no FLAMEWATCH_*."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLAMEWATCH_", "PYTHON", "VIRTUAL_ENV", "LD_PRELOAD", "ASAN", "UBSAN"))}
    env["PATH"] = os.path.join(venv, "bin") + ":/usr/local/bin:/usr/bin:/bin"
    env["VIRTUAL_ENV"] = venv
    env.update(extra or {})
    assert BUILD not in env["PATH"] and "PYTHONPATH" not in env, env
    return env


def run(cmd, env, cwd, timeout=120, stdin=subprocess.DEVNULL):
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=stdin, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def profile_names(outdir):
    """Concatenated gunzipped pprof bytes of every profile in outdir (string table included)."""
    data = b""
    for path in sorted(glob.glob(os.path.join(outdir, "*.pprof.gz"))):
        with open(path, "rb") as f:
            data += gzip.decompress(f.read())
    return data


# ---- the pip user's setup ----

def make_venv(tmp):
    src = os.path.join(tmp, "src")
    os.mkdir(src)
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src)
    for name in ("agent", "common", "python"):
        shutil.copytree(os.path.join(ROOT, name), os.path.join(src, name),
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = os.path.join(tmp, "venv")
    rc, out, err = run([SYSTEM_PY, "-m", "venv", "--system-site-packages", venv], os.environ, tmp)
    if not check("venv of /usr/bin/python3 with --system-site-packages", rc == 0, err.decode()):
        return None
    env = clean_env(venv)
    rc, out, err = run(["python", "-m", "pip", "install", "--no-index", "--no-build-isolation",
                        "--disable-pip-version-check", "-q", "."], env, src, timeout=600)
    if not check("pip install --no-build-isolation .", rc == 0, out.decode() + err.decode()):
        return None
    rc, out, err = run(["python", "-c", "import flamewatch, flamewatch._agent, sys; "
                        "print(flamewatch.__file__); print(flamewatch._agent.__file__); print(sys.path)"],
                       env, tmp)
    text = out.decode()
    check("the venv imports flamewatch and its agent from site-packages, nothing from build/",
          rc == 0 and text.startswith(venv) and BUILD not in text and ROOT not in text,
          text + err.decode())
    return venv


APP = r'''
import sys, time
def burn_in_app():
    end = time.process_time() + 1.0
    n = 0
    while time.process_time() < end:
        n += sum(range(200))
    return n
burn_in_app()
import os
print(os.environ["FLAMEWATCH_APP"], os.environ["FLAMEWATCH_RUN"])
'''

MOD = r'''
import os, time
def burn_in_module():
    end = time.process_time() + 1.0
    while time.process_time() < end:
        sum(range(200))
burn_in_module()
print(os.environ["FLAMEWATCH_APP"])
'''

WSGI = r'''
import time
def burn_in_wsgi():
    end = time.thread_time() + 0.2
    while time.thread_time() < end:
        sum(range(300))
def app(environ, start_response):
    burn_in_wsgi()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def test_programs(tmp, venv):
    work = os.path.join(tmp, "work")
    os.makedirs(os.path.join(work, "pkg"))
    with open(os.path.join(work, "app.py"), "w") as f:
        f.write(APP)
    with open(os.path.join(work, "pkg", "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(work, "pkg", "busy.py"), "w") as f:
        f.write(MOD)
    with open(os.path.join(work, "wsgiapp.py"), "w") as f:
        f.write(WSGI)
    env = clean_env(venv)

    out1 = os.path.join(tmp, "out-m")
    rc, out, err = run(["python", "-m", "flamewatch", "run", "--output", out1, "--", "python", "app.py"],
                       env, work)
    check("python -m flamewatch run -- python app.py: exit 0, default app 'app'",
          rc == 0 and out.decode().split() == ["app", "1"], (rc, out, err))
    files = glob.glob(os.path.join(out1, "app-*.pprof.gz"))
    check("... writes app-PID-SEQ.pprof.gz with the script's function in it",
          files and b"burn_in_app" in profile_names(out1), (files, err))

    out2 = os.path.join(tmp, "out-script")
    rc, out, err = run(["flamewatch-run", "--output=" + out2, "--tag", "team=web", "--", "python", "-m",
                        "pkg.busy"], env, work)
    check("flamewatch-run -- python -m pkg.busy: exit 0, default app 'pkg.busy'",
          rc == 0 and out.decode().split() == ["pkg.busy"], (rc, out, err))
    data = profile_names(out2)
    check("... writes profiles with the module's function and the --tag label",
          b"burn_in_module" in data and b"team" in data and b"web" in data, err)

    rc, out, err = run(["flamewatch-run", "--cpu-interval", "0", "--", "python", "app.py"], env, work)
    check("flamewatch-run refuses a bad flag before the program runs (exit 2, one line)",
          rc == 2 and out == b"" and err == b"flamewatch: invalid value for --cpu-interval: '0' "
          b"(expected an integer from 1 to 1000)\n", (rc, out, err))

    # gunicorn: Debian's console script (#!/usr/bin/python3), master and workers profiled.
    gunicorn = shutil.which("gunicorn", path=env["PATH"])
    if not check("gunicorn is installed (scripts/ensure-deps.sh test)", gunicorn is not None):
        return
    out3 = os.path.join(tmp, "out-gunicorn")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen(["flamewatch-run", "--output", out3, "--upload-interval", "1", "--",
                             "gunicorn", "-w", "2", "-b", "127.0.0.1:%d" % port, "wsgiapp:app"],
                            env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    served = 0
    try:
        end = time.time() + 30
        while time.time() < end and served < 8 and proc.poll() is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as r:
                    served += r.read() == b"ok"
            except OSError:
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, gerr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, gerr = proc.communicate()
    pids = {os.path.basename(p).split("-")[1] for p in glob.glob(os.path.join(out3, "gunicorn-*.pprof.gz"))}
    check("flamewatch-run -- gunicorn -w 2: served, app 'gunicorn', profiles from master and workers "
          "with the handler in them",
          served == 8 and len(pids) >= 2 and b"burn_in_wsgi" in profile_names(out3),
          (served, pids, proc.returncode, gerr.decode()[-3000:]))


# ---- agreement with the C CLI ----

def c_help():
    p = subprocess.run([os.path.join(BUILD, "flamewatch"), "run", "--help"], stdout=subprocess.PIPE)
    return p.stdout.decode()


def agreement_cases(tmp):
    fake = os.path.join(tmp, "fakebin")
    os.makedirs(fake)
    # A "python3" that prints what it received: fw_run_is_python() recognises it by its name, so
    # the default application name and the -E/-I/-S warning are exercised without an interpreter.
    for name in ("python3", "python3.11", "printenv-all", "x86_64-linux-gnu-python3.14", "python3.14t",
                 "flamewatch-python3.15", "my-tool"):
        path = os.path.join(fake, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\nenv\n")
        os.chmod(path, 0o755)
    noshebang = os.path.join(fake, "noshebang")
    with open(noshebang, "w") as f:
        f.write("env\n")
    os.chmod(noshebang, 0o755)
    notexec = os.path.join(fake, "notexec")
    with open(notexec, "w") as f:
        f.write("#!/bin/sh\n")
    ca = os.path.join(tmp, "ca.pem")
    with open(ca, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\n")
    afile = os.path.join(tmp, "a-file")
    with open(afile, "w") as f:
        f.write("x")
    py = os.path.join(fake, "python3")
    P = ["--", os.path.join(fake, "printenv-all")]
    many = ["--tag=k%d=v" % i for i in range(33)]
    env_tags = ",".join("e%d=v" % i for i in range(30))
    cases = [
        # every flag, valid, both spellings
        (["--app", "shop"] + P, {}), (["--app=caf\u00e9 \u2615"] + P, {}),
        (["--output", "out/dir"] + P, {}), (["--output=./o"] + P, {}), (["--output", "."] + P, {}),
        (["--cpu-interval", "007"] + P, {}), (["--cpu-interval=1000"] + P, {}),
        (["--no-cpu", "--wall", "--memory", "--disable"] + P, {}),
        (["--memory-threshold", "00064"] + P, {}), (["--memory-threshold=1048576"] + P, {}),
        (["--upload-interval", "0.5"] + P, {}), (["--upload-interval=3600"] + P, {}),
        (["--upload-interval", "1."] + P, {}), (["--upload-interval", ".1"] + P, {}),
        (["--log", "DEBUG"] + P, {}), (["--log=Quiet"] + P, {}),
        (["--tag", "team=web", "--tag=region=eu", "--tag", "team=api"] + P, {}),
        (["--tag", "a.b_c=", "--tag", "_x=\u00e9"] + P, {}),
        (["--server", "http://127.0.0.1:9"] + P, {}), (["--server=https://h.example/p/"] + P, {}),
        (["--server", "http://127.0.0.1:9", "--output", "both"] + P, {}),
        (["--token", "s3cr3t"] + P, {}), (["--ca-file", "../ca.pem"] + P, {}),
        (["--ca-file=" + ca] + P, {}),
        (["-h"], {}), (["--help"], {}), (["--app", "x", "--help", "--bogus"], {}),
        # every variable, valid, canonicalised, overridden by flags
        (P, {"FLAMEWATCH_APP": "envapp", "FLAMEWATCH_OUTPUT": "envout", "FLAMEWATCH_CPU_INTERVAL": "020",
             "FLAMEWATCH_CPU": "No", "FLAMEWATCH_WALL": "TRUE", "FLAMEWATCH_MEMORY": "on",
             "FLAMEWATCH_MEMORY_THRESHOLD": "512", "FLAMEWATCH_ENABLED": "yes",
             "FLAMEWATCH_UPLOAD_INTERVAL": "2.50", "FLAMEWATCH_LOG": "INFO",
             "FLAMEWATCH_SERVER": "http://127.0.0.1:9", "FLAMEWATCH_TOKEN": "tok",
             "FLAMEWATCH_CA_FILE": "../ca.pem", "FLAMEWATCH_TAGS": "a=1,b=2,a=3"}),
        (["--app", "flag", "--cpu-interval", "5", "--no-cpu", "--wall", "--memory", "--disable",
          "--memory-threshold", "9", "--upload-interval", "9", "--log", "quiet", "--server",
          "http://x:1", "--token", "t2", "--ca-file", ca, "--output", "fo", "--tag", "b=f"] + P,
         {"FLAMEWATCH_APP": "{bad", "FLAMEWATCH_CPU_INTERVAL": "x", "FLAMEWATCH_CPU": "x",
          "FLAMEWATCH_WALL": "x", "FLAMEWATCH_MEMORY": "x", "FLAMEWATCH_MEMORY_THRESHOLD": "x",
          "FLAMEWATCH_ENABLED": "x", "FLAMEWATCH_UPLOAD_INTERVAL": "x", "FLAMEWATCH_LOG": "x",
          "FLAMEWATCH_SERVER": "x", "FLAMEWATCH_TOKEN": "", "FLAMEWATCH_CA_FILE": "/nonexistent",
          "FLAMEWATCH_OUTPUT": "", "FLAMEWATCH_TAGS": "a=1,b=2"}),
        (["--wall", "--memory"] + P, {"FLAMEWATCH_WALL": "0", "FLAMEWATCH_MEMORY": "off",
                                       "FLAMEWATCH_ENABLED": "0", "FLAMEWATCH_CPU": "1"}),
        (P, {"FLAMEWATCH_TAGS": ""}), (P, {"FLAMEWATCH_ENABLED": "off", "FLAMEWATCH_OUTPUT": afile}),
        (["--tag", "e0=flag"] + P, {"FLAMEWATCH_TAGS": env_tags}),
        # default application names
        (["--", py, "app.py"], {}), (["--", py, "-m", "pkg.mod", "x"], {}), (["--", py, "-mpkg"], {}),
        (["--", py, "-c", "pass"], {}), (["--", py], {}), (["--", py, "-", "x"], {}),
        (["--", py, "-W", "ignore", "-X", "dev", "dir/sub/"], {}), (["--", py, "-u", "--", "s.py"], {}),
        (["--", py, "--check-hash-based-pycs", "never", "a{b}=c,d.py"], {}),
        (["--", py, "/"], {}), (["--", py, "-m", "a/b"], {}),
        # launcher-prefixed and free-threaded interpreter names are Pythons; other dashed names not
        (["--", os.path.join(fake, "x86_64-linux-gnu-python3.14"), "svc.py"], {}),
        (["--", os.path.join(fake, "python3.14t"), "-m", "ft.mod"], {}),
        (["--", os.path.join(fake, "flamewatch-python3.15"), "-S", "bench.py"], {}),
        (["--", os.path.join(fake, "my-tool"), "x.py"], {}),
        (["--", py, " sp .py"], {}), (["--", py, "..py"], {}), (["--", py, "\x01ctl.py"], {}),
        (["--", py, "n" * 140 + ".py"], {}),
        ([os.path.join(fake, "python3.11"), "-E", "x.py"], {}), (["--", py, "-Iq", "x.py"], {}),
        (["--", py, "-S", "x.py"], {}), (["--log", "quiet", "--", py, "-S", "x.py"], {}),
        (["--", py, b"\xff\xfe.py"], {}), (["--", noshebang, "arg"], {}),
        # invalid flag values
        (["--app", ""] + P, {}), (["--app", "a=b"] + P, {}), (["--app", "x" * 129] + P, {}),
        (["--app", b"\xc0\xaf"] + P, {}), (["--app", "a\x01b\x7fc"] + P, {}),
        (["--output", ""] + P, {}), (["--output", "o" * 3840] + P, {}), (["--output", afile] + P, {}),
        (["--output", afile + "/sub"] + P, {}),
        (["--cpu-interval", "0"] + P, {}), (["--cpu-interval", "1001"] + P, {}),
        (["--cpu-interval", "-5"] + P, {}), (["--cpu-interval", "000010"] + P, {}),
        (["--cpu-interval="] + P, {}),
        (["--memory-threshold", "0"] + P, {}), (["--memory-threshold", "1048577"] + P, {}),
        (["--memory-threshold", "1e3"] + P, {}),
        (["--upload-interval", "0.09"] + P, {}), (["--upload-interval", "1e3"] + P, {}),
        (["--upload-interval", "nan"] + P, {}), (["--upload-interval", "1.2.3"] + P, {}),
        (["--upload-interval", "."] + P, {}), (["--upload-interval", "3600.1"] + P, {}),
        (["--upload-interval", "1" * 25] + P, {}),
        (["--log", "verbose"] + P, {}), (["--tag", "novalue"] + P, {}), (["--tag", "1k=v"] + P, {}),
        (["--tag", "k-y=v"] + P, {}), (["--tag", "k" * 65 + "=v"] + P, {}), (["--tag", "k=a,b"] + P, {}),
        (["--tag", "k=" + "v" * 257] + P, {}), (["--tag", b"k=\xff"] + P, {}), (many + P, {}),
        (["--tag", "e99=v", "--tag", "e98=v", "--tag", "e97=v"] + P, {"FLAMEWATCH_TAGS": env_tags}),
        (["--server", "ftp://x"] + P, {}), (["--server", "http://"] + P, {}),
        (["--server", "http:///x"] + P, {}), (["--server", "http://a b"] + P, {}),
        (["--server", "http://" + "h" * 1000] + P, {}),
        (["--token", ""] + P, {}), (["--token", "has space"] + P, {}),
        (["--ca-file", "/nonexistent/ca.pem"] + P, {}), (["--ca-file", tmp] + P, {}),
        (["--ca-file", ""] + P, {}),
        (["--app", "a\n" * 400] + P, {}),
        # invalid variables
        (P, {"FLAMEWATCH_APP": "a}b"}), (P, {"FLAMEWATCH_OUTPUT": ""}),
        (P, {"FLAMEWATCH_CPU_INTERVAL": "abc"}), (P, {"FLAMEWATCH_CPU": "maybe"}),
        (P, {"FLAMEWATCH_WALL": "2"}), (P, {"FLAMEWATCH_MEMORY": ""}),
        (P, {"FLAMEWATCH_MEMORY_THRESHOLD": "0"}), (P, {"FLAMEWATCH_ENABLED": "nope"}),
        (P, {"FLAMEWATCH_UPLOAD_INTERVAL": "inf"}), (P, {"FLAMEWATCH_LOG": "loud"}),
        (P, {"FLAMEWATCH_SERVER": "localhost:4040"}), (P, {"FLAMEWATCH_TOKEN": "a\tb"}),
        (P, {"FLAMEWATCH_CA_FILE": "missing.pem"}), (P, {"FLAMEWATCH_TAGS": "a"}),
        (P, {"FLAMEWATCH_TAGS": "a=1,,b=2"}), (P, {"FLAMEWATCH_TAGS": ",".join("t%d=1" % i for i in range(33))}),
        (P, {"FLAMEWATCH_OUTPUT": afile}), (P, {"FLAMEWATCH_CPU_INTERVAL": "0", "FLAMEWATCH_LOG": "bad"}),
        # the command line itself
        (["--bogus"] + P, {}), (["--wall=1"] + P, {}), (["--no-cpu=yes"] + P, {}), (["--app"], {}),
        (["--output"], {}), ([], {}), (["--"], {}), (["--", ""], {}), ([""], {}),
        (["--appx", "y"] + P, {}), (["-x"] + P, {}),
        # programs that cannot run
        (["--", "no-such-program-fw"], {}), (["--", "./no/such/prog"], {}), (["--", fake], {}),
        (["--", notexec], {}), (["-", "x"], {}),
    ]
    return cases


FLAMEWATCH_LINE = re.compile(rb"^(FLAMEWATCH_[A-Z_]+|PYTHONPATH)=", re.M)


def normalise(out, roots):
    lines = sorted(l for l in out.split(b"\n") if FLAMEWATCH_LINE.match(l))
    text = b"\n".join(lines)
    for r in roots:
        text = text.replace(r, b"<ROOT>")
    return text


def test_agreement(tmp, venv):
    fw = os.path.join(BUILD, "flamewatch")
    if not check("the C CLI is built (%s)" % fw, os.access(fw, os.X_OK)):
        return
    helptext = c_help()
    py_help = subprocess.run([os.path.join(venv, "bin", "flamewatch-run"), "--help"],
                             stdout=subprocess.PIPE, env=clean_env(venv)).stdout.decode()
    check("--help: the same text as 'flamewatch run --help' but for the program's name",
          py_help.replace("usage: flamewatch-run ", "usage: flamewatch run ", 1) == helptext,
          "\n".join(__import__("difflib").unified_diff(helptext.splitlines(), py_help.splitlines())))

    cases = agreement_cases(tmp)
    used = b" ".join(a if isinstance(a, bytes) else a.encode() for args, env in cases for a in args)
    used_vars = {k for _, env in cases for k in env}
    flags = set(re.findall(r"^\s+(?:-h, )?(--[a-z-]+)", helptext, re.M))
    variables = set(re.findall(r"FLAMEWATCH_[A-Z_]+", helptext))
    missing = sorted(f for f in flags if f.encode() not in used) + sorted(variables - used_vars)
    check("every flag (%d) and variable (%d) of the C help is exercised" % (len(flags), len(variables)),
          len(flags) >= 15 and not missing, missing)

    roots = [os.fsencode(os.path.realpath(os.path.join(BUILD, "python")))]
    roots += [os.fsencode(p) for p in glob.glob(os.path.join(venv, "lib", "python3*", "site-packages"))]
    cwd = os.path.join(tmp, "cwd")
    venv_env = clean_env(venv)
    fronts = [("C", [fw, "run"], venv_env),
              ("python -m", [os.path.join(venv, "bin", "python"), "-m", "flamewatch", "run"], venv_env),
              ("flamewatch-run", [os.path.join(venv, "bin", "flamewatch-run")], venv_env)]
    differ = []
    statuses = {}
    for args, env in cases:
        results = []
        for name, cmd, base in fronts:
            if os.path.isdir(cwd):
                shutil.rmtree(cwd)
            os.mkdir(cwd)
            e = {k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in base.items()}
            e.update({k.encode(): v.encode() for k, v in env.items()})
            rc, out, err = run([os.fsencode(c) for c in cmd] + [a if isinstance(a, bytes) else a.encode()
                                                                for a in args], e, cwd)
            if b"usage:" in out:
                out = out.replace(b"usage: flamewatch-run ", b"usage: flamewatch run ")
                out = out.replace(b"usage: python -m flamewatch run ", b"usage: flamewatch run ")
            created = sorted(os.listdir(cwd))
            results.append((rc, normalise(out, roots) if b"usage:" not in out else out, err, created))
        statuses[results[0][0]] = statuses.get(results[0][0], 0) + 1
        if any(r != results[0] for r in results[1:]):
            differ.append((args, env, results))
    detail = []
    for args, env, results in differ[:5]:
        detail.append("case %r env %r" % (args, env))
        for (name, _, _), r in zip(fronts, results):
            detail.append("  %-15s rc=%s out=%r err=%r created=%r" % (name, r[0], r[1][:300], r[2][:300], r[3]))
    check("C and both Python entry points agree on %d cases (exit statuses seen: %s)"
          % (len(cases), dict(sorted(statuses.items()))),
          not differ and {0, 1, 2, 126, 127} - {1} <= set(statuses), "\n".join(detail))


def main():
    tmp = tempfile.mkdtemp(prefix="fw_pip_run.")
    try:
        venv = make_venv(tmp)
        if venv:
            test_programs(tmp, venv)
            test_agreement(tmp, venv)
    except Exception as exc:   # a crash is one failure, with its traceback
        import traceback
        bad("suite crashed: %r" % exc, traceback.format_exc())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check("temporary directory removed", not os.path.exists(tmp))
    print("RESULT passed=%d failed=%d" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
