"""End-to-end tests of the `bitsync run` daemon (issue 4) with the real
engine against nginx on 127.0.0.1.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/plan/test_run.py RunTest.test_dropin_edit_remove
"""

import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_apply import Base, sha, write_random, MiB, BITSYNC, wait_for  # noqa



class RunTest(Base):
    def setUp(self):
        super().setUp()
        self.status_file = os.path.join(self.state, "status.json")
        self.metrics = os.path.join(self.dir, "metrics.prom")
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "status_file = %s\nmetrics_file = %s\ninterval = 1h\n"
                    "[engine]\nmax_parallel = 2\n"
                    % (self.mdir, self.state, self.status_file,
                       self.metrics))
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.communicate(timeout=30)
        super().tearDown()

    def start(self):
        self.daemon = subprocess.Popen(
            [BITSYNC, "-c", self.config, "run"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.assertTrue(wait_for(lambda: os.path.exists(
            os.path.join(self.state, "control.sock"))), "no socket")
        # READY: the first pass has written the status file.
        self.assertTrue(wait_for(lambda: os.path.exists(self.status_file)),
                        "no status file")
        return self.daemon

    def stop(self, sig=signal.SIGTERM):
        self.daemon.send_signal(sig)
        if sig == signal.SIGKILL and os.path.exists(self.status_file):
            os.unlink(self.status_file)
        out, err = self.daemon.communicate(timeout=30)
        self.daemon = None
        return err

    def status(self):
        p = self.run_bitsync("status", "--format", "json")
        return p.returncode, json.loads(p.stdout)

    def set_status(self, name):
        rc, st = self.status()
        for s in st["sets"]:
            if s["name"] == name:
                return s
        return None

    def test_dropin_edit_remove(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "c.bin"), 6000)
        self.nginx()
        self.manifest("00-sources.yaml", None)
        self.start()
        placed = os.path.join(self.dst, "app", "a.bin")
        # Dropped in while running: files appear, right content.
        self.manifest("10-app.yaml", self.set_yaml(
            "app", ["a.bin"], more="on_remove: delete"), sources=False)
        self.assertTrue(wait_for(lambda: os.path.exists(placed)))
        self.assertEqual(sha(placed), sha(os.path.join(self.www, "a.bin")))
        self.assertTrue(wait_for(lambda: (self.set_status("app") or {})
                                 .get("state") == "in-sync"))
        # Edited: another file, another sha256.
        write_random(os.path.join(self.www, "a.bin"), 5500)
        self.manifest("10-app.yaml", self.set_yaml(
            "app", [("a.bin", sha(os.path.join(self.www, "a.bin"))),
                    "c.bin"], more="on_remove: delete"), sources=False)
        self.assertTrue(wait_for(lambda: os.path.exists(
            os.path.join(self.dst, "app", "c.bin"))))
        self.assertTrue(wait_for(lambda: os.path.getsize(placed) == 5500))
        # Invalid: nothing cancelled or deleted, the error shows.
        with open(os.path.join(self.mdir, "10-app.yaml"), "w") as f:
            f.write("version: 1\nsets: [\n")
        time.sleep(1.0)
        rc, st = self.status()
        self.assertEqual(rc, 1)
        self.assertFalse(st["manifest"]["valid"])
        self.assertIn("yaml-syntax",
                      [d["rule"] for d in st["manifest"]["diagnostics"]])
        self.assertTrue(os.path.exists(placed))
        # plan beside the daemon: the daemon plans (it holds the store).
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("[yaml-syntax]", p.stderr)
        self.assertIn("last valid version stays in force", p.stdout)
        # Removed: with on_remove delete only bitsync's files go.
        user = os.path.join(self.dst, "app", "user.txt")
        with open(user, "w") as f:
            f.write("mine")
        os.unlink(os.path.join(self.mdir, "10-app.yaml"))
        self.assertTrue(wait_for(lambda: not os.path.exists(placed)))
        self.assertTrue(os.path.exists(user))
        with open(self.metrics) as f:
            m = f.read()
        self.assertIn("bitsync_manifest_valid 1", m)
        self.assertIn("bitsync_last_reconcile_timestamp_seconds", m)
        err = self.stop()
        self.assertIn("set=app action=create", err)

    def test_apply_talks_to_daemon(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        self.start()
        # plan beside the daemon is answered by the daemon.
        rc, plan = self.plan_json()
        self.assertIn(self.action(plan, "app")["action"],
                      ("create", "wait", "complete-after-verify", "none"))
        p = self.run_bitsync("apply", "--wait", "--timeout", "60s")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("by the daemon", p.stderr)
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.dst, "app",
                                                    "a.bin")))

    def test_control_socket_refuses_other_users(self):
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        self.start()
        sock = os.path.join(self.state, "control.sock")
        nobody = pwd.getpwnam("nobody")
        os.chmod(self.state, 0o755)
        os.chmod(sock, 0o666)       # even when the mode would let it in
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(sock)
                # The refusal comes before any request is read.
                os.write(w, s.recv(200))
            except Exception as e:
                os.write(w, ("exception %s" % e).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        answer = os.read(r, 200).decode()
        self.assertIn("permission denied", answer)

    def test_kill9_daemon_mid_transfer(self):
        size = 6 * MiB
        write_random(os.path.join(self.www, "big.bin"), size)
        self.nginx(limit_rate=2 * MiB)
        self.manifest("10-app.yaml", self.set_yaml("app", ["big.bin"]))
        d = self.start()
        self.wait_temp(os.path.join(self.dst, "app"), 2 * MiB, d)
        self.stop(signal.SIGKILL)
        self.start()
        placed = os.path.join(self.dst, "app", "big.bin")
        self.assertTrue(wait_for(lambda: os.path.exists(placed), 60))
        self.assertEqual(sha(placed), sha(os.path.join(self.www,
                                                       "big.bin")))
        err = self.stop()
        self.assertNotIn("action=create", err)
        log = self.requests("/big.bin")
        # Resumed, not restarted: the last request is a Range request
        # from at least what the temp file held when the kill came
        # (bytes still in socket buffers then were sent but lost).
        self.assertEqual(log[-1]["status"], 206, log)
        start = int(log[-1]["range"].split("=")[1].rstrip("-"))
        self.assertGreaterEqual(start, 2 * MiB)
        self.assertEqual(log[-1]["body_bytes_sent"], size - start)
        self.assertEqual(self.jobs(), [])

    def test_config_change_and_sighup_reload(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        self.start()
        self.assertTrue(wait_for(lambda: os.path.exists(self.metrics)))
        other = os.path.join(self.dir, "other.prom")
        with open(self.config) as f:
            text = f.read()
        with open(self.config + ".tmp", "w") as f:
            f.write(text.replace(self.metrics, other))
        os.rename(self.config + ".tmp", self.config)
        # Picked up on its own: the new metrics file appears.
        self.assertTrue(wait_for(lambda: os.path.exists(other), 20))
        # SIGHUP re-reads too; the daemon goes on.
        os.unlink(other)
        self.daemon.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: os.path.exists(other), 20))
        self.assertIsNone(self.daemon.poll())
        err = self.stop()
        self.assertIn("event=reloading", err)

    def test_local_file_deleted_is_restored(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml(
            "app", ["a.bin"], more="refresh: 1s"))
        self.start()
        placed = os.path.join(self.dst, "app", "a.bin")
        self.assertTrue(wait_for(lambda: os.path.exists(placed)))
        os.unlink(placed)
        # The refresh is due every second: the daemon wakes for it.
        self.assertTrue(wait_for(lambda: os.path.exists(placed), 20))

    def test_start_splay_delays_a_change(self):
        # Fleets: [agent] start_splay puts a random delay between a
        # manifest change and the pass that starts its transfers.
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:
            f.write(text.replace("interval = 1h\n",
                                 "interval = 1h\nstart_splay = 4s\n"))
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        self.manifest("00-sources.yaml", None)
        self.start()
        placed = os.path.join(self.dst, "app", "a.bin")
        t0 = time.monotonic()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]),
                      sources=False)
        self.assertTrue(wait_for(lambda: os.path.exists(placed), 20))
        took = time.monotonic() - t0
        err = self.stop()
        m = re.search(r"start_splay=\"acting on it in ([0-9.]+) s", err)
        self.assertIsNotNone(m, err)
        delay = float(m.group(1))
        self.assertLessEqual(delay, 4.0)
        self.assertGreaterEqual(took, delay)


if __name__ == "__main__":
    unittest.main()
