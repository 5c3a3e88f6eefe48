"""End-to-end tests of `bitsync plan` and `bitsync apply` (design §4, §5)
with the real engine against nginx on 127.0.0.1.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/plan/test_apply.py ApplyTest.test_apply_then_in_sync
"""

import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
import servers  # noqa: E402

BITSYNC = os.environ.get("BITSYNC", os.path.join(
    HERE, "..", "..", "build", "bitsync"))
DRIVE = os.environ.get("ENGINE_DRIVE", os.path.join(
    HERE, "..", "..", "build", "tests", "engine", "engine_drive"))
MiB = 1 << 20


def wait_for(pred, timeout=30, step=0.05):
    """pred()'s first true value within timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_random(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    os.chmod(path, 0o644)


class Base(unittest.TestCase):
    """Folders, nginx, manifests and bitsync runs for one test."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bitsync-apply-")
        os.chmod(self.dir, 0o755)
        self.www = os.path.join(self.dir, "www")
        self.dst = os.path.join(self.dir, "dst")
        self.state = os.path.join(self.dir, "state")
        self.mdir = os.path.join(self.dir, "manifest.d")
        for d in (self.www, self.dst, self.mdir, self.state):
            os.makedirs(d)
        os.chmod(self.state, 0o700)
        os.chmod(self.www, 0o755)
        self.config = os.path.join(self.dir, "bitsync.ini")
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "[engine]\nmax_parallel = 2\n" % (self.mdir, self.state))
        os.chmod(self.config, 0o644)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def nginx(self, **kw):
        web = servers.Nginx(self.dir, self.www, **kw)
        web.start()
        self.servers.append(web)
        self.web = web
        return web

    def manifest(self, name, sets, sources=None, extra=""):
        """Writes a drop-in; sets is YAML text for the sets: list."""
        text = "version: 1\n"
        if sources is not False:
            text += ("sources:\n  web:\n    url: %s\n    proxy:\n"
                     "      usage: no_proxy\n" % self.web.url("/"))
        text += extra
        if sets is not None:
            text += "sets:\n" + sets
        path = os.path.join(self.mdir, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.chmod(path + ".tmp", 0o644)
        os.rename(path + ".tmp", path)
        return path

    def set_yaml(self, name, files, dest=None, more=""):
        dest = dest or os.path.join(self.dst, name)
        y = "  - name: %s\n    source: web\n    destination: %s\n" \
            "    files:\n" % (name, dest)
        for f in files:
            if isinstance(f, tuple):
                y += "      - path: %s\n        sha256: \"%s\"\n" % f
            else:
                y += "      - %s\n" % f
        for line in more.splitlines():
            y += "    " + line + "\n"
        return y

    def run_bitsync(self, *args, timeout=120):
        e = dict(os.environ)
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
            e.pop(k, None)
        p = subprocess.run([BITSYNC, "-c", self.config] + list(args),
                           capture_output=True, text=True, timeout=timeout,
                           env=e)
        return p

    def spawn_bitsync(self, *args):
        return subprocess.Popen([BITSYNC, "-c", self.config] + list(args),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def plan_json(self):
        p = self.run_bitsync("plan", "--format", "json")
        return p.returncode, json.loads(p.stdout)

    def action(self, plan, name):
        for s in plan["sets"]:
            if s["name"] == name:
                return s
        self.fail("no set %s in plan: %r" % (name, plan))

    def jobs(self):
        p = subprocess.run([DRIVE, "-s", self.state, "list"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return [json.loads(x) for x in p.stdout.splitlines()
                if x.startswith("{")]

    def wait_temp(self, d, size, proc, timeout=60):
        """Waits until the engine's temp file in d holds size bytes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assertIsNone(proc.poll(), "bitsync ended early")
            for t in glob.glob(os.path.join(d, ".BIT*")):
                if os.path.getsize(t) >= size:
                    return t
            time.sleep(0.02)
        self.fail("no temp file of %d bytes in %s" % (size, d))

    def requests(self, uri):
        return [r for r in self.web.log() if r["uri"] == uri]



class ApplyTest(Base):
    # -- the basic cycle --------------------------------------------------

    def test_apply_then_in_sync(self):
        write_random(os.path.join(self.www, "a.bin"), 300000)
        write_random(os.path.join(self.www, "sub", "b.bin"), 1000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", [
            ("a.bin", sha(os.path.join(self.www, "a.bin"))),
            "sub/b.bin"]))
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("+ app: create", p.stdout)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("set=app action=create", p.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "app", "a.bin")),
                         sha(os.path.join(self.www, "a.bin")))
        self.assertEqual(sha(os.path.join(self.dst, "app", "sub", "b.bin")),
                         sha(os.path.join(self.www, "sub", "b.bin")))
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rc, plan = self.plan_json()
        self.assertEqual(self.action(plan, "app")["action"], "none")
        self.assertEqual(plan["changes"], 0)
        # Nothing transferred twice, no job left behind.
        self.assertEqual(len(self.requests("/a.bin")), 1)
        self.assertEqual(self.jobs(), [])

    def test_edit_set_replaces_destination(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "c.bin"), 7000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        self.assertEqual(self.run_bitsync("apply").returncode, 0)
        write_random(os.path.join(self.www, "a.bin"), 6000)
        self.manifest("10-app.yaml", self.set_yaml("app", [
            ("a.bin", sha(os.path.join(self.www, "a.bin"))), "c.bin"]))
        rc, plan = self.plan_json()
        a = self.action(plan, "app")
        self.assertEqual((a["action"], a["reason"]),
                         ("create", "spec changed"))
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        for f in ("a.bin", "c.bin"):
            self.assertEqual(sha(os.path.join(self.dst, "app", f)),
                             sha(os.path.join(self.www, f)))

    # -- hard rules: invalid files never cancel or delete ------------------

    def test_invalid_file_keeps_last_known_good(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        good = self.set_yaml("app", ["a.bin"])
        path = self.manifest("10-app.yaml", good)
        self.assertEqual(self.run_bitsync("apply").returncode, 0)
        with open(path, "w") as f:
            f.write("version: 1\nsets: [\n")
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("[yaml-syntax]", p.stderr)
        self.assertIn("last valid version stays in force", p.stdout)
        rc, plan = self.plan_json()
        self.assertFalse(plan["valid"])
        self.assertEqual(plan["last_known_good"], [path])
        self.assertEqual(self.action(plan, "app")["action"], "none")
        # The copy is enforced: a deleted file comes back even now.
        os.unlink(os.path.join(self.dst, "app", "a.bin"))
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("[yaml-syntax]", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.dst, "app",
                                                    "a.bin")))
        self.assertNotIn("cancel", p.stderr)
        self.assertNotIn("deleted", p.stderr)
        # Fixed: valid again, reconciles.
        self.manifest("10-app.yaml", good)
        self.assertEqual(self.run_bitsync("apply").returncode, 0)
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_invalid_rule_error_cancels_nothing(self):
        write_random(os.path.join(self.www, "big.bin"), 4 * MiB)
        self.nginx(limit_rate=1 * MiB)
        path = self.manifest("10-app.yaml", self.set_yaml(
            "app", ["big.bin"], more="on_remove: delete"))
        # Start a transfer and stop the process: the job stays.
        p = self.spawn_bitsync("apply")
        self.wait_temp(os.path.join(self.dst, "app"), 1, p)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
        self.assertEqual(len(self.jobs()), 1)
        # A rule error (no network identity) on the set's own file.
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("    proxy:\n      usage: no_proxy\n", ""))
        p = self.run_bitsync("plan", "--format", "json")
        plan = json.loads(p.stdout)
        self.assertIn("network-identity",
                      [d["rule"] for d in plan["diagnostics"]])
        a = self.action(plan, "app")
        self.assertNotIn(a["action"], ("cancel-orphan",
                                       "cancel-and-recreate"))
        self.assertEqual(a["cancel"], [])
        self.assertEqual(a["delete"], [])

    # -- on_remove ---------------------------------------------------------

    def test_remove_sets_keep_and_delete(self):
        write_random(os.path.join(self.www, "k.bin"), 3000)
        write_random(os.path.join(self.www, "d.bin"), 3000)
        self.nginx()
        self.manifest("00-sources.yaml", None)
        self.manifest("10-keep.yaml", self.set_yaml(
            "keep", ["k.bin"], more="on_remove: keep"), sources=False)
        self.manifest("20-del.yaml", self.set_yaml(
            "del", ["d.bin"], more="on_remove: delete"), sources=False)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        user = os.path.join(self.dst, "del", "user.txt")
        with open(user, "w") as f:
            f.write("mine")
        os.unlink(os.path.join(self.mdir, "10-keep.yaml"))
        os.unlink(os.path.join(self.mdir, "20-del.yaml"))
        # An empty drop-in directory is valid: both sets are withdrawn.
        rc, plan = self.plan_json()
        self.assertEqual(self.action(plan, "keep")["action"], "cancel-orphan")
        d = self.action(plan, "del")
        self.assertEqual(d["delete"],
                         [os.path.join(self.dst, "del", "d.bin")])
        p = self.run_bitsync("apply")
        self.assertIn("deleted=", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.dst, "keep",
                                                    "k.bin")))
        self.assertFalse(os.path.exists(os.path.join(self.dst, "del",
                                                     "d.bin")))
        self.assertTrue(os.path.exists(user))
        rc, plan = self.plan_json()
        self.assertEqual(plan["sets"], [])

    def test_delete_spares_a_file_the_user_replaced(self):
        write_random(os.path.join(self.www, "d.bin"), 3000)
        self.nginx()
        self.manifest("20-del.yaml", self.set_yaml(
            "del", ["d.bin"], more="on_remove: delete"))
        self.assertEqual(self.run_bitsync("apply").returncode, 0)
        placed = os.path.join(self.dst, "del", "d.bin")
        with open(placed, "w") as f:
            f.write("the user's own version")
        os.unlink(os.path.join(self.mdir, "20-del.yaml"))
        self.run_bitsync("apply")
        self.assertTrue(os.path.exists(placed))

    # -- checksums, refresh, drift -----------------------------------------

    def test_checksum_mismatch_not_committed(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml(
            "app", [("a.bin", "00" * 32)]))
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("sha256 mismatch", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dst, "app",
                                                     "a.bin")))
        self.assertEqual(glob.glob(os.path.join(self.dst, "app", ".BIT*")),
                         [])
        rc, plan = self.plan_json()
        a = self.action(plan, "app")
        self.assertEqual((a["action"], a["reason"]),
                         ("wait", "waiting to retry"))
        self.assertIn("sha256 mismatch", a["last_error"])
        self.assertEqual(len(self.requests("/a.bin")), 1)
        # A person asking (apply) retries at once, whatever the backoff
        # (design §5); the bytes are refused again.
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(len(self.requests("/a.bin")), 2)
        rc, plan = self.plan_json()
        self.assertEqual(self.action(plan, "app")["attempts"], 2)

    def test_remote_change_seen_at_refresh(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml(
            "app", ["a.bin"], more="refresh: 1s"))
        self.assertEqual(self.run_bitsync("apply").returncode, 0)
        time.sleep(1.2)
        write_random(os.path.join(self.www, "a.bin"), 5001)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("recheck=remote-changed", p.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "app", "a.bin")),
                         sha(os.path.join(self.www, "a.bin")))
        # Unchanged remote: a HEAD, no body.
        time.sleep(1.2)
        p = self.run_bitsync("apply")
        self.assertIn("recheck=unchanged", p.stderr)
        self.assertEqual(len([r for r in self.requests("/a.bin")
                              if r["method"] == "GET"]), 2)

    def test_local_drift_restored_or_reported(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        self.assertEqual(self.run_bitsync("apply").returncode, 0)
        placed = os.path.join(self.dst, "app", "a.bin")
        os.unlink(placed)
        rc, plan = self.plan_json()
        a = self.action(plan, "app")
        self.assertEqual((a["action"], a["reason"], a["file"]),
                         ("create", "local file missing", placed))
        self.assertEqual(self.run_bitsync("apply").returncode, 0)
        self.assertEqual(sha(placed), sha(os.path.join(self.www, "a.bin")))
        # monitor mode: reported, not transferred
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"],
                                                   more="mode: monitor"))
        with open(placed, "ab") as f:
            f.write(b"x")
        p = self.run_bitsync("plan", "--detailed-exitcode")
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("! app: report-drift (local file changed)", p.stdout)
        gets = len(self.requests("/a.bin"))
        # Reported, not failed: the admin asked for no transfer.
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("1 drifted", p.stderr)
        self.assertEqual(len(self.requests("/a.bin")), gets)

    def test_remote_404_reported_with_context(self):
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["missing.bin"]))
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        rc, plan = self.plan_json()
        a = self.action(plan, "app")
        self.assertEqual((a["action"], a["reason"]),
                         ("wait", "waiting to retry"))
        self.assertEqual(a["job"]["state"], "ERROR")
        self.assertEqual(a["error"]["context"], "REMOTE_FILE")
        self.assertGreater(a["retry_at"], time.time())
        p = self.run_bitsync("status")
        self.assertEqual(p.returncode, 1)
        self.assertIn("waiting-to-retry", p.stdout)
        self.assertIn("REMOTE_FILE", p.stdout)

    # -- ownership ---------------------------------------------------------

    def test_foreign_job_left_alone(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        foreign = os.path.join(self.dir, "foreign.bin")
        p = subprocess.run([DRIVE, "-s", self.state, "create", "-n",
                            "bitsync:app", "-d",
                            "bitsync/1 set=app spec=" + "0" * 64, "-N",
                            self.web.url("a.bin"), foreign],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        guid = p.stdout.strip().split()[-1]
        rc, plan = self.plan_json()
        a = self.action(plan, "app")
        self.assertEqual(a["action"], "create")
        self.assertEqual(a["foreign_jobs"], 1)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        jobs = self.jobs()
        self.assertEqual([j["guid"] for j in jobs], [guid])
        self.assertEqual(jobs[0]["state"], "SUSPENDED")
        self.assertFalse(os.path.exists(foreign))

    # -- crashes and locks -------------------------------------------------

    def test_kill9_mid_transfer_resumes(self):
        size = 6 * MiB
        write_random(os.path.join(self.www, "big.bin"), size)
        self.nginx(limit_rate=2 * MiB)
        self.manifest("10-app.yaml", self.set_yaml("app", ["big.bin"]))
        p = self.spawn_bitsync("apply")
        self.wait_temp(os.path.join(self.dst, "app"), 2 * MiB, p)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        self.assertEqual(len(self.jobs()), 1)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("action=create", p.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "app", "big.bin")),
                         sha(os.path.join(self.www, "big.bin")))
        log = self.requests("/big.bin")
        # Resumed, not restarted: the last request is a Range request
        # from at least what the temp file held when the kill came
        # (bytes still in socket buffers then were sent but lost).
        self.assertEqual(log[-1]["status"], 206, log)
        start = int(log[-1]["range"].split("=")[1].rstrip("-"))
        self.assertGreaterEqual(start, 2 * MiB)
        self.assertEqual(log[-1]["body_bytes_sent"], size - start)
        self.assertEqual(self.jobs(), [])

    def test_second_apply_refused_while_one_transfers(self):
        write_random(os.path.join(self.www, "big.bin"), 4 * MiB)
        self.nginx(limit_rate=1 * MiB)
        self.manifest("10-app.yaml", self.set_yaml("app", ["big.bin"]))
        p = self.spawn_bitsync("apply")
        self.wait_temp(os.path.join(self.dst, "app"), 1, p)
        q = self.run_bitsync("apply")
        self.assertEqual(q.returncode, 69, q.stderr)
        self.assertIn("holds the job store", q.stderr)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)


if __name__ == "__main__":
    unittest.main()
