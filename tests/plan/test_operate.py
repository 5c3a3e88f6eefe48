"""Operating the agent (issue 12): what an administrator meets on the
command line and in retries.  Real engine against nginx on 127.0.0.1.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/plan/test_operate.py OperateTest.test_backend_refused
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_apply import Base, write_random, wait_for  # noqa: E402
import servers  # noqa: E402



class OperateTest(Base):
    def test_backend_refused(self):
        """backend = bits off Windows: every command that would open a
        backend exits 69 with a sentence naming the config and the fix;
        nothing is created in the state directory."""
        with open(self.config) as f:
            good = f.read()
        with open(self.config, "a") as f:
            f.write("[agent]\nbackend = bits\n")
        before = sorted(os.listdir(self.state))
        for cmd in (["plan"], ["apply"], ["status"], ["run"]):
            p = self.run_bitsync(*cmd, timeout=20)
            self.assertEqual(p.returncode, 69, (cmd, p.stdout, p.stderr))
            self.assertIn(self.config, p.stderr)
            self.assertIn("backend = bits", p.stderr)
            self.assertIn("backend = engine", p.stderr)
        # no store was opened (a lock file may be probed)
        self.assertEqual([f for f in os.listdir(self.state)
                          if f != "reconcile.lock"], before)
        # The same config with the engine named works.
        with open(self.config, "w") as f:
            f.write(good + "[agent]\nbackend = engine\n")
        p = self.run_bitsync("plan", timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)


    def test_output_folders_made_or_refused(self):
        """status_file's and metrics_file's folders are made at start
        when missing; one that cannot be (a file in the way) is refused
        at reload and at start, once, at the key's file and line, naming
        the key and what to do; the refused reload keeps the old config
        and no pass logs a failed write."""
        with open(self.config) as f:
            base = f.read()
        status = os.path.join(self.dir, "st", "a", "status.json")
        deep = os.path.join(self.dir, "prom", "textfile", "bitsync.prom")

        def config(metrics):
            with open(self.config, "w") as f:
                f.write(base + "[agent]\nstatus_file = %s\n"
                        "metrics_file = %s\n" % (status, metrics))
            return len(base.splitlines()) + 3   # metrics_file's line

        config(deep)
        d = self.spawn_bitsync("run")
        try:
            made = wait_for(lambda: os.path.exists(deep) and
                            os.path.exists(status), 20)
            blocker = os.path.join(self.dir, "afile")
            with open(blocker, "w") as f:
                f.write("not a folder\n")
            before = os.stat(deep).st_mtime_ns
            time.sleep(0.05)
            # the daemon watches its config: the edit is a reload
            line = config(os.path.join(blocker, "bitsync.prom"))
            # the refused reload's pass still writes the old metrics_file
            wait_for(lambda: os.stat(deep).st_mtime_ns != before, 10)
            time.sleep(1)
            alive = d.poll() is None
        finally:
            d.terminate()
            out, err = d.communicate(timeout=20)
        self.assertTrue(made, err)
        self.assertTrue(alive, err)
        self.assertNotEqual(os.stat(deep).st_mtime_ns, before, err)
        for key, folder in (("status_file", os.path.dirname(status)),
                            ("metrics_file", os.path.dirname(deep))):
            self.assertIn("event=folder-created key=%s folder=%s" %
                          (key, folder), err)
        self.assertIn("event=reload-refused", err)
        refused = [ln for ln in err.splitlines()
                   if "key metrics_file in [agent]" in ln]
        self.assertEqual(len(refused), 1, err)
        self.assertIn("level=error file=%s line=%d " % (self.config, line),
                      refused[0])
        self.assertIn("its folder %s cannot be created" % blocker, refused[0])
        self.assertIn("or leave it empty", refused[0])
        self.assertNotIn("key=metrics_file error=", err)
        # At start: exit 1 at once with the same record, nothing written.
        os.unlink(status)
        p = self.run_bitsync("run", timeout=20)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("level=error file=%s line=%d " % (self.config, line),
                      p.stderr)
        self.assertIn("key metrics_file in [agent]", p.stderr)
        self.assertFalse(os.path.exists(status), p.stderr)

    def status_set(self, name):
        p = self.run_bitsync("status", "--format", "json", timeout=20)
        self.last_status = (p.returncode, p.stdout[-2000:], p.stderr)
        for s in json.loads(p.stdout)["sets"] if p.stdout else ():
            if s["name"] == name:
                return s
        return None

    def test_404_counted_and_apply_retries_at_once(self):
        """A 404 is a failure from the first pass on: attempts, last_error
        with its context and code in status; an explicit apply retries it
        at once, whatever the backoff (design §5)."""
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml(
            "app", ["missing.bin"], more="retry_delay: 1h"))
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(len(self.requests("/missing.bin")), 1)
        s = self.status_set("app")
        self.assertEqual(s["state"], "waiting-to-retry")
        self.assertEqual(s["attempts"], 1)
        self.assertIn("REMOTE_FILE", s["last_error"])
        self.assertIn("0x80190194", s["last_error"])
        # The error reached apply's log once, with context and code.
        self.assertEqual(p.stderr.count("result=failed"), 1, p.stderr)
        self.assertIn("0x80190194", p.stderr)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(len(self.requests("/missing.bin")), 2)
        self.assertGreaterEqual(self.status_set("app")["attempts"], 2)

    def test_disk_full_in_status(self):
        """A destination whose file system fills up: the daemon's status
        shows the set failed with attempts, last_error and BITS's
        LOCAL_FILE context and 0x80070070 (ERROR_DISK_FULL), its metrics
        a failure, its log one error record with context and code."""
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root")
        full = os.path.join(self.dir, "full")
        os.makedirs(full)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m",
                            "tmpfs", full], capture_output=True, text=True)
        if m.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + m.stderr.strip())
        try:
            write_random(os.path.join(self.www, "big.bin"), 4 << 20)
            self.nginx()
            prom = os.path.join(self.dir, "bitsync.prom")
            with open(self.config, "a") as f:
                f.write("[agent]\nmetrics_file = %s\n" % prom)
            self.manifest("10-app.yaml", self.set_yaml(
                "big", ["big.bin"], dest=os.path.join(full, "big"),
                more="retry_delay: 1h"))
            d = self.spawn_bitsync("run")
            try:
                s = wait_for(lambda: (lambda x: x if x and
                                      x["attempts"] >= 1 else None)(
                    self.status_set("big")), 40)
                time.sleep(2)
                with open(prom) as f:
                    metrics = f.read()
            finally:
                d.send_signal(signal.SIGTERM)
                out, err = d.communicate(timeout=30)
            self.assertIsNotNone(s, (self.last_status, err[-3000:]))
            self.assertIn(s["state"], ("failed", "waiting-to-retry"), s)
            self.assertIn("LOCAL_FILE", s["last_error"])
            self.assertIn("0x80070070", s["last_error"])
            self.assertRegex(metrics, r'bitsync_set_failures_total\{set="big"\} [1-9]')
            errs = [ln for ln in err.splitlines()
                    if ln.startswith("level=error ") and " set=big " in ln]
            self.assertEqual(len(errs), 1, err[-3000:])
            self.assertIn("context=LOCAL_FILE", errs[0])
            self.assertIn("0x80070070", errs[0].lower())
            self.assertFalse(os.path.exists(os.path.join(full, "big",
                                                         "big.bin")))
        finally:
            subprocess.run(["umount", "-l", full], capture_output=True)

    def test_fixed_sha256_retried_at_edit(self):
        """A set refused for its sha256 waits out its backoff (1 h here)
        only while the manifest stays as it was: the edit that fixes the
        hash is acted on within seconds by the running daemon."""
        path = os.path.join(self.www, "a.bin")
        write_random(path, 20000)
        with open(path, "rb") as f:
            good = hashlib.sha256(f.read()).hexdigest()
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml(
            "app", [("a.bin", "00" * 32)], more="retry_delay: 1h"))
        d = self.spawn_bitsync("run")
        try:
            s = wait_for(lambda: (lambda x: x if x and x["attempts"] >= 1
                                  else None)(self.status_set("app")))
            if s is None:
                rc = d.poll()
                try:
                    wchan = open("/proc/%d/wchan" % d.pid).read()
                except OSError:
                    wchan = None
                d.send_signal(signal.SIGTERM)
                out, err = d.communicate(timeout=30)
                self.fail("the mismatch was never reported: daemon rc %r "
                          "wchan %r, last status %r\n%s"
                          % (rc, wchan, self.last_status, err[-3000:]))
            self.assertIn("sha256 mismatch", s["last_error"])
            self.assertGreater(s["retry_at"], time.time() + 600)
            t0 = time.monotonic()
            self.manifest("10-app.yaml", self.set_yaml(
                "app", [("a.bin", good)], more="retry_delay: 1h"))
            ok = wait_for(lambda: os.path.exists(os.path.join(
                self.dst, "app", "a.bin")), timeout=20)
            self.assertTrue(ok, "the fixed set was not retried")
            self.assertLess(time.monotonic() - t0, 10)
            s = wait_for(lambda: (lambda x: x if x and x["state"] ==
                                  "in-sync" else None)(
                self.status_set("app")), timeout=10)
            self.assertIsNotNone(s)
            self.assertEqual(s["attempts"], 0)
        finally:
            d.send_signal(signal.SIGTERM)
            d.communicate(timeout=30)

    def test_metrics_404_alert(self):
        """A set failing with 404 shows in metrics on the daemon's first
        pass (state failed/waiting = 1, failures counter > 0, the manifest
        digest, the build); promtool accepts the file, and the sample alert
        BitsyncSetFailed fires for it on the first evaluation."""
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian prometheus) is "
                             "listed in packaging/apt-packages.txt")
        metrics = os.path.join(self.dir, "metrics", "bitsync.prom")
        os.makedirs(os.path.dirname(metrics))
        with open(self.config, "a") as f:
            f.write("[agent]\nmetrics_file = %s\n" % metrics)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["missing.bin"]))
        d = self.spawn_bitsync("run")
        try:
            def failing():
                try:
                    with open(metrics) as f:
                        text = f.read()
                except OSError:
                    return None
                if re.search(r'bitsync_set_state\{set="app",state='
                             r'"(failed|waiting)"\} 1', text):
                    return text
                return None
            text = wait_for(failing, timeout=20)
            self.assertIsNotNone(text, "the 404 never reached the metrics")
        finally:
            d.send_signal(signal.SIGTERM)
            d.communicate(timeout=30)
        m = re.search(r'bitsync_set_failures_total\{set="app"\} (\d+)',
                      text)
        self.assertTrue(m and int(m.group(1)) >= 1, text)
        self.assertRegex(text, r'bitsync_manifest_info\{digest="[0-9a-f]'
                         r'{64}"\} 1')
        self.assertRegex(text, r'bitsync_build_info\{version="[^"]+"\} 1')
        p = subprocess.run([promtool, "check", "metrics"], input=text,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # The real series, as a scrape would give them, into promtool's
        # rule test: the sample alert must fire at the first evaluation.
        series = []
        for line in text.splitlines():
            mm = re.match(r'(bitsync_set_state\{[^}]*\}) (\d+)$', line)
            if mm:
                labels = mm.group(1).replace("}", ',instance="h1"}')
                series.append({"series": labels,
                               "values": "%sx5" % mm.group(2)})
        state = re.search(r'bitsync_set_state\{set="app",state="(failed|'
                          r'waiting)"\} 1', text).group(1)
        rules = os.path.join(os.path.dirname(HERE), "..", "samples",
                             "prometheus", "bitsync.rules.yml")
        import yaml
        with open(rules) as f:
            rule = [r for g in yaml.safe_load(f)["groups"]
                    for r in g["rules"]
                    if r.get("alert") == "BitsyncSetFailed"][0]
        annotations = {
            "summary": "bitsync set app on h1 failed",
            "description": rule["annotations"]["description"]}
        test = {"rule_files": [os.path.abspath(rules)],
                "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": series,
                           "alert_rule_test": [{
                               "eval_time": "1m",
                               "alertname": "BitsyncSetFailed",
                               "exp_alerts": [{"exp_labels": {
                                   "set": "app", "state": state,
                                   "instance": "h1",
                                   "severity": "warning"},
                                   "exp_annotations": annotations}]}]}]}
        tf = os.path.join(self.dir, "rules_test.yml")
        with open(tf, "w") as f:
            json.dump(test, f)    # JSON is YAML
        p = subprocess.run([promtool, "test", "rules", tf],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def daemon_big_transfer(self, size, rate_limit=None, limit_rate=None):
        """A daemon with its own state_dir (not the default, no
        status_file in the config) transferring one big file."""
        write_random(os.path.join(self.www, "big.bin"), size)
        if rate_limit:
            with open(self.config, "a") as f:
                f.write("[engine]\nrate_limit = %d\n" % rate_limit)
        self.nginx(limit_rate=limit_rate)
        self.manifest("10-big.yaml", self.set_yaml("big", ["big.bin"]))
        d = self.spawn_bitsync("run")
        self.wait_temp(os.path.join(self.dst, "big"), 1, d)
        return d

    def test_status_beside_daemon_and_after_kill9(self):
        """status beside a running daemon whose state_dir is its own and
        whose config names no status_file: the daemon answers (agent
        running, its pid); after kill -9 of the daemon: "not running",
        the set paused, never "transferring"."""
        d = self.daemon_big_transfer(64 << 20, limit_rate=1 << 20)
        try:
            p = self.run_bitsync("status", timeout=20)
            self.assertIn("agent: running, pid %d" % d.pid, p.stdout,
                          p.stdout + p.stderr)
            self.assertRegex(p.stdout, r"big\s+transferring")
            s = json.loads(self.run_bitsync("status", "--format",
                                            "json").stdout)
            self.assertEqual(s["agent"]["pid"], d.pid)
            self.assertTrue(s["agent"]["running"])
            self.assertTrue(os.path.exists(os.path.join(
                self.state, "status.json")), "status_file follows state_dir")
        finally:
            d.kill()
            d.communicate(timeout=30)
        p = self.run_bitsync("status", timeout=20)
        self.assertIn("agent: not running", p.stdout, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout, r"big\s+transferring")
        self.assertRegex(p.stdout, r"big\s+paused")
        self.assertEqual(p.returncode, 1)

    def test_status_watch_rate_and_eta(self):
        """status --watch in a real terminal (tmux): the progress bar, a
        rate steady within 20 % of the engine's rate_limit over several
        redraws (averaged by the daemon, no flicker), and an ETA."""
        tmux = shutil.which("tmux")
        self.assertIsNotNone(tmux, "tmux is in packaging/apt-packages.txt")
        limit = 2 << 20
        d = self.daemon_big_transfer(200 << 20, rate_limit=limit)
        sock = os.path.join(self.dir, "tmux.sock")
        try:
            # let the daemon's 10 s window fill
            time.sleep(4)
            subprocess.run([tmux, "-S", sock, "new-session", "-d", "-x",
                            "120", "-y", "40", os.path.abspath(
                                os.environ.get("BITSYNC", "bitsync")),
                            "-c", self.config, "status", "--watch"],
                           check=True)
            rates, screens = [], []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(rates) < 6:
                time.sleep(1.5)
                scr = subprocess.run([tmux, "-S", sock, "capture-pane",
                                      "-p"], capture_output=True,
                                     text=True).stdout
                screens.append(scr)
                m = re.search(r"rate ([0-9.]+) (KiB|MiB)/s", scr)
                if m and "ETA" in scr and re.search(r"\[#+\.*\]", scr):
                    rates.append(float(m.group(1)) *
                                 (1024 if m.group(2) == "KiB" else 1 << 20))
            self.assertGreaterEqual(len(rates), 4, "\n---\n".join(
                screens[-3:]))
            for r in rates:
                self.assertLess(abs(r - limit) / limit, 0.2,
                                (rates, screens[-1]))
        finally:
            subprocess.run([tmux, "-S", sock, "kill-server"],
                           capture_output=True)
            d.send_signal(signal.SIGTERM)
            d.communicate(timeout=30)

    def failing_sets(self):
        """An in-sync set, and three that fail three ways: HTTP 404, SMB
        access denied (a share for one user, reached as the computer,
        i.e. anonymously), a sha256 that does not match."""
        path = os.path.join(self.www, "ok.bin")
        write_random(path, 3000)
        self.nginx()
        priv = os.path.join(self.dir, "priv")
        os.makedirs(priv)
        os.chmod(priv, 0o755)
        write_random(os.path.join(priv, "p.bin"), 1000)
        smb = servers.Smbd(self.dir, {"priv": servers.Share(
            priv, guest=False, users=["daemon"])},
            users={"daemon": "Sm8-pass"})
        smb.start()
        self.servers.append(smb)
        with open(self.config, "a") as f:
            f.write("[engine]\nsmb_port = %d\n" % smb.port)
        extra = ("  share:\n    url: '\\\\127.0.0.1\\priv'\n"
                 "    auth: computer\n")
        sets = (self.set_yaml("ok", ["ok.bin"]) +
                self.set_yaml("missing", ["missing.bin"]) +
                self.set_yaml("badsum", [("ok.bin", "00" * 32)]) +
                "  - name: denied\n    source: share\n    destination: "
                "%s\n    files: [p.bin]\n" % os.path.join(self.dst, "denied"))
        self.manifest("10-sets.yaml", sets, extra=extra)

    def run_until_failed(self, level, fmt="text"):
        """The daemon at log_level, until ok is in sync and the three
        others have failed; its stderr."""
        with open(self.config, "a") as f:
            f.write("[agent]\nlog_level = %s\nlog_format = %s\n"
                    % (level, fmt))
        d = self.spawn_bitsync("run")
        try:
            def settled():
                p = self.run_bitsync("status", "--format", "json",
                                     timeout=20)
                if not p.stdout:
                    return None
                st = {s["name"]: s for s in json.loads(p.stdout)["sets"]}
                return (st.get("ok", {}).get("state") == "in-sync" and
                        all(st.get(n, {}).get("attempts", 0) >= 1
                            for n in ("missing", "badsum", "denied")))
            ok = wait_for(settled, timeout=40)
            # a few more passes: nothing of it may be logged again
            time.sleep(5)
        finally:
            d.send_signal(signal.SIGTERM)
            out, err = d.communicate(timeout=30)
        self.assertTrue(ok, err[-3000:])
        return err

    def test_log_levels(self):
        """info: one line per decision and none per wait; each failure (a
        404, an SMB access denied, a checksum mismatch) once, at error
        level, with its context and code; error: errors only; json: every
        line an object with time and level."""
        self.failing_sets()
        err = self.run_until_failed("info")
        lines = err.splitlines()
        for ln in lines:
            self.assertRegex(ln, r"^level=(error|warning|info) ", ln)
        self.assertNotIn("action=wait", err)
        self.assertIn("event=started", err)
        self.assertIn("event=stopped", err)
        expect = {"missing": ("REMOTE_FILE", "0x80190194"),
                  "denied": ("REMOTE_FILE", "0x80070005"),
                  "badsum": ("REMOTE_FILE", "0x80070017")}
        for name, (ctx, code) in expect.items():
            errs = [ln for ln in lines if ln.startswith("level=error ") and
                    " set=%s " % name in ln + " "]
            self.assertEqual(len(errs), 1, (name, errs, err[-3000:]))
            self.assertIn("context=%s" % ctx, errs[0])
            self.assertIn("code=%s" % code, errs[0].lower())
        created = [ln for ln in lines if " created " in ln and " set=ok " in ln]
        self.assertEqual(len(created), 1, err)

    def test_log_level_error_and_json(self):
        """log_level = error writes errors only; log_format = json writes
        one JSON object a line."""
        self.failing_sets()
        err = self.run_until_failed("error", "json")
        objs = [json.loads(ln) for ln in err.splitlines()]
        self.assertTrue(objs)
        for o in objs:
            self.assertEqual(o["level"], "error", o)
            self.assertRegex(o["time"], r"^\d{4}-\d\d-\d\dT")
        self.assertEqual(sorted(o.get("set") for o in objs
                                if o.get("result") == "failed"),
                         ["badsum", "denied", "missing"])


if __name__ == "__main__":
    unittest.main()
