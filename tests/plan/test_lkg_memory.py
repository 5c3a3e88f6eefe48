"""Last-known-good copies are enforced from memory (issue 12, the shape):
when a drop-in file is invalid, the manifest in force is parsed from the
live bytes of the good files and the stored copy of the bad one, each under
its own path; nothing is written to disk to do it (before, reconcile_load
mirrored the inputs into STATE_DIR/effective.PID and parsed them back).

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \\
    /usr/bin/python3 tests/plan/test_lkg_memory.py LkgMemoryTest.test_copy_in_force_without_temp_folder
"""

import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_apply import Base, BITSYNC, write_random  # noqa


class LkgMemoryTest(Base):
    def traced(self, *args):
        """Runs bitsync under strace; returns (process, the file-system
        calls that create something)."""
        log = os.path.join(self.dir, "strace.log")
        env = dict(os.environ)
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
            env.pop(k, None)
        # LeakSanitizer cannot work under ptrace (it aborts the sanitized
        # build); leaks are checked by every other test.
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
            ":detect_leaks=0"
        p = subprocess.run(
            ["strace", "-f", "-qq", "-o", log, "-e",
             "trace=mkdir,mkdirat,open,openat,creat,rename,renameat,"
             "renameat2", BITSYNC, "-c", self.config] + list(args),
            capture_output=True, text=True, timeout=120, env=env)
        with open(log) as f:
            calls = [ln for ln in f if "O_CREAT" in ln or "mkdir" in ln or
                     "rename" in ln or "creat(" in ln]
        return p, calls

    def test_copy_in_force_without_temp_folder(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        write_random(os.path.join(self.www, "b.bin"), 5000)
        self.nginx()
        self.manifest("00-sources.yaml", None)
        bad = self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]),
                            sources=False)
        good = self.manifest("20-other.yaml",
                             self.set_yaml("other", ["b.bin"]),
                             sources=False)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        digest = self.digest()
        self.assertRegex(digest, "^[0-9a-f]{64}$")
        with open(bad, "w") as f:
            f.write("version: 1\nsets: [\n")
        os.unlink(os.path.join(self.dst, "app", "a.bin"))
        p, calls = self.traced("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("[yaml-syntax]", p.stderr)
        # The copy is in force (its file restored), the good file too.
        self.assertTrue(os.path.exists(os.path.join(self.dst, "app",
                                                    "a.bin")))
        self.assertTrue(os.path.exists(os.path.join(self.dst, "other",
                                                    "b.bin")))
        # ...and nothing named after the manifest was written for it.
        made = [c for c in calls if "effective" in c or ".yaml" in c]
        self.assertEqual(made, [], "".join(made))
        self.assertEqual(sorted(n for n in os.listdir(self.state)
                                if n.startswith("effective")), [])
        # Each set is reported from its own live file, the copy's from
        # the broken one.
        rc, plan = self.plan_json()
        self.assertEqual(plan["last_known_good"], [bad])
        files = {a["name"]: a["manifest_file"] for a in plan["sets"]}
        self.assertEqual(files, {"app": bad, "other": good}, plan)
        # The digest in force is the good manifest's: the copy stands
        # for the broken file (README, bitsync_manifest_info).
        self.assertEqual(self.digest(), digest)

    def digest(self):
        p = self.run_bitsync("status", "--format", "json")
        return json.loads(p.stdout)["manifest"]["digest"]


if __name__ == "__main__":
    unittest.main()
