"""Permission slips (issue 11): StrictModes on the config and the manifests
must refuse, never withdraw.  A drop-in made group-writable, the drop-in
directory made world-writable, the config made world-writable: `apply`,
`plan`, `status` and a running `run` daemon refuse them with the
file-permissions diagnostic that `validate` prints, cancel and delete
nothing (sets with on_remove: delete, in sync), keep the last-known-good
copies in force, and recover once the mode is fixed.  Real engine against
nginx on 127.0.0.1.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/plan/test_trust.py TrustTest.test_apply_slips
"""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_apply import Base, write_random, BITSYNC, wait_for  # noqa: E402



class TrustTest(Base):
    def setUp(self):
        super().setUp()
        self.status_file = os.path.join(self.state, "status.json")
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "status_file = %s\ninterval = 1h\n"
                    "[engine]\nmax_parallel = 2\n"
                    % (self.mdir, self.state, self.status_file))
        os.chmod(self.config, 0o644)
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.communicate(timeout=30)
        super().tearDown()

    def two_sets_in_sync(self):
        """Two sets with on_remove: delete, applied and in sync."""
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 6000)
        self.nginx()
        self.manifest("00-sources.yaml", None)
        self.app = self.manifest("10-app.yaml", self.set_yaml(
            "app", ["a.bin"], more="on_remove: delete"), sources=False)
        self.other = self.manifest("20-other.yaml", self.set_yaml(
            "other", ["b.bin"], more="on_remove: delete"), sources=False)
        self.placed = [os.path.join(self.dst, "app", "a.bin"),
                       os.path.join(self.dst, "other", "b.bin")]

    def assert_placed(self, why):
        for p in self.placed:
            self.assertTrue(os.path.exists(p), "%s: %s deleted" % (why, p))

    def assert_refused(self, p, what, why):
        self.assertNotEqual(p.returncode, 0, why + p.stdout + p.stderr)
        self.assertIn("[file-permissions]", p.stderr, why)
        self.assertIn(what, p.stderr, why)
        self.assertNotIn("deleted=", p.stderr, why)
        self.assertNotIn("cancel", p.stderr, why)

    def assert_in_sync(self, why):
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, why + p.stderr)
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 0, why + p.stdout + p.stderr)
        self.assert_placed(why)

    def test_apply_slips(self):
        self.two_sets_in_sync()
        self.assert_in_sync("first apply")

        # A drop-in made group-writable: refused, held at its copy.
        os.chmod(self.app, 0o664)
        p = self.run_bitsync("apply")
        self.assert_refused(p, "writable by group", "g+w drop-in")
        self.assert_placed("g+w drop-in")
        rc, plan = self.plan_json()
        self.assertFalse(plan["valid"])
        self.assertEqual(plan["last_known_good"], [self.app])
        self.assertEqual(self.action(plan, "app")["action"], "none")
        self.assertEqual(self.action(plan, "other")["action"], "none")
        # The copy is enforced, not just kept: a lost file comes back.
        os.unlink(self.placed[0])
        p = self.run_bitsync("apply")
        self.assert_refused(p, "writable by group", "g+w drop-in, again")
        self.assert_placed("g+w drop-in, copy enforced")
        os.chmod(self.app, 0o644)
        self.assert_in_sync("g+w drop-in fixed")

        # The drop-in directory made world-writable: every file held.
        os.chmod(self.mdir, 0o777)
        p = self.run_bitsync("apply")
        self.assert_refused(p, "by everyone", "o+w directory")
        self.assert_placed("o+w directory")
        rc, plan = self.plan_json()
        for s in plan["sets"]:
            self.assertNotIn(s["action"], ("cancel-orphan", "cancel"),
                             "o+w directory: %r" % s)
        p = self.run_bitsync("apply")
        self.assert_refused(p, "by everyone", "o+w dir, again")
        self.assert_placed("o+w directory, second apply")
        os.chmod(self.mdir, 0o755)
        self.assert_in_sync("o+w directory fixed")

        # The config made world-writable: every command refuses it as
        # validate does, before reading it.
        os.chmod(self.config, 0o666)
        v = self.run_bitsync("validate")
        self.assertIn("[file-permissions]", v.stdout + v.stderr)
        for cmd in (["apply"], ["plan"], ["status"]):
            p = self.run_bitsync(*cmd)
            self.assert_refused(p, "by everyone", "o+w config, %s"
                                % cmd[0])
            self.assertIn(self.config, p.stderr)
        self.assert_placed("o+w config")
        os.chmod(self.config, 0o644)
        self.assert_in_sync("o+w config fixed")
        # The files removed for real: only now are the sets withdrawn.
        os.unlink(self.app)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(self.placed[0]))
        self.assertTrue(os.path.exists(self.placed[1]))

    def start(self):
        self.daemon = subprocess.Popen(
            [BITSYNC, "-c", self.config, "run"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.assertTrue(wait_for(lambda: os.path.exists(
            os.path.join(self.state, "control.sock"))), "no socket")
        self.assertTrue(wait_for(lambda: os.path.exists(self.status_file)),
                        "no status file")

    def status_file_json(self):
        try:
            with open(self.status_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def diag_shown(self, file, rule="file-permissions"):
        st = self.status_file_json()
        return st is not None and any(
            d["rule"] == rule and d["file"] == file
            for d in st["manifest"]["diagnostics"])

    def all_in_sync(self):
        st = self.status_file_json()
        return (st is not None and st["manifest"]["valid"] and
                not [d for d in st["manifest"]["diagnostics"]
                     if d["severity"] == "error"] and
                len(st["sets"]) == 2 and
                all(s["state"] == "in-sync" for s in st["sets"]))

    def daemon_apply(self):
        """A pass now: `apply` asks the running daemon."""
        return self.run_bitsync("apply")

    def test_daemon_slips(self):
        self.two_sets_in_sync()
        self.start()
        self.assertTrue(wait_for(self.all_in_sync, 60), "never in sync: %r"
                        % self.status_file_json())
        self.assert_placed("daemon start")

        for path, mode, good in ((self.app, 0o664, 0o644),
                                 (self.mdir, 0o777, 0o755)):
            os.chmod(path, mode)
            self.daemon_apply()
            self.assertTrue(wait_for(lambda: self.diag_shown(path), 20),
                            "%s %o: refusal not in status" % (path, mode))
            self.daemon_apply()
            time.sleep(0.5)
            self.assert_placed("daemon, %s %o" % (path, mode))
            st = self.status_file_json()
            self.assertEqual(sorted(s["name"] for s in st["sets"]),
                             ["app", "other"])
            os.chmod(path, good)
            self.daemon_apply()
            self.assertTrue(wait_for(self.all_in_sync, 20),
                            "%s: no recovery" % path)
            self.assert_placed("daemon, %s fixed" % path)

        # The config made world-writable: the reload (the mode change is
        # seen, and SIGHUP) is refused, the old config goes on, status
        # says why; fixed, the reload is accepted.
        os.chmod(self.config, 0o666)
        self.daemon.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.diag_shown(self.config), 20),
                        "config refusal not in status")
        self.assertIsNone(self.daemon.poll(), "daemon died")
        self.assert_placed("daemon, o+w config")
        os.chmod(self.config, 0o644)
        self.daemon.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(self.all_in_sync, 20), "no recovery")
        self.assertIsNone(self.daemon.poll(), "daemon died")
        self.daemon.send_signal(signal.SIGTERM)
        out, err = self.daemon.communicate(timeout=30)
        self.daemon = None
        # the daemon's log: error records naming the rule and the fix
        self.assertRegex(err, r"level=error .*rule=file-permissions .*"
                         r"chmod go-w")
        self.assertRegex(err, r"level=error event=reload-refused")
        self.assertNotIn("deleted=", err)
        self.assert_placed("daemon stopped")

    def test_state_dir_refused(self):
        """A state_dir others can write, or another account owns, is
        refused with the chmod / chown that fixes it; a missing one is
        created 0700."""
        self.two_sets_in_sync()
        os.rmdir(self.state)
        self.assert_in_sync("state_dir created")
        self.assertEqual(os.stat(self.state).st_mode & 0o7777, 0o700)
        os.chmod(self.state, 0o777)
        for cmd in (["apply"], ["plan"], ["status"]):
            p = self.run_bitsync(*cmd)
            self.assert_refused(p, "chmod go-w %s" % self.state,
                                "o+w state_dir, " + cmd[0])
            self.assertIn("state_dir %s is refused" % self.state, p.stderr)
        os.chmod(self.state, 0o700)
        self.assert_in_sync("state_dir 0700 again")
        if os.geteuid() != 0:
            return      # only root can give the folder to another account
        os.chown(self.state, 65534, -1)
        try:
            p = self.run_bitsync("apply")
            self.assert_refused(p, "chown root %s" % self.state,
                                "state_dir of nobody")
            self.assertIn("state_dir %s is owned by" % self.state, p.stderr)
        finally:
            os.chown(self.state, 0, -1)
        self.assert_in_sync("state_dir owned by root again")

    def test_refused_config_at_start(self):
        """run refuses an unsafe config at start, as validate does."""
        self.two_sets_in_sync()
        os.chmod(self.config, 0o666)
        p = subprocess.run([BITSYNC, "-c", self.config, "run"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("[file-permissions]", p.stderr)
        self.assertIn("chmod go-w", p.stderr)
        self.assertFalse(os.path.exists(self.status_file))


if __name__ == "__main__":
    unittest.main()
