"""Transport denial of service seen from the agent (issue 11 review, U2
and U23): a refresh probe against a server that accepts and never answers
must not keep `status` or SIGTERM waiting; a root `bitsync` started with a
user's HOME is not steered by that user's ~/.smb/smb.conf.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/plan/test_transport_daemon.py \
    TransportDaemonTest.test_status_and_sigterm_while_probe_hangs
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_apply import Base, write_random, BITSYNC, servers, wait_for  # noqa: E402



class Hang:
    """Listens on port, accepts, reads and never answers."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.accepted = 0
        self.conns = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            self.accepted += 1

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class TransportDaemonTest(Base):
    def tearDown(self):
        d = getattr(self, "daemon", None)
        if d is not None and d.poll() is None:
            d.kill()
            d.communicate()
        super().tearDown()

    def status_doc(self):
        try:
            with open(self.status_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def test_status_and_sigterm_while_probe_hangs(self):
        """U2: a set in sync, its refresh due, its server now accepting
        and never answering.  `status` is answered within seconds (the
        probe gives way, the set is probed on the next pass), the probe
        gives up after 20 s with the error in status, and SIGTERM ends
        the daemon within seconds of a probe hanging (before: 60 s of
        stall per file, status and SIGTERM unanswered meanwhile)."""
        for n in "abc":
            write_random(os.path.join(self.www, n + ".bin"), 3000)
        web = self.nginx()
        self.manifest("10-app.yaml", self.set_yaml(
            "app", ["a.bin", "b.bin", "c.bin"], more="refresh: 1s"))
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        web.stop()
        self.servers.remove(web)
        hang = Hang(web.port)
        self.addCleanup(hang.stop)
        time.sleep(1.2)
        self.status_file = os.path.join(self.state, "status.json")
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "status_file = %s\ninterval = 1h\n"
                    "[engine]\nmax_parallel = 2\n"
                    % (self.mdir, self.state, self.status_file))
        self.daemon = self.spawn_bitsync("run")
        self.assertTrue(wait_for(lambda: hang.accepted >= 1),
                        "the refresh probe never reached the server")
        t0 = time.monotonic()
        p = self.run_bitsync("status", "--format", "json", timeout=15)
        took = time.monotonic() - t0
        self.assertLess(took, 5, "status took %.1f s" % took)
        st = json.loads(p.stdout)
        self.assertEqual([s["name"] for s in st["sets"]], ["app"], st)
        # Left alone, the probe gives up after its timeout: the error is
        # the set's, in status, naming the file and what happens next.
        doc = wait_for(lambda: (lambda d: d if d and d["sets"] and
                                d["sets"][0].get("last_error") else None)(
            self.status_doc()), timeout=45, step=0.5)
        if doc is None:
            self.daemon.kill()
            out, err = self.daemon.communicate()
            self.fail("the probe's failure never reached status: %r\n%s"
                      % (self.status_doc(), err))
        err = doc["sets"][0]["last_error"]
        self.assertIn("refresh check of", err)
        self.assertIn("a.bin", err)
        self.assertNotIn("b.bin", err)
        # The next probe hangs again; SIGTERM is answered at once.
        n = hang.accepted
        self.assertTrue(wait_for(lambda: hang.accepted > n, timeout=15))
        t0 = time.monotonic()
        self.daemon.send_signal(signal.SIGTERM)
        out, err = self.daemon.communicate(timeout=30)
        took = time.monotonic() - t0
        self.assertLess(took, 5, "SIGTERM took %.1f s" % took)
        self.assertIn("recheck=deferred", err)
        self.assertIn("recheck=failed", err)
        # One failure ends the set's probe: b.bin and c.bin were never
        # asked about while a.bin's server hung.
        failed = [x for x in err.splitlines() if "recheck=failed" in x]
        self.assertTrue(failed)
        for x in failed:
            self.assertIn("a.bin", x)
            self.assertNotIn("b.bin", x)

    def test_pass_probe_budget(self):
        """U2: a pass spends at most 30 s probing.  Three sets behind one
        hanging server: two probes time out (20 s each), the third set is
        left to the next pass (before: 60 s per file, one set after the
        other, for as long as it took)."""
        for n in ("s1", "s2", "s3"):
            write_random(os.path.join(self.www, n + ".bin"), 3000)
        web = self.nginx()
        self.manifest("10-app.yaml", "".join(self.set_yaml(
            n, [n + ".bin"], more="refresh: 1s") for n in ("s1", "s2", "s3")))
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        web.stop()
        self.servers.remove(web)
        hang = Hang(web.port)
        self.addCleanup(hang.stop)
        time.sleep(1.2)
        self.daemon = self.spawn_bitsync("run")
        self.assertTrue(wait_for(lambda: hang.accepted >= 3, timeout=55),
                        "not every set was probed")
        self.daemon.send_signal(signal.SIGTERM)
        out, err = self.daemon.communicate(timeout=30)
        self.assertIn("recheck=deferred why=\"this pass spent 30s probing",
                      err)
        self.assertEqual(len([x for x in err.splitlines()
                              if "recheck=failed" in x]), 2, err)

    def test_status_and_sigterm_while_smb_probe_hangs(self):
        """U2 for UNC sources: libsmbclient has no progress callback and
        times out per request, so the probe runs on a thread of its own
        that the daemon stops waiting for (before: status and SIGTERM
        waited for libsmbclient's 20 s per request)."""
        pub = os.path.join(self.dir, "pub")
        os.makedirs(pub)
        os.chmod(pub, 0o755)
        write_random(os.path.join(pub, "a.bin"), 3000)
        os.utime(os.path.join(pub, "a.bin"), (time.time() - 60,) * 2)
        smb = servers.Smbd(self.dir, {"pub": servers.Share(pub, guest=True)})
        smb.start()
        self.servers.append(smb)
        self.status_file = os.path.join(self.state, "status.json")
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "status_file = %s\ninterval = 1h\n"
                    "[engine]\nmax_parallel = 2\nsmb_port = %d\n"
                    % (self.mdir, self.state, self.status_file, smb.port))
        self.manifest("10-unc.yaml",
                      "  - name: unc\n    source: dist\n"
                      "    destination: %s\n    refresh: 1s\n"
                      "    files:\n      - a.bin\n"
                      % os.path.join(self.dst, "unc"), sources=False,
                      extra="sources:\n  dist:\n    url: \\\\127.0.0.1\\pub\n"
                      "    auth: computer\n")
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        smb.stop()
        self.servers.remove(smb)
        hang = Hang(smb.port)
        self.addCleanup(hang.stop)
        time.sleep(1.2)
        self.daemon = self.spawn_bitsync("run")
        self.assertTrue(wait_for(lambda: hang.accepted >= 1),
                        "the refresh probe never reached the server")
        time.sleep(0.5)
        t0 = time.monotonic()
        p = self.run_bitsync("status", "--format", "json", timeout=60)
        took = time.monotonic() - t0
        self.assertLess(took, 5, "status took %.1f s" % took)
        st = json.loads(p.stdout)
        self.assertEqual([s["name"] for s in st["sets"]], ["unc"], st)
        n = hang.accepted
        wait_for(lambda: hang.accepted > n, timeout=30)
        t0 = time.monotonic()
        self.daemon.send_signal(signal.SIGTERM)
        out, err = self.daemon.communicate(timeout=60)
        took = time.monotonic() - t0
        self.assertLess(took, 5, "SIGTERM took %.1f s" % took)
        self.assertIn("recheck=deferred", err)

    def test_user_home_smb_conf_ignored(self):
        """U23: root's `bitsync apply` run with a user's HOME (sudo -E)
        never reads $HOME/.smb/smb.conf.  Here that file is a FIFO: read,
        it would block the agent for good (before: apply hung)."""
        home = os.path.join(self.dir, "userhome")
        os.makedirs(os.path.join(home, ".smb"))
        fifo = os.path.join(home, ".smb", "smb.conf")
        os.mkfifo(fifo)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]      # closed once we leave
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "[engine]\nmax_parallel = 2\nsmb_port = %d\n"
                    % (self.mdir, self.state, port))
        self.manifest("10-unc.yaml",
                      "  - name: unc\n    source: dist\n"
                      "    destination: %s\n    retry_delay: 1h\n"
                      "    files:\n      - a.bin\n"
                      % os.path.join(self.dst, "unc"), sources=False,
                      extra="sources:\n  dist:\n    url: \\\\127.0.0.1\\pub\n"
                      "    auth: computer\n")
        env = dict(os.environ, HOME=home, SMB_CONF_PATH=fifo,
                   LIBSMB_PROG="/bin/false")
        t0 = time.monotonic()
        try:
            p = subprocess.run([BITSYNC, "-c", self.config, "apply"],
                               capture_output=True, text=True, timeout=30,
                               env=env)
        except subprocess.TimeoutExpired:
            self.fail("apply hung reading the user's ~/.smb/smb.conf")
        self.assertLess(time.monotonic() - t0, 30)
        self.assertIn("set=unc", p.stderr, p.stdout + p.stderr)
        print(p.stderr, file=sys.stderr)
        # Nobody has the FIFO open for reading.
        with self.assertRaises(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


if __name__ == "__main__":
    unittest.main()
