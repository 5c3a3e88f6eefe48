"""Local files and secrets (issue 11 second reading, audit U4, U5, U9,
U10, U11, U15, U18, U19 and h2's folder-mode residual): what a local user
or a slip of mode can make a root agent trust, block on, or reveal.

Real bitsync against nginx on 127.0.0.1; tests that act as a local user
create one (useradd --system, removed in a finally, as tests/plan/
test_race.py does).  Root only.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    python3 tests/plan/test_secrets.py SecretsTest.test_ca_file_held_to_strict_modes
"""

import json
import os
import signal
import stat
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_apply  # noqa: E402
from test_apply import BITSYNC, MiB, sha, write_random  # noqa: E402
from test_race import as_user, race_user  # noqa: E402


class SecretsTest(test_apply.Base):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("these tests act as another user: run as root")
        super().setUp()
        self._user = None
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=10)
        if self._user is not None:
            self._user.__exit__(None, None, None)
        super().tearDown()

    def user(self):
        """An unprivileged user for this test (removed in tearDown)."""
        if self._user is None:
            self._user = race_user()
            self.uid, self.gid = self._user.__enter__()
        return self.uid, self.gid

    def user_run(self, argv):
        return subprocess.run(as_user(self.uid, self.gid, argv),
                              capture_output=True, text=True, timeout=30,
                              check=True)

    def config_lines(self, agent="", engine=""):
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n%s"
                    "[engine]\nmax_parallel = 2\n%s"
                    % (self.mdir, self.state, agent, engine))
        os.chmod(self.config, 0o644)

    # -- U19: no core, no ptrace of a process holding passwords -------------

    def test_daemon_and_apply_not_dumpable(self):
        """run and apply mark themselves non-dumpable: the kernel then
        gives their /proc files to root even when the agent runs as
        another account (the old code left them the agent's, and a core
        of it would hold helper passwords)."""
        uid, gid = self.user()
        os.chown(self.state, uid, gid)
        write_random(os.path.join(self.www, "big.bin"), 2 * MiB)
        self.nginx(limit_rate=256 * 1024)
        dest = os.path.join(self.dst, "app")
        os.makedirs(dest)
        os.chown(dest, uid, gid)
        self.manifest("10-app.yaml", self.set_yaml("app", ["big.bin"]))
        for cmd in (["apply", "--wait", "--timeout", "30s"], ["run"]):
            p = subprocess.Popen(as_user(uid, gid, [BITSYNC, "-c",
                                                    self.config] + cmd),
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            self.procs.append(p)
            owner = None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and p.poll() is None:
                # setpriv execs bitsync under its own pid: wait for it.
                try:
                    with open("/proc/%d/comm" % p.pid) as f:
                        comm = f.read().strip()
                    if comm == "bitsync":
                        time.sleep(0.3)
                        owner = os.stat("/proc/%d/status" % p.pid).st_uid
                        break
                except OSError:
                    pass
                time.sleep(0.02)
            alive = p.poll() is None
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=20)
            self.procs.remove(p)
            self.assertTrue(alive, "%s ended early: %s" % (cmd[0], err))
            self.assertEqual(owner, 0, "bitsync %s (uid %d) is dumpable"
                             % (cmd[0], uid))
        with open(os.path.join(test_apply.HERE, "..", "..", "packaging",
                               "systemd", "bitsync.service")) as f:
            self.assertIn("\nLimitCORE=0\n", f.read())

    # -- h2 residual: folders bitsync creates --------------------------------

    def test_new_folders_never_group_or_world_writable(self):
        """Folders made under a 0777 or a 1777 parent, by an apply started
        from a umask-0 shell, are at most 0755 (the old code copied the
        parent's mode: root-owned world-writable folders, and the
        sticky bit lost)."""
        write_random(os.path.join(self.www, "a.bin"), 1000)
        self.nginx()
        sets = ""
        for mode in (0o777, 0o1777):
            parent = os.path.join(self.dst, "open%o" % mode)
            os.makedirs(parent)
            os.chmod(parent, mode)
            sets += self.set_yaml("s%o" % mode, ["a.bin"], dest=os.path.join(
                parent, "made", "deeper"))
        self.manifest("10-app.yaml", sets)
        p = subprocess.run([BITSYNC, "-c", self.config, "apply", "--wait",
                            "--timeout", "30s"], capture_output=True,
                           text=True, timeout=60,
                           preexec_fn=lambda: os.umask(0))
        self.assertEqual(p.returncode, 0, p.stderr)
        for mode in (0o777, 0o1777):
            for sub in ("made", os.path.join("made", "deeper")):
                d = os.path.join(self.dst, "open%o" % mode, sub)
                m = stat.S_IMODE(os.lstat(d).st_mode)
                self.assertEqual(m & 0o022, 0, "%s is mode %04o" % (d, m))
                self.assertEqual(m, 0o755, "%s is mode %04o" % (d, m))

    # -- U4: ca_file ---------------------------------------------------------

    def test_ca_file_held_to_strict_modes(self):
        """A world-writable ca_file, one in a folder others can write, and
        a FIFO at ca_file are refused at config load by plan, apply and
        status with a message naming the key; nothing hangs."""
        write_random(os.path.join(self.www, "a.bin"), 1000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        ca = os.path.join(self.dir, "ca.pem")
        with open(ca, "w") as f:
            f.write("# no anchors\n")
        loose = os.path.join(self.dir, "loose")
        os.makedirs(loose)
        os.chmod(loose, 0o777)
        in_loose = os.path.join(loose, "ca.pem")
        with open(in_loose, "w") as f:
            f.write("# no anchors\n")
        os.chmod(in_loose, 0o644)
        fifo = os.path.join(self.dir, "ca.fifo")
        os.mkfifo(fifo, 0o644)
        for path, mode in ((ca, 0o666), (in_loose, None), (fifo, None)):
            if mode is not None:
                os.chmod(path, mode)
            self.config_lines(engine="ca_file = %s\n" % path)
            for cmd in (["plan"], ["apply"], ["status"]):
                try:
                    p = self.run_bitsync(*cmd, timeout=30)
                except subprocess.TimeoutExpired:
                    self.fail("%s hung on ca_file %s" % (cmd[0], path))
                self.assertNotEqual(p.returncode, 0, "%s accepted ca_file "
                                    "%s" % (cmd[0], path))
                self.assertIn("ca_file %s" % path, p.stderr)
                self.assertIn("[engine]", p.stderr)
        # The same file at 0644 in a safe folder is taken...
        os.chmod(ca, 0o644)
        status = os.path.join(self.state, "status.json")
        self.config_lines(agent="status_file = %s\ninterval = 1h\n"
                          % status, engine="ca_file = %s\n" % ca)
        p = self.run_bitsync("plan")
        self.assertIn(p.returncode, (0, 2), p.stderr)
        # ...and a daemon's reload after a chmod of it is refused.
        d = self.spawn_bitsync("run")
        self.procs.append(d)
        seen = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not os.path.exists(status):
            time.sleep(0.05)
        os.chmod(ca, 0o666)
        d.send_signal(signal.SIGHUP)
        while time.monotonic() < deadline and "ca_file" not in seen:
            time.sleep(0.1)
            with open(status) as f:
                seen = f.read()
        d.send_signal(signal.SIGTERM)
        out, err = d.communicate(timeout=20)
        self.procs.remove(d)
        self.assertIn("reload-refused", err)
        self.assertIn("ca_file %s" % ca, err)
        self.assertIn("ca_file %s" % ca, seen)

    def test_ca_file_fifo_does_not_block_transfers(self):
        """The engine reads ca_file itself without following links or
        blocking: a FIFO put there after the config was loaded fails the
        https job with a message naming ca_file (the old code handed the
        path to libcurl, which blocked the worker for ever), and the
        real file still adds its anchor."""
        write_random(os.path.join(self.www, "t.bin"), 3000)
        tls = test_apply.servers.make_cert(self.dir)
        self.nginx(tls=tls)
        fifo = os.path.join(self.dir, "ca.fifo")
        os.mkfifo(fifo, 0o644)
        try:
            p = self.drive("-A", fifo, "get", "-R", "1", "-T", "60",
                           self.web.url("/t.bin"),
                           os.path.join(self.dst, "t1"))
        except subprocess.TimeoutExpired:
            self.fail("the transfer blocked on a FIFO at ca_file")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("ca_file %s" % fifo, p.stdout)
        self.drive("cancel", p.stdout.split()[1])
        p = self.drive("-A", tls[0], "get", self.web.url("/t.bin"),
                       os.path.join(self.dst, "t2"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "t2")),
                         sha(os.path.join(self.www, "t.bin")))

    # -- U10: credential_dir and credential files ----------------------------

    def test_credential_dir_checked_and_fifo_does_not_block(self):
        """A credential_dir others can write is refused at load naming the
        key; a FIFO planted as a credential (in a safe dir, by root's
        mistake or an earlier compromise) fails the job at once instead of
        blocking the worker and Complete for ever."""
        write_random(os.path.join(self.www, "a.bin"), 1000)
        self.nginx()
        creds = os.path.join(self.dir, "creds")
        os.makedirs(creds)
        os.chmod(creds, 0o733)
        self.config_lines(agent="credential_dir = %s\n" % creds)
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]),
                      sources=False, extra=(
                          "sources:\n  web:\n    url: %s\n    proxy:\n"
                          "      usage: no_proxy\n    helper_token:\n"
                          "      credential: reader\n      usage: [network]"
                          "\n" % self.web.url("/")))
        for cmd in ("plan", "apply"):
            p = self.run_bitsync(cmd, timeout=30)
            self.assertNotEqual(p.returncode, 0, p.stderr)
            self.assertIn("credential_dir %s" % creds, p.stderr)
        os.chmod(creds, 0o700)
        os.mkfifo(os.path.join(creds, "reader"), 0o600)
        try:
            p = self.run_bitsync("apply", "--wait", "--timeout", "20s",
                                 timeout=40)
        except subprocess.TimeoutExpired:
            self.fail("apply blocked on a FIFO credential")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("credential reader", p.stdout + p.stderr)

    # -- U5, U18, h1 residual: secrets echoed in messages --------------------

    SECRETS = ("hunter2pw", "proxypw9", "SIGSECRET7", "BEARERSECRET5",
               "REDIRPW3", "REDIRSIG4")

    def test_secrets_never_echoed(self):
        """A manifest that puts secrets where the rules refuse them (url
        userinfo, proxy userinfo, a signed query, a malformed
        Authorization header item) and a server that redirects to a
        signed URL: validate (text and json), status.json and the
        daemon's log name what to fix but never carry the secret (the
        old code echoed each whole)."""
        self.nginx(extra_server='location = /redir { return 302 '
                   '"ftp://u:REDIRPW3@127.0.0.1:1/f?sig=REDIRSIG4"; }')
        self.manifest("10-ok.yaml", self.set_yaml("ok", ["redir"]))
        bad = self.manifest("20-bad.yaml", self.set_yaml("bad", ["x.bin"]),
            sources=False, extra=(
            "sources:\n"
            "  web:\n    url: https://svc:hunter2pw@127.0.0.1/p/\n"
            "  signed:\n    url: https://127.0.0.1/p/?sv=2024&sig=SIGSECRET7\n"
            "  proxied:\n    url: https://127.0.0.1/q/\n    proxy:\n"
            "      usage: override\n"
            "      servers: [\"svc:proxypw9@proxy.example:8080\"]\n"
            "    headers:\n      - Authorization Bearer BEARERSECRET5\n"))
        texts = []
        for fmt in ("text", "json"):
            p = self.run_bitsync("validate", "--format", fmt, bad)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            texts.append(("validate " + fmt, p.stdout + p.stderr))
        joined = texts[0][1] + texts[1][1]
        for want in ("https://***@127.0.0.1/p/", "sig=***",
                     "***@proxy.example:8080", "header 'Authorization ...'"):
            self.assertIn(want, joined)
        status = os.path.join(self.state, "status.json")
        self.config_lines(agent="status_file = %s\ninterval = 1h\n"
                          % status)
        d = self.spawn_bitsync("run")
        self.procs.append(d)
        deadline = time.monotonic() + 30
        seen = ""
        while time.monotonic() < deadline and d.poll() is None:
            try:
                with open(status) as f:
                    seen = f.read()
            except OSError:
                pass
            if "redirects to" in seen:
                break
            time.sleep(0.1)
        d.send_signal(signal.SIGTERM)
        out, err = d.communicate(timeout=20)
        self.procs.remove(d)
        self.assertIn("redirects to", seen, "the redirect error did not "
                      "reach status.json: %s\n%s" % (seen, err))
        self.assertIn("20-bad.yaml", seen)
        json.loads(seen)
        texts += [("status.json", seen), ("daemon log", out + err)]
        p = self.run_bitsync("status", "--format", "json")
        texts.append(("status", p.stdout + p.stderr))
        for where, text in texts:
            for secret in self.SECRETS:
                self.assertNotIn(secret, text, "%s shows %s:\n%s"
                                 % (where, secret, text))

    # -- U11: status_file read back ------------------------------------------

    def forged(self, name):
        return json.dumps({
            "version": 1, "pid": 1, "generated": int(time.time()),
            "manifest": {"valid": True, "diagnostics": []},
            "summary": {"sets": 1, "in_sync": 1, "transferring": 0},
            "sets": [{"name": name, "state": "in-sync",
                      "reason": "forged", "attempts": 0}]})

    def test_status_file_fallback_trusts_only_the_daemons(self):
        """With no daemon answering, status and apply --wait fall back to
        status_file.  In a folder a user owns, the user's own document
        (all in sync, a live pid) is not believed, a FIFO there does not
        block, and a root-written document's control characters are
        not sent to the terminal (the old code believed, blocked and
        printed them)."""
        uid, gid = self.user()
        write_random(os.path.join(self.www, "a.bin"), 1000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        folder = os.path.join(self.dir, "collector")
        os.makedirs(folder)
        os.chown(folder, uid, gid)
        status = os.path.join(folder, "status.json")
        self.config_lines(agent="status_file = %s\n" % status)
        self.user_run(["sh", "-c", 'printf "%s" "$2" > "$1"', "-", status,
                       self.forged("FORGEDSET")])
        p = self.run_bitsync("status", timeout=30)
        self.assertNotIn("FORGEDSET", p.stdout, "a user's status_file "
                         "was believed")
        self.assertIn("app", p.stdout)
        self.user_run(["sh", "-c", 'rm -f "$1" && mkfifo -m 666 "$1"', "-",
                       status])
        try:
            p = self.run_bitsync("status", timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("status blocked on a FIFO at status_file")
        self.assertIn("app", p.stdout)
        # A document the daemon (root) wrote is believed, but printed
        # without its control characters.
        self.user_run(["rm", "-f", status])
        with open(status, "w") as f:
            f.write(self.forged("ROOT\x1b[2J\x1b]0;t\x07SET\u009b1m"))
        p = self.run_bitsync("status", timeout=30)
        self.assertIn("ROOT?[2J?]0;t?SET?1m", p.stdout)
        self.assertNotIn("\x1b", p.stdout)
        self.assertNotIn("\u009b", p.stdout)


    # -- U15: observations through a swapped folder ------------------------

    def test_folder_swapped_for_symlink_is_drift(self):
        """The user who owns the folder above a set's destination renames
        the set's folder and puts a symlink to it in its place: every
        file still looks in sync through the link (same inodes), but the
        destination is now the user's to repoint.  The agent must see
        drift, not in sync (the old code followed the link)."""
        uid, gid = self.user()
        home = os.path.join(self.dst, "user")
        os.makedirs(home)
        os.chown(home, uid, gid)
        write_random(os.path.join(self.www, "a.bin"), 1000)
        write_random(os.path.join(self.www, "b.bin"), 1000)
        self.nginx()
        dest = os.path.join(home, "app")
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin", "b.bin"],
                                                   dest=dest))
        p = self.run_bitsync("apply", "--wait", "--timeout", "30s")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.user_run(["sh", "-c", 'mv "$1" "$1.real" && ln -s app.real '
                       '"$1"', "-", dest])
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertNotEqual(p.returncode, 0, "a destination folder swapped "
                            "for a symlink looks in sync:\n" + p.stdout)
        p = self.run_bitsync("status", "--format", "json")
        st = json.loads(p.stdout)
        self.assertNotEqual(st["sets"][0]["state"], "in-sync", p.stdout)
        # Nothing was written through the link.
        self.assertEqual(sorted(os.listdir(dest + ".real")),
                         ["a.bin", "b.bin"])
        # apply refuses to write through it and says why.
        p = self.run_bitsync("apply", "--wait", "--timeout", "20s")
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertIn("symbolic link", self.run_bitsync("status").stdout)

    # -- U9: the temp swapped between the last check and its rename ---------

    RACER = r"""
import os, sys
home, first, temp, other = sys.argv[1:5]
print("ready", flush=True)
while not os.path.exists(first):
    pass
os.rename(other, temp)
print("moved", flush=True)
"""

    def drive(self, *args):
        return subprocess.run([test_apply.DRIVE, "-s", self.state] +
                              list(args), capture_output=True, text=True,
                              timeout=30)

    def test_temp_swapped_during_complete_renames(self):
        """Complete checks every temp (sync_temps), then renames them one
        by one.  The user who owns the folder waits for the first rename
        and moves another root-owned, single-link file of the folder (an
        older version, say) onto the last temp's name: it must not be
        committed (the old code renamed it into place by name)."""
        uid, gid = self.user()
        home = os.path.join(self.dst, "user")
        os.makedirs(home)
        os.chown(home, uid, gid)
        write_random(os.path.join(self.www, "a.bin"), 2000)
        self.nginx()
        n, hit = 300, 0
        for rnd in range(6):
            folder = os.path.join(home, "r%d" % rnd)
            self.user_run(["mkdir", "-m", "755", folder])
            pairs = []
            for i in range(n):
                pairs += [self.web.url("/a.bin"),
                          os.path.join(folder, "f%03d.bin" % i)]
            p = self.drive("create", *pairs)
            self.assertEqual(p.returncode, 0, p.stderr)
            guid = p.stdout.split()[0]
            p = self.drive("run", "-w", "60", guid)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            temp = self.drive("temp", guid, str(n - 1)).stdout.strip()
            self.assertTrue(os.path.isfile(temp), temp)
            other = os.path.join(folder, "old.bin")
            with open(other, "wb") as f:
                f.write(b"old version")
            os.chmod(other, 0o644)
            r = subprocess.Popen(as_user(uid, gid, [
                sys.executable, "-c", self.RACER, folder,
                os.path.join(folder, "f000.bin"), temp, other]),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.procs.append(r)
            self.assertEqual(r.stdout.readline().strip(), "ready")
            p = self.drive("complete", guid)
            out, err = r.communicate(timeout=20)
            self.procs.remove(r)
            self.assertIn("moved", out, err)
            last = os.path.join(folder, "f%03d.bin" % (n - 1))
            if os.path.exists(last):
                with open(last, "rb") as f:
                    self.assertNotEqual(f.read(), b"old version",
                                        "the swapped file was committed")
            if os.path.exists(last):
                continue        # the user came too late: no race
            hit += 1
            self.assertNotEqual(p.returncode, 0, "Complete of a job "
                                "whose temp was swapped is not partial")
            if hit >= 2:
                break
        self.assertGreater(hit, 0, "the race was never run inside the "
                           "rename loop")


if __name__ == "__main__":
    unittest.main()
