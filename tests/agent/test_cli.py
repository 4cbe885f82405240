"""`flamewatch run` as a user meets it: validation before the program starts, a shell's
answers for programs that cannot run, -m modules and console scripts, the labels a profile
carries, and a foreign pprof reader (`go tool pprof`) reading what the agent wrote.
"""
import ipaddress
import os
import shutil
import socket
import stat
import subprocess
import sys
import unittest

import fwaccuracy as fa

PROG_SIDE_EFFECT = "import sys; open(sys.argv[1], 'w').write('ran')"


class ValidationTest(unittest.TestCase):
    """Every bad flag or FLAMEWATCH_* value: exit 2, one line naming it, program never started."""

    BAD_FLAGS = [
        (["--cpu-interval", "abc"], "--cpu-interval", "abc"),
        (["--cpu-interval", "0"], "--cpu-interval", "0"),
        (["--cpu-interval", "1001"], "--cpu-interval", "1001"),
        (["--upload-interval", "0.05"], "--upload-interval", "0.05"),
        (["--upload-interval", "3601"], "--upload-interval", "3601"),
        (["--app", "a,b"], "--app", "a,b"),
        (["--app", "x" * 129], "--app", "x" * 129),
        (["--tag", "bad key=v"], "--tag", "bad key=v"),
        (["--tag", "k=a,b"], "--tag", "k=a,b"),
        (["--log", "loud"], "--log", "loud"),
    ]
    BAD_ENV = [
        ("FLAMEWATCH_CPU_INTERVAL", "abc"),
        ("FLAMEWATCH_UPLOAD_INTERVAL", "inf"),
        ("FLAMEWATCH_APP", ""),
        ("FLAMEWATCH_CPU", "maybe"),
        ("FLAMEWATCH_WALL", "2"),
        ("FLAMEWATCH_ENABLED", "enabled"),
        ("FLAMEWATCH_TAGS", "team"),
        ("FLAMEWATCH_LOG", "verbose"),
        ("FLAMEWATCH_OUTPUT", ""),
    ]

    def _run_bad(self, flags, env=None):
        tmp = fa.make_tmp(self)
        marker = os.path.join(tmp, "ran")
        # An --output flag would override FLAMEWATCH_OUTPUT, so give one only when that is not tested.
        out = [] if "FLAMEWATCH_OUTPUT" in (env or {}) else ["--output", os.path.join(tmp, "out")]
        rc, out, err, _ = fa.run_flamewatch(
            ["run"] + out + flags + ["--", sys.executable, "-c", PROG_SIDE_EFFECT, marker],
            env=fa.child_env(env), cwd=tmp)
        self.assertEqual(rc, 2, "flags %r env %r: status %r\n%s" % (flags, env, rc, err))
        self.assertFalse(os.path.exists(marker), "the program ran despite %r %r" % (flags, env))
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        return lines[0]

    def test_contract_message(self):
        line = self._run_bad(["--cpu-interval", "abc"])
        self.assertEqual(line, "flamewatch: invalid value for --cpu-interval: 'abc' (expected an integer from 1 to 1000)")
        line = self._run_bad([], {"FLAMEWATCH_CPU_INTERVAL": "abc"})
        self.assertEqual(line, "flamewatch: invalid value for FLAMEWATCH_CPU_INTERVAL: 'abc' (expected an integer from 1 to 1000)")

    def test_bad_flags(self):
        for flags, name, value in self.BAD_FLAGS:
            with self.subTest(flags=flags):
                line = self._run_bad(flags)
                self.assertTrue(line.startswith("flamewatch: invalid value for %s: '%s' (expected " % (name, value)), line)

    def test_bad_environment(self):
        for name, value in self.BAD_ENV:
            with self.subTest(name=name, value=value):
                line = self._run_bad([], {name: value})
                self.assertTrue(line.startswith("flamewatch: invalid value for %s: '%s' (expected " % (name, value)), line)

    def test_output_that_is_a_file(self):
        tmp = fa.make_tmp(self)
        path = os.path.join(tmp, "plain-file")
        open(path, "w").close()
        line = self._run_bad(["--output", path])
        self.assertTrue(line.startswith("flamewatch: invalid value for --output: '%s' (expected" % path), line)

    def test_unknown_option_and_missing_program(self):
        for args in (["--bogus"], ["--wall", "--"], ["--app"]):
            with self.subTest(args=args):
                rc, _, err, _ = fa.run_flamewatch(["run"] + args)
                self.assertEqual(rc, 2, err)
                self.assertTrue(err.startswith("flamewatch: "), err)

    def test_help(self):
        rc, out, _, _ = fa.run_flamewatch(["run", "--help"])
        self.assertEqual(rc, 0)
        self.assertIn("usage: flamewatch run", out)
        for flag in ("--app", "--output", "--cpu-interval", "--no-cpu", "--wall", "--tag", "--upload-interval",
                     "--disable", "--log"):
            self.assertIn(flag, out)


class ShellErrorsTest(unittest.TestCase):
    """A program that cannot start fails as the shell would fail it."""

    def _shell(self, prog):
        proc = subprocess.run(["sh", "-c", '"$0"', prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return proc.returncode

    def test_command_not_found(self):
        prog = "no-such-program-fw-xyz"
        rc, _, err, _ = fa.run_flamewatch(["run", "--output", fa.make_tmp(self), "--", prog])
        self.assertEqual(rc, 127)
        self.assertEqual(rc, self._shell(prog))
        self.assertEqual(err, "flamewatch: %s: command not found\n" % prog)

    def test_path_not_found(self):
        prog = os.path.join(fa.make_tmp(self), "missing")
        rc, _, err, _ = fa.run_flamewatch(["run", "--output", fa.make_tmp(self), prog])
        self.assertEqual(rc, 127)
        self.assertEqual(rc, self._shell(prog))
        self.assertEqual(err, "flamewatch: %s: No such file or directory\n" % prog)

    def test_permission_denied(self):
        prog = os.path.join(fa.make_tmp(self), "not-executable")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(prog, 0o644)
        rc, _, err, _ = fa.run_flamewatch(["run", "--output", fa.make_tmp(self), "--", prog])
        self.assertEqual(rc, 126)
        self.assertEqual(rc, self._shell(prog))
        self.assertEqual(err, "flamewatch: %s: Permission denied\n" % prog)

    def test_exit_status_is_the_programs(self):
        rc, _, err, _ = fa.run_flamewatch(["run", "--output", fa.make_tmp(self), "--",
                                           sys.executable, "-c", "import sys; sys.exit(7)"])
        self.assertEqual(rc, 7, err)


class LaunchTest(unittest.TestCase):
    """python script.py, python -m module, and a console script, each named and profiled."""

    WORK = ("import time\n"
            "def {fn}():\n"
            "    end = time.thread_time() + 0.3\n"
            "    x = 0\n"
            "    while time.thread_time() < end:\n"
            "        for i in range(500):\n"
            "            x += i\n"
            "{fn}()\n")

    def _profile(self, out_dir, app):
        files = [os.path.join(out_dir, f) for f in sorted(os.listdir(out_dir))] if os.path.isdir(out_dir) else []
        self.assertTrue(files, "no profile in %s" % out_dir)
        for f in files:
            self.assertTrue(os.path.basename(f).startswith(app + "-"), f)
        samples = fa.convert(files, "cpu")["samples"]
        self.assertEqual({s["labels"].get("app") for s in samples}, {app})
        return samples

    def _assert_work(self, samples, fn):
        got = fa.leafmost_attribution(samples, [fn])[fn] / fa.NS
        self.assertGreater(got, 0.2, "%s: %.3f s" % (fn, got))

    def test_module(self):
        tmp = fa.make_tmp(self)
        with open(os.path.join(tmp, "fw_cli_modapp.py"), "w") as f:
            f.write(self.WORK.format(fn="modapp_work"))
        out = os.path.join(tmp, "out")
        rc, _, err, _ = fa.run_flamewatch(["run", "--output", out, "--", sys.executable, "-m", "fw_cli_modapp"], cwd=tmp)
        self.assertEqual(rc, 0, err)
        self._assert_work(self._profile(out, "fw_cli_modapp"), "modapp_work")

    def test_console_script(self):
        tmp = fa.make_tmp(self)
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        script = os.path.join(bindir, "fw-console-demo")
        with open(script, "w") as f:
            f.write("#!%s\n" % sys.executable + self.WORK.format(fn="console_work"))
        os.chmod(script, 0o755)
        out = os.path.join(tmp, "out")
        env = fa.child_env({"PATH": bindir + os.pathsep + os.environ.get("PATH", "")})
        # No "--": PROGRAM is the first non-option.
        rc, _, err, _ = fa.run_flamewatch(["run", "--output", out, "fw-console-demo"], env=env)
        self.assertEqual(rc, 0, err)
        self._assert_work(self._profile(out, "fw-console-demo"), "console_work")

    def test_script_and_created_output(self):
        tmp = fa.make_tmp(self)
        script = os.path.join(tmp, "my_script.py")
        with open(script, "w") as f:
            f.write(self.WORK.format(fn="script_work"))
        out = os.path.join(tmp, "deep", "er", "out")  # created, parents included
        rc, _, err, _ = fa.run_flamewatch(["run", "--output", out, "--", sys.executable, script])
        self.assertEqual(rc, 0, err)
        self._assert_work(self._profile(out, "my_script"), "script_work")


class LabelsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wl = fa.run_workload(cls, "labels", flags=["--app", "label-app", "--tag", "team=web", "--tag", "region=eu-1"],
                                  env={"FLAMEWATCH_TAGS": "tier=gold,team=env", "FLAMEWATCH_WALL": "Yes",
                                       "FLAMEWATCH_CPU_INTERVAL": "010"})

    def setUp(self):
        fa.assert_ran(self, self.wl)
        self.truth = self.wl.truth
        self.samples = fa.convert(self.wl.files(), "cpu")["samples"]

    def test_profile_labels_on_every_sample(self):
        self.assertTrue(self.samples)
        for s in self.samples:
            lab = s["labels"]
            self.assertEqual(lab.get("app"), "label-app")
            self.assertEqual(lab.get("pid"), str(self.truth["pid"]))
            self.assertEqual(lab.get("hostname"), self.truth["hostname"])
            self.assertEqual(lab.get("team"), "web")  # the flag wins over FLAMEWATCH_TAGS
            self.assertEqual(lab.get("region"), "eu-1")
            self.assertEqual(lab.get("tier"), "gold")
            self.assertIn("thread_name", lab)
            self.assertIn("thread_group", lab)
            ipaddress.ip_address(lab.get("host_ip", ""))  # raises if not an address
        self.assertEqual(self.truth["hostname"], socket.gethostname())

    def test_host_ip_is_primary_address(self):
        host_ip = self.samples[0]["labels"]["host_ip"]
        addrs = fa.host_addresses()
        self.assertIsNotNone(addrs, "neither hostname -I nor ip is available")
        v4 = [a for a in addrs if ipaddress.ip_address(a).version == 4]
        if v4:
            self.assertIn(host_ip, v4)
        elif addrs:
            self.assertIn(host_ip, addrs)
        else:
            self.assertEqual(host_ip, "127.0.0.1")

    def test_environment_given_to_program(self):
        env = self.truth["env"]
        self.assertEqual(env.get("FLAMEWATCH_RUN"), "1")
        self.assertEqual(env.get("FLAMEWATCH_APP"), "label-app")
        self.assertEqual(env.get("FLAMEWATCH_WALL"), "1")         # canonical boolean
        self.assertEqual(env.get("FLAMEWATCH_CPU_INTERVAL"), "10")
        self.assertEqual(env.get("FLAMEWATCH_TAGS"), "tier=gold,team=web,region=eu-1")
        self.assertTrue(os.path.isabs(env.get("FLAMEWATCH_OUTPUT", "")))
        first = env.get("PYTHONPATH", "").split(os.pathsep)
        self.assertEqual(first[0], os.path.join(fa.BUILD, "python", "flamewatch", "_bootstrap"))
        self.assertEqual(first[1], os.path.join(fa.BUILD, "python"))

    def test_go_tool_pprof_reads_agent_file(self):
        go = shutil.which("go")
        self.assertIsNotNone(go, "golang-go is a test dependency (scripts/ensure-deps.sh test)")
        tmp = fa.make_tmp(self)
        env = dict(os.environ, HOME=tmp, GOCACHE=os.path.join(tmp, "gocache"), GOPATH=os.path.join(tmp, "gopath"),
                   GOFLAGS="-mod=mod", GOTOOLCHAIN="local", GOTELEMETRY="off", PPROF_TMPDIR=tmp)
        path = self.wl.files()[-1]
        proc = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=cpu", path], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=180)
        out = proc.stdout.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode("utf-8", "replace"))
        self.assertIn("Type: cpu", out)
        self.assertIn("labelled_work", out)


if __name__ == "__main__":
    unittest.main()
