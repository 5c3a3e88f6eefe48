"""Observability samples and docs against what the agent really writes.

Runs `bitsync run` on a temporary tree with a set that transfers slowly from
nginx on 127.0.0.1 (tests/servers/servers.py), reads the status_file and
metrics_file it writes mid-transfer, and checks:

  - samples/prometheus/bitsync.rules.yml is YAML with the structure
    Prometheus expects (groups -> rules -> alert/expr/for/labels/
    annotations), and its expressions use only metrics the agent writes
    (with `promtool check rules` too when Debian's prometheus is installed;
    it is not in packaging/apt-packages.txt: 96 MB for one check);
  - the metrics file is valid text exposition (HELP and TYPE per metric);
  - README.md's "## Observability" section names every metric and every
    status JSON field the agent writes, so the docs cannot drift.

Run: BITSYNC=build/bitsync /usr/bin/python3 tests/cm/test_observability.py
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))
import servers  # noqa: E402

BITSYNC = os.path.abspath(os.environ.get(
    "BITSYNC", os.path.join(ROOT, "build", "bitsync")))
RULES = os.path.join(ROOT, "samples", "prometheus", "bitsync.rules.yml")
README = os.path.join(ROOT, "README.md")
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? '
                    r'(-?[0-9.eE+-]+|NaN|[+-]Inf)$')


def observability_section():
    with open(README) as f:
        text = f.read()
    m = re.search(r"^## Observability\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return m.group(1) if m else None


class Observed(unittest.TestCase):
    """One daemon run shared by the tests: status and metrics mid-transfer."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="bitsync-obs-")
        os.chmod(cls.dir, 0o755)
        www = os.path.join(cls.dir, "www")
        mdir = os.path.join(cls.dir, "manifest.d")
        state = os.path.join(cls.dir, "state")
        for d in (www, mdir):
            os.makedirs(d)
            os.chmod(d, 0o755)
        os.makedirs(state, 0o700)
        with open(os.path.join(www, "big.bin"), "wb") as f:
            f.write(os.urandom(4 << 20))
        os.chmod(os.path.join(www, "big.bin"), 0o644)
        cls.web = servers.Nginx(cls.dir, www, limit_rate=256 * 1024)
        cls.web.start()
        cls.status_file = os.path.join(state, "status.json")
        cls.metrics_file = os.path.join(state, "bitsync.prom")
        config = os.path.join(cls.dir, "bitsync.ini")
        with open(config, "w") as f:
            f.write("[agent]\nmanifest =\nmanifest_dir = %s\nstate_dir = %s\n"
                    "status_file = %s\nmetrics_file = %s\n"
                    % (mdir, state, cls.status_file, cls.metrics_file))
        os.chmod(config, 0o644)
        with open(os.path.join(mdir, "10-obs.yaml"), "w") as f:
            f.write("version: 1\nsources:\n  web:\n    url: %s\n"
                    "    proxy: {usage: no_proxy}\nsets:\n"
                    "  - name: big\n    source: web\n"
                    "    destination: %s\n    files: [big.bin]\n"
                    % (cls.web.url("/"), os.path.join(cls.dir, "dst")))
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("http_proxy", "https_proxy",
                                    "all_proxy", "no_proxy")}
        env.pop("NOTIFY_SOCKET", None)
        cls.daemon = subprocess.Popen([BITSYNC, "-c", config, "run"],
                                      stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=env)
        cls.status = cls.metrics = None
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                try:
                    with open(cls.status_file) as f:
                        st = json.load(f)
                    with open(cls.metrics_file) as f:
                        metrics = f.read()
                except (OSError, ValueError):
                    st = None
                if st and st["sets"] and isinstance(st["sets"][0]["job"],
                                                    dict):
                    cls.status, cls.metrics = st, metrics
                    break
                time.sleep(0.1)
        finally:
            cls.daemon.send_signal(signal.SIGTERM)
            try:
                cls.daemon.wait(20)
            except subprocess.TimeoutExpired:
                cls.daemon.kill()
                cls.daemon.wait()
            cls.web.stop()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.assertIsNotNone(self.status, "the daemon wrote no status with "
                             "a job in progress within 60 s")

    def emitted_metrics(self):
        return set(re.findall(r"^# TYPE (\S+) ", self.metrics, re.M))

    def test_metrics_file_is_text_exposition(self):
        helps = set(re.findall(r"^# HELP (\S+) ", self.metrics, re.M))
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", self.metrics, re.M))
        self.assertEqual(helps, set(types))
        self.assertTrue(self.metrics.endswith("\n"))
        samples = 0
        for line in self.metrics.splitlines():
            if line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            self.assertIsNotNone(m, "not a sample line: %r" % line)
            self.assertIn(m.group(1), types)
            samples += 1
        self.assertGreater(samples, 0)
        self.assertIn('bitsync_set_in_sync{set="big"} 0', self.metrics)

    def test_rules_structure(self):
        with open(RULES) as f:
            doc = yaml.safe_load(f)
        self.assertEqual(set(doc), {"groups"})
        self.assertIsInstance(doc["groups"], list)
        self.assertTrue(doc["groups"])
        alerts = set()
        emitted = self.emitted_metrics()
        for g in doc["groups"]:
            self.assertLessEqual(set(g), {"name", "interval", "rules",
                                          "limit"})
            self.assertIsInstance(g["name"], str)
            self.assertIsInstance(g["rules"], list)
            self.assertTrue(g["rules"])
            for r in g["rules"]:
                self.assertLessEqual(set(r), {"alert", "expr", "for",
                                              "keep_firing_for", "labels",
                                              "annotations"}, r)
                self.assertRegex(r["alert"], r"^[A-Z][A-Za-z0-9]*$")
                self.assertNotIn(r["alert"], alerts)
                alerts.add(r["alert"])
                self.assertIsInstance(r["expr"], str)
                if "for" in r:
                    self.assertRegex(r["for"], DURATION)
                self.assertIn(r["labels"]["severity"],
                              ("critical", "warning", "info"))
                for k in ("summary", "description"):
                    self.assertIsInstance(r["annotations"][k], str)
                used = set(re.findall(r"\bbitsync_[a-z_]+\b", r["expr"]))
                self.assertTrue(used, r["alert"])
                self.assertLessEqual(used, emitted,
                                     "%s uses a metric the agent does not "
                                     "write" % r["alert"])

    def test_promtool_when_installed(self):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool not installed (Debian's prometheus, "
                          "not in apt-packages.txt)")
        p = subprocess.run([promtool, "check", "rules", RULES],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_readme_documents_every_metric_and_field(self):
        sec = observability_section()
        self.assertIsNotNone(sec, "README.md has no '## Observability'")
        for m in sorted(self.emitted_metrics()):
            self.assertIn("`%s" % m, sec, "metric %s undocumented" % m)
        keys = set()

        def walk(o, depth):
            if isinstance(o, dict):
                for k, v in o.items():
                    keys.add(k)
                    walk(v, depth + 1)
            elif isinstance(o, list):
                for v in o:
                    walk(v, depth + 1)
        walk(self.status, 0)
        for k in sorted(keys):
            self.assertRegex(sec, r"`(?:[\w\[\]]+\.)*%s`" % re.escape(k),
                             "status JSON field %s undocumented" % k)
        for state in ("in-sync", "transferring", "waiting-to-retry",
                      "failed", "drift", "held", "pending", "removing"):
            self.assertIn("`%s`" % state, sec)


if __name__ == "__main__":
    unittest.main()
