"""on_change (design §2a, issue 13): the `bitsync run` daemon runs a set's
command after a commit that changed its files, with the real engine
against nginx on 127.0.0.1.  The command is tests/plan/on_change_cmd.py,
which records what it saw.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/plan/test_on_change.py OnChangeTest.test_runs_once
"""

import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_apply import write_random, BITSYNC, wait_for  # noqa: E402
from test_run import RunTest  # noqa: E402

CMD = os.path.join(HERE, "on_change_cmd.py")
PY = "/usr/bin/python3"
FIXED_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENV_KEYS = {"PATH", "BITSYNC_SET", "BITSYNC_DESTINATION", "BITSYNC_CHANGED"}


class OnChangeTest(RunTest):
    def setUp(self):
        super().setUp()
        with open(self.config, "a") as f:
            f.write("[agent]\n")
        # One [agent] section: rewrite the file with allow_commands in it.
        with open(self.config) as f:
            text = f.read().replace("[agent]\n", "[agent]\nallow_commands "
                                    "= yes\n", 1)
        text = text[:text.rindex("[agent]\n")]
        with open(self.config, "w") as f:
            f.write(text)
        self.log = os.path.join(self.dir, "runs.jsonl")
        self.app = os.path.join(self.dst, "app")

    def runs(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(x) for x in f if x.strip()]

    def app_set(self, mode="ok", arg=None, more=""):
        argv = [PY, CMD, self.log, mode] + ([arg] if arg else [])
        return self.set_yaml("app", ["a.bin", "b.bin"], more=(
            "refresh: 1s\nretry_delay: 5s\non_change:\n  run: %s\n%s"
            % (json.dumps(argv), more)))

    def start_env(self, env=None):
        # The log goes to a file: a pipe nobody reads while the command
        # prints would stall the daemon, as a full journal never does.
        self.errlog = os.path.join(self.dir, "daemon.%d.log" % time.time_ns())
        with open(self.errlog, "w") as err:
            self.daemon = subprocess.Popen(
                [BITSYNC, "-c", self.config, "run"],
                stdout=subprocess.DEVNULL, stderr=err, text=True, env=env)
        wait_for(lambda: os.path.exists(self.status_file) or
                 self.daemon.poll() is not None)
        if not os.path.exists(self.status_file):
            with open(self.errlog) as f:
                self.fail("the daemon did not start (exit %r): %s" % (
                    self.daemon.poll(), f.read()[-3000:]))
        return self.daemon

    def start(self):
        return self.start_env()

    def stop(self, sig=signal.SIGTERM):
        self.daemon.send_signal(sig)
        if sig == signal.SIGKILL and os.path.exists(self.status_file):
            os.unlink(self.status_file)
        rc = self.daemon.wait(timeout=30)
        self.daemon = None
        with open(self.errlog) as f:
            log = f.read()
        if sig == signal.SIGTERM:
            # A clean stop (under the sanitizers: no leak, no error).
            self.assertEqual(rc, 0, log[-3000:])
            self.assertNotIn("Sanitizer", log)
        return log

    def tearDown(self):
        try:
            if self.daemon is not None and self.daemon.poll() is None:
                self.stop()
        finally:
            if self.daemon is not None and self.daemon.poll() is None:
                self.daemon.kill()
                self.daemon.wait(timeout=30)
            self.daemon = None
            super().tearDown()

    def on_change(self):
        s = self.set_status("app")
        return s.get("on_change") if s else None

    def metrics_text(self):
        with open(self.metrics) as f:
            return f.read()

    # -- once per change, with what the brief lists ------------------------

    def test_runs_once(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        self.manifest("10-app.yaml", self.app_set())
        # The daemon's own environment must not leak into the command.
        env = dict(os.environ, PATH="/tmp/evil:" + os.environ["PATH"],
                   LD_LIBRARY_PATH="/tmp/evil", EVIL="1")
        self.start_env(env)
        self.assertTrue(wait_for(lambda: len(self.runs()) == 1, 30))
        r = self.runs()[0]
        self.assertEqual(set(r["env"]), ENV_KEYS, r["env"])
        self.assertEqual(r["env"]["PATH"], FIXED_PATH)
        self.assertEqual(r["env"]["BITSYNC_SET"], "app")
        self.assertEqual(r["env"]["BITSYNC_DESTINATION"], self.app)
        self.assertEqual(r["cwd"], self.app)
        self.assertEqual(r["stdin"], "/dev/null")
        self.assertEqual(r["pid"], r["sid"], "not in a session of its own")
        self.assertEqual(sorted(r["changed"]), [
            os.path.join(self.app, "a.bin"), os.path.join(self.app, "b.bin")])
        self.assertEqual(r["changed_mode"], 0o600)
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "done", 10), self.on_change())
        # The list is gone once the run is over.
        self.assertFalse(os.path.exists(r["env"]["BITSYNC_CHANGED"]))
        # No-op passes (refresh every second) run nothing.
        time.sleep(3.5)
        self.assertEqual(len(self.runs()), 1)
        # One remote file changes: one run, that file listed alone.
        write_random(os.path.join(self.www, "b.bin"), 9000)
        self.assertTrue(wait_for(lambda: len(self.runs()) == 2, 30))
        self.assertEqual(self.runs()[1]["changed"],
                         [os.path.join(self.app, "b.bin")])
        time.sleep(3.5)
        self.assertEqual(len(self.runs()), 2)
        oc = self.on_change()
        self.assertEqual((oc["successes"], oc["failures"]), (2, 0), oc)
        self.assertIn('bitsync_on_change_runs_total{set="app",'
                      'result="success"} 2', self.metrics_text())

    def test_drift_repair_runs_it(self):
        # A placed file deleted or edited locally is placed again: that
        # commit created or replaced a file, so the command runs, for it.
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        self.manifest("10-app.yaml", self.app_set())
        self.start()
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "done", 30), self.on_change())
        os.unlink(os.path.join(self.app, "a.bin"))
        self.assertTrue(wait_for(lambda: len(self.runs()) == 2, 20))
        self.assertEqual(self.runs()[1]["changed"],
                         [os.path.join(self.app, "a.bin")])
        with open(os.path.join(self.app, "b.bin"), "r+b") as f:
            f.write(b"local edit")
        self.assertTrue(wait_for(lambda: len(self.runs()) == 3, 20))
        self.assertEqual(self.runs()[2]["changed"],
                         [os.path.join(self.app, "b.bin")])

    def test_monitor_runs_nothing(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        self.manifest("10-app.yaml", self.app_set(more="mode: monitor\n"))
        self.start()
        self.assertTrue(wait_for(lambda: (self.set_status("app") or {}).get(
            "state") == "drift", 10), self.set_status("app"))
        time.sleep(3)
        self.assertEqual(self.runs(), [])
        self.assertFalse(os.path.exists(os.path.join(self.app, "a.bin")))

    def test_not_allowed_refused_in_status(self):
        # The host's owner did not say allow_commands = yes: the manifest
        # is refused where it says on_change, nothing of it is applied.
        with open(self.config) as f:
            text = f.read().replace("allow_commands = yes\n", "")
        with open(self.config, "w") as f:
            f.write(text)
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        path = self.manifest("10-app.yaml", self.app_set())
        self.start()
        rc, st = self.status()
        d = [x for x in st["manifest"]["diagnostics"]
             if x["rule"] == "command-not-allowed"]
        with open(path) as f:
            where = [(path, n + 1, line.index("on_change") + 1)
                     for n, line in enumerate(f)
                     if line.lstrip().startswith("on_change:")]
        self.assertEqual(len(where), 1)
        self.assertEqual([(x["file"], x["line"], x["column"]) for x in d],
                         where, st["manifest"])
        self.assertIn("allow_commands = yes", d[0]["message"])
        self.assertIn('bitsync_manifest_valid 0', self.metrics_text())
        time.sleep(2)
        self.assertFalse(os.path.exists(os.path.join(self.app, "a.bin")))
        self.assertEqual(self.runs(), [])

    # -- failures --------------------------------------------------------

    def test_failure_retried_after_retry_delay(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        flag = os.path.join(self.dir, "flag")
        self.manifest("10-app.yaml", self.app_set("fail-once", flag))
        self.start()
        self.assertTrue(wait_for(lambda: len(self.runs()) == 1, 30))
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "waiting-to-retry", 10), self.on_change())
        oc = self.on_change()
        self.assertEqual(oc["last_exit"], 1)
        self.assertEqual(oc["failures"], 1)
        self.assertIn("exited with status 1", oc["last_error"])
        self.assertTrue(wait_for(lambda: 'bitsync_on_change_runs_total{'
                                 'set="app",result="failure"} 1' in
                                 self.metrics_text(), 10))
        self.assertIn('bitsync_on_change_pending{set="app"} 1',
                      self.metrics_text())
        # Prometheus's own linter accepts the file as it is now.
        with open(self.metrics, "rb") as f:
            p = subprocess.run(["promtool", "check", "metrics"], stdin=f,
                               capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.run_bitsync("status")
        self.assertIn("on_change: waiting-to-retry", p.stdout)
        self.assertIn("exited with status 1", p.stdout)
        # The retry comes after retry_delay (5s), not before, and wins.
        self.assertTrue(wait_for(lambda: len(self.runs()) == 2, 20))
        r1, r2 = self.runs()
        self.assertGreaterEqual(r2["time"] - r1["time"], 4.5)
        self.assertEqual(r2["changed"], r1["changed"])
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "done", 10), self.on_change())
        self.assertTrue(wait_for(lambda: 'bitsync_on_change_pending{set='
                                 '"app"} 0' in self.metrics_text(), 10))
        err = self.stop()
        self.assertIn("event=on-change-failed set=app result=failure", err)
        self.assertIn('line="failing on purpose"', err)

    def test_timeout_kills_process_group(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        pidf = os.path.join(self.dir, "child.pid")
        self.manifest("10-app.yaml", self.app_set(
            "hang-fork", pidf, more="  timeout: 2s\n"))
        self.start()
        def child_pid():
            try:
                with open(pidf) as f:
                    return int(f.read() or 0)
            except OSError:
                return 0
        self.assertTrue(wait_for(child_pid, 30))
        leader = self.runs()[0]["pid"]
        child = child_pid()
        self.assertTrue(os.path.exists("/proc/%d" % child))
        # Status answers while it runs: the daemon does not wait for it.
        self.assertEqual((self.on_change() or {}).get("state"), "running")
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "last_result") == "timeout", 15), self.on_change())
        self.assertTrue(wait_for(lambda: not os.path.exists(
            "/proc/%d" % child) and not os.path.exists(
            "/proc/%d" % leader), 5), "a process of the group lives on")
        self.assertIn("timed out after 2s", self.on_change()["last_error"])

    def test_output_capped(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        self.manifest("10-app.yaml", self.app_set("spew", str(1 << 20)))
        self.start()
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "done", 30), self.on_change())
        rc, _ = self.status()
        self.assertEqual(rc, 0)
        err = self.stop()
        # The forged line stays inside its record, escaped.
        self.assertIn('line="evil \\"q\\" \\x1b[2J\\x0dlevel=error '
                      'event=forged\\x0d"', err)
        self.assertNotIn("\x1b", err)
        self.assertFalse([x for x in err.splitlines()
                          if "event=forged" in x and
                          "event=on-change-output" not in x])
        out = re.findall(r'event=on-change-output set=app line="((?:[^"\\]|'
                         r'\\.)*)"', err)
        # Bytes of output in the records (newlines not counted).
        logged = sum(len(x.encode().decode("unicode_escape"))
                     for x in out)
        self.assertLessEqual(logged, 64 * 1024)
        self.assertGreater(logged, 60 * 1024)
        m = re.search(r"event=on-change-done set=app result=success .*"
                      r"output_bytes=(\d+) dropped_bytes=(\d+)", err)
        self.assertIsNotNone(m, err[-2000:])
        self.assertEqual(int(m.group(1)), 64 * 1024)
        self.assertEqual(int(m.group(1)) + int(m.group(2)), 1 << 20)

    def test_apply_runs_it_plan_and_validate_never(self):
        # No daemon: `bitsync apply` commits and runs the command itself;
        # a failure stays pending, which plan and validate never run.
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        flag = os.path.join(self.dir, "flag")
        path = self.manifest("10-app.yaml", self.app_set("fail-once", flag))
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("1 on_change command(s) failed", p.stderr)
        self.assertEqual(len(self.runs()), 1)
        for args in (["plan"], ["plan", "--format", "json"],
                     ["validate", path], ["status"]):
            self.run_bitsync(*args)
        self.assertEqual(len(self.runs()), 1, "plan/validate/status ran it")
        # status without a daemon reads the failure from the state.
        oc = self.on_change()
        self.assertEqual((oc["state"], oc["failures"], oc["last_exit"]),
                         ("waiting-to-retry", 1, 1), oc)
        # apply is a person asking: the retry runs now, not in 5s.
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.runs()), 2)
        # Nothing changed: a third apply runs nothing.
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.runs()), 2)

    def test_set_leaving_drops_pending_run(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        flag = os.path.join(self.dir, "flag")
        path = self.manifest("10-app.yaml", self.app_set("fail-once", flag))
        self.start()
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "waiting-to-retry", 30), self.on_change())
        # The file that declared the set goes: nobody wants the run.
        os.unlink(path)
        self.assertTrue(wait_for(lambda: self.set_status("app") is None,
                                 10))
        time.sleep(6.5)		# past retry_delay (5s)
        self.assertEqual(len(self.runs()), 1, "ran for a removed set")
        log = self.stop()
        self.assertIn("event=on-change-dropped set=app", log)

    def test_invalid_edit_keeps_pending_run(self):
        # A broken edit withdraws nothing: the last valid copy stays in
        # force, and so does the run it asked for.
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        flag = os.path.join(self.dir, "flag")
        path = self.manifest("10-app.yaml", self.app_set("fail-once", flag))
        self.start()
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "waiting-to-retry", 30), self.on_change())
        with open(path, "a") as f:
            f.write("  - name: [broken\n")
        self.assertTrue(wait_for(lambda: len(self.runs()) == 2, 20))
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "done", 10), self.on_change())

    def test_changes_while_failing_join_the_next_run(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        flag = os.path.join(self.dir, "flag")
        open(flag, "w").close()		# the first run succeeds
        self.manifest("10-app.yaml", self.app_set("fail-once", flag))
        self.start()
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "done", 30), self.on_change())
        os.unlink(flag)			# the next run fails
        write_random(os.path.join(self.www, "a.bin"), 5001)
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "waiting-to-retry", 30), self.on_change())
        self.assertEqual(self.runs()[1]["changed"],
                         [os.path.join(self.app, "a.bin")])
        # Another change while the retry waits: it runs at once (a new
        # change does not wait out the retry delay) and lists both.
        t0 = time.time()
        write_random(os.path.join(self.www, "b.bin"), 7001)
        self.assertTrue(wait_for(lambda: len(self.runs()) == 3, 20))
        self.assertEqual(sorted(self.runs()[2]["changed"]), [
            os.path.join(self.app, "a.bin"), os.path.join(self.app, "b.bin")])
        self.assertLess(self.runs()[2]["time"] - t0, 4.5)
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "done", 10), self.on_change())
        self.assertEqual(self.on_change()["successes"], 2)

    # -- crash safety ----------------------------------------------------

    def test_kill9_then_runs_after_restart(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        flag = os.path.join(self.dir, "flag")
        self.manifest("10-app.yaml", self.app_set("hang-once", flag))
        self.start()
        # Committed, the command started (and hangs): the agent dies.
        self.assertTrue(wait_for(lambda: len(self.runs()) == 1, 30))
        first = self.runs()[0]["pid"]
        self.stop(signal.SIGKILL)
        os.killpg(first, signal.SIGKILL)
        self.start()
        # Nothing changed since, yet the run that never finished runs.
        self.assertTrue(wait_for(lambda: len(self.runs()) == 2, 20))
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "state") == "done", 10), self.on_change())
        self.assertEqual(sorted(self.runs()[1]["changed"]), [
            os.path.join(self.app, "a.bin"), os.path.join(self.app, "b.bin")])

    def test_kill_at_each_store_commit_never_loses_the_run(self):
        # bitsync apply killed (BITSYNC_TEST_CRASH, agent/engine/store.c)
        # right after each commit of the engine's job store, among them
        # the one that records Complete's renames before state.db knows:
        # the next apply runs the command for the new bytes all the same.
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        self.manifest("10-app.yaml", self.app_set())
        self.assertEqual(self.run_bitsync("apply").returncode, 0)
        a = os.path.join(self.app, "a.bin")
        kills = 0
        for n in range(1, 7):
            before = len(self.runs())
            write_random(os.path.join(self.www, "a.bin"), 5000 + n)
            time.sleep(1.1)		# refresh: 1s, the change is seen
            e = dict(os.environ, BITSYNC_TEST_CRASH="store-committed:%d" % n)
            p = subprocess.run([BITSYNC, "-c", self.config, "apply"],
                               capture_output=True, text=True, env=e,
                               timeout=120)
            kills += p.returncode == -signal.SIGKILL
            p = self.run_bitsync("apply")
            self.assertEqual(p.returncode, 0, p.stderr)
            runs = self.runs()[before:]
            self.assertTrue(runs and a in runs[-1]["changed"],
                            "store-committed:%d lost the run: %r" % (n, runs))
        self.assertGreater(kills, 0, "no kill happened")

    # -- the attacker ------------------------------------------------------

    def test_local_user_cannot_redirect(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        flag = os.path.join(self.dir, "flag")
        self.manifest("10-app.yaml", self.app_set("fail-once", flag))
        self.start()
        self.assertTrue(wait_for(lambda: len(self.runs()) == 1, 30))
        r = self.runs()[0]
        # The list lives in a folder only the agent can enter.
        d = os.path.dirname(r["env"]["BITSYNC_CHANGED"])
        self.assertTrue(d.startswith(self.state + "/"))
        st = os.stat(d)
        self.assertEqual((st.st_mode & 0o777, st.st_uid), (0o700, 0))
        nobody = pwd.getpwnam("nobody")
        p = subprocess.run(
            [PY, "-c", "open(%r, 'w').write('/etc/shadow\\n')"
             % os.path.join(d, "app.changed")],
            preexec_fn=lambda: (os.setgid(nobody.pw_gid),
                                os.setuid(nobody.pw_uid)),
            capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PermissionError", p.stderr)
        # While the retry waits, the destination becomes a link to a
        # folder of the attacker's: the retry must not run there.
        evil = os.path.join(self.dir, "evil")
        os.mkdir(evil)
        os.rename(self.app, self.app + ".real")
        os.symlink(evil, self.app)
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "failures") == 2, 20), self.on_change())
        self.assertEqual(len(self.runs()), 1, "ran in a linked folder")
        self.assertIn("link", self.on_change()["last_error"])
        # The link goes: the next retry runs in the real folder.
        os.unlink(self.app)
        os.rename(self.app + ".real", self.app)
        self.assertTrue(wait_for(lambda: len(self.runs()) == 2, 20))
        self.assertEqual(self.runs()[1]["cwd"], self.app)

    def test_program_others_can_change_refused(self):
        # The manifest names a program in a folder any account may write
        # to: whoever puts a file there first runs as root.  Refused
        # until the folder is root's only; the link in it is followed to
        # a program that is root's.
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 7000)
        self.nginx()
        wbin = os.path.join(self.dir, "wbin")
        os.mkdir(wbin)
        os.chmod(wbin, 0o777)
        prog = os.path.join(wbin, "py")
        os.symlink(os.path.realpath(PY), prog)
        argv = [prog, CMD, self.log, "ok"]
        self.manifest("10-app.yaml", self.set_yaml(
            "app", ["a.bin", "b.bin"], more=(
                "refresh: 1s\nretry_delay: 5s\non_change:\n  run: %s\n"
                % json.dumps(argv))))
        self.start()
        self.assertTrue(wait_for(lambda: (self.on_change() or {}).get(
            "failures", 0) >= 1, 30),
            "%r %r" % (self.runs(), self.set_status("app")))
        self.assertEqual(self.runs(), [], "ran a program others can change")
        oc = self.on_change()
        self.assertIn(wbin, oc["last_error"])
        self.assertIn("chmod go-w", oc["last_error"])
        self.assertIn('bitsync_on_change_runs_total{set="app",'
                      'result="failure"}', self.metrics_text())
        # The folder becomes root's only: the retry runs it.
        os.chmod(wbin, 0o755)
        self.assertTrue(wait_for(lambda: len(self.runs()) == 1, 20),
                        self.on_change())
        err = self.stop()
        self.assertIn("may be changed by another account", err)


if __name__ == "__main__":
    unittest.main()
