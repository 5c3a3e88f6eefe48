"""BITS's limits and bandwidth policy in the engine (design §2a last
bullets, §6; issue 13): a set larger than max_files_per_job carried by
several jobs and reported as one set; sets beyond max_jobs queued by
priority, never failed; rate_schedule applied to a running transfer at a
window's edge; foreground sets never limited.  Real nginx on 127.0.0.1.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/plan/test_limits.py LimitsTest.test_split_450_files
"""

import glob
import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_apply import Base, BITSYNC, DRIVE, MiB, sha, wait_for, write_random  # noqa: E402,E501


class LimitsTest(Base):
    def engine_conf(self, text):
        # setUp's config ends in its [engine] section.
        with open(self.config, "a") as f:
            f.write(text)

    def status(self):
        """status as JSON; {} while a daemon that starts has none yet."""
        p = self.run_bitsync("status", "--format", "json")
        try:
            return json.loads(p.stdout)
        except ValueError:
            return {}

    def set_status(self, st, name):
        for s in st["sets"]:
            if s["name"] == name:
                return s
        self.fail("no set %s in status: %r" % (name, st))

    def test_split_450_files(self):
        """450 files, max_files_per_job 200: the daemon carries the set on
        three jobs (bitsync:big, bitsync:big#2, bitsync:big#3 of one
        group) while status shows one set of 450 files; after a kill -9
        an apply picks the group up and the set converges, every file
        right; in sync, nothing is fetched again."""
        self.engine_conf("max_files_per_job = 200\nrate_limit = 256k\n")
        self.nginx()
        names = ["d%d/f%03d.bin" % (i // 100, i) for i in range(450)]
        for i, n in enumerate(names):
            write_random(os.path.join(self.www, n), 20000 + i)
        # With sha256 (450 insecure-transport warnings would be more
        # than a manifest may have).
        self.manifest("10-big.yaml", self.set_yaml("big", [
            (n, sha(os.path.join(self.www, n))) for n in names]))
        d = self.spawn_run({})
        try:
            def seen():
                # The daemon's status, once the set's jobs exist.
                st = self.status()
                for s in st.get("sets", []):
                    j = s.get("job") or {}
                    if s["name"] == "big" and j.get("files_total"):
                        return st
                return None
            st = wait_for(seen, timeout=60, step=0.2)
            self.assertTrue(st, "no job for the set: %r\nlog:\n%s" % (
                self.status(), self.log_tail()))
        finally:
            d.kill()
            d.communicate(timeout=30)
        self.assertEqual([s["name"] for s in st["sets"]], ["big"])
        self.assertEqual(self.set_status(st, "big")["job"]["files_total"],
                         450, st)
        self.assertEqual(st["summary"]["sets"], 1, st["summary"])
        jobs = self.jobs()
        self.assertEqual(sorted(j["name"] for j in jobs),
                         ["bitsync:big", "bitsync:big#2", "bitsync:big#3"],
                         jobs)
        self.assertEqual(sorted(j["files_total"] for j in jobs),
                         [50, 200, 200])
        group = {j["description"].split(" group=")[1] for j in jobs}
        self.assertEqual(len(group), 1, jobs)
        with open(self.config) as f:
            text = f.read().replace("rate_limit = 256k\n", "")
        with open(self.config, "w") as f:
            f.write(text)
        p = self.run_bitsync("apply", "--wait", "--timeout", "60s")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for n in names:
            self.assertEqual(sha(os.path.join(self.dst, "big", n)),
                             sha(os.path.join(self.www, n)), n)
        self.assertEqual(self.jobs(), [])
        st = self.status()
        self.assertEqual([s["name"] for s in st["sets"]], ["big"])
        self.assertEqual(self.set_status(st, "big")["state"], "in-sync")
        self.assertEqual(st["summary"]["failed"], 0)
        # In sync means in sync: a second apply transfers nothing.
        n = len(self.web.log())
        p = self.run_bitsync("apply", "--wait", "--timeout", "30s")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(len(self.web.log()), n)

    def test_job_failure_is_the_sets(self):
        """One of the set's three jobs fails (a 404 in the third): the set
        is failed with that job's error, and nothing of it is committed
        (a set is in sync only when all its jobs completed)."""
        self.engine_conf("max_files_per_job = 2\n")
        self.nginx()
        names = ["f%d.bin" % i for i in range(5)]
        for n in names[:4]:
            write_random(os.path.join(self.www, n), 1000)
        self.manifest("10-s.yaml", self.set_yaml("s", names))
        p = self.run_bitsync("apply", "--wait", "--timeout", "20s")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        s = self.set_status(self.status(), "s")
        self.assertIn(s["state"], ("failed", "waiting-to-retry"), s)
        self.assertEqual(s["job"]["state"], "ERROR", s)
        self.assertEqual(s["job"]["error"]["code"], "0x80190194", s)
        self.assertIn("0x80190194", s["last_error"] or "", s)
        self.assertEqual(os.listdir(os.path.join(self.dst, "s")) and
                         [x for x in os.listdir(os.path.join(self.dst, "s"))
                          if not x.startswith(".BIT")], [])
        # The missing file appears: the set converges.
        write_random(os.path.join(self.www, names[4]), 1000)
        p = self.run_bitsync("apply", "--wait", "--timeout", "30s")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for n in names:
            self.assertEqual(sha(os.path.join(self.dst, "s", n)),
                             sha(os.path.join(self.www, n)), n)

    def test_crash_leftovers_cancelled_lookalikes_kept(self):
        """A job of a group whose first was never made (a crash inside a
        create) is cancelled at the set's next create; a job of another
        program named like one of ours ("bitsync:s#2", its own
        description) is left alone."""
        self.engine_conf("max_files_per_job = 2\n")
        self.nginx()
        names = ["f%d.bin" % i for i in range(5)]
        for n in names:
            write_random(os.path.join(self.www, n), 3000)
        other = os.path.join(self.dir, "other")
        os.makedirs(other)

        def drive(*args):
            p = subprocess.run([DRIVE, "-s", self.state] + list(args),
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            return p.stdout.strip()
        left = drive("create", "-n", "bitsync:s#2", "-d",
                     "bitsync/1 set=s spec=%s part=2/3 group=00000000000000aa"
                     % ("0" * 64), self.web.url("f0.bin"),
                     os.path.join(other, "left.bin"))
        alike = drive("create", "-n", "bitsync:s#2", "-d", "another tool",
                      self.web.url("f1.bin"), os.path.join(other, "a.bin"))
        self.manifest("10-s.yaml", self.set_yaml("s", names))
        p = self.run_bitsync("apply", "--wait", "--timeout", "30s")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for n in names:
            self.assertEqual(sha(os.path.join(self.dst, "s", n)),
                             sha(os.path.join(self.www, n)), n)
        self.assertEqual([(j["guid"], j["state"]) for j in self.jobs()],
                         [(alike, "SUSPENDED")])
        self.assertNotIn(alike, p.stdout + p.stderr)
        self.assertNotEqual(left, alike)
        st = self.status()
        self.assertEqual([s["name"] for s in st["sets"]], ["s"])

    def test_job_budget_queues_by_priority(self):
        """max_jobs 2 and three sets: the lowest priority one waits
        ("queued: job budget") while the others transfer, nothing fails;
        then all three converge."""
        self.engine_conf("max_jobs = 2\nrate_limit = 256k\n")
        self.nginx()
        sets = ""
        for name, prio in (("a", "low"), ("b", "high"), ("c", "normal")):
            write_random(os.path.join(self.www, name + ".bin"), 400000)
            sets += self.set_yaml(name, [name + ".bin"],
                                  more="priority: %s" % prio)
        self.manifest("10-three.yaml", sets)
        d = self.spawn_run({})
        try:
            def queued():
                # From the daemon (b and c have their jobs), not from a
                # status that planned before the daemon answered.
                st = self.status()
                s = {x["name"]: x for x in st.get("sets", [])}
                if "a" in s and s["a"]["state"] == "queued" and \
                        s["b"]["job"] and s["c"]["job"]:
                    return st
                return None
            st = wait_for(queued, timeout=20, step=0.1)
            self.assertTrue(st, "a never queued: %r" % self.status())
            text = self.run_bitsync("status").stdout
            a = self.set_status(st, "a")
            self.assertEqual(a["reason"], "queued: job budget", a)
            self.assertEqual(a["attempts"], 0, a)
            self.assertIsNone(a["last_error"], a)
            self.assertIsNone(a["job"], a)
            self.assertEqual(st["summary"]["failed"], 0, st["summary"])
            for name in "bc":
                s = self.set_status(st, name)
                self.assertIsNotNone(s["job"], s)

            def done():
                st = self.status()
                return st if all(s["state"] == "in-sync"
                                 for s in st.get("sets", [])) and \
                    len(st.get("sets", [])) == 3 else None
            st = wait_for(done, timeout=40, step=0.2)
            self.assertTrue(st, self.status())
        finally:
            d.terminate()
            d.communicate(timeout=30)
        self.assertIn("queued: job budget", text)
        for name in "abc":
            s = self.set_status(st, name)
            self.assertEqual(s["attempts"], 0, s)
            self.assertEqual(sha(os.path.join(self.dst, name,
                                              name + ".bin")),
                             sha(os.path.join(self.www, name + ".bin")))

    def spawn_run(self, env):
        e = dict(os.environ)
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
            e.pop(k, None)
        e.update(env)
        # The daemon's log goes to a file: a pipe nobody reads fills up
        # (450 files log more than 64 KiB) and the daemon then blocks on
        # its next log line, answering nothing.
        self.run_log = open(os.path.join(self.dir, "run.log"), "a")
        self.addCleanup(self.run_log.close)
        return subprocess.Popen([BITSYNC, "-c", self.config, "run"],
                                stdout=self.run_log, stderr=self.run_log,
                                text=True, env=e)

    def log_tail(self):
        self.run_log.flush()
        with open(self.run_log.name) as f:
            return "".join(f.readlines()[-30:])

    def temp_size(self, d):
        t = glob.glob(os.path.join(d, ".BIT*"))
        return os.path.getsize(t[0]) if t else 0

    def test_schedule_window_starts_mid_transfer(self):
        """A transfer at the server's 4 MiB/s; a rate_schedule window of
        512 KiB/s begins (Mon 08:00, on the schedule's test clock) while
        it runs: within 2 s the measured rate is the window's."""
        self.engine_conf("rate_schedule = Mon-Fri 08:00-18:00 512k; "
                         "Sat-Sun 0\n")
        write_random(os.path.join(self.www, "big.bin"), 64 * MiB)
        self.nginx(limit_rate=4 * MiB)
        self.manifest("10-big.yaml", self.set_yaml("big", ["big.bin"]))
        edge = int(time.time()) + 5
        d = self.spawn_run({"BITSYNC_TEST_SCHEDULE_NOW":
                            "Mon 07:59:55@%d" % (edge - 5)})
        samples = []
        try:
            while time.time() < edge + 4:
                self.assertIsNone(d.poll(), "bitsync run ended early")
                samples.append((time.time(), self.temp_size(
                    os.path.join(self.dst, "big"))))
                time.sleep(0.05)
        finally:
            d.terminate()
            d.communicate(timeout=30)

        def rate(t0, t1):
            s = [x for x in samples if t0 <= x[0] <= t1]
            self.assertGreater(len(s), 3, samples)
            return (s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0])

        started = [t for t, n in samples if n > 0]
        self.assertTrue(started, "no transfer")
        before = rate(max(started[0], edge - 2.5), edge - 0.2)
        after = rate(edge + 2, edge + 4)
        # When the rate over a second first fell to the window's (under
        # 0.75 MiB/s), counted from the edge to that second's end.
        slow = [t for t, _ in samples if edge - 1 <= t <= edge + 2 and
                rate(t, t + 1) < 0.75 * MiB]
        self.assertTrue(slow, samples)
        took = slow[0] + 1 - edge
        sys.stderr.write("rate before the edge %.2f MiB/s, 2-4 s after "
                         "%.2f MiB/s; slowed %.2f s after the edge\n" %
                         (before / MiB, after / MiB, took))
        self.assertLess(took, 2.0)
        self.assertGreater(took, 0)
        self.assertGreater(before, 2.5 * MiB, (before, after))
        self.assertLess(after, 0.75 * MiB, (before, after))
        self.assertGreater(after, 0.3 * MiB, (before, after))

    def test_foreground_set_not_limited(self):
        """Under a rate_schedule window of 256 KiB/s a foreground set
        transfers at the server's 4 MiB/s while a normal one beside it is
        held to the window's rate (BITS's bandwidth policy limits
        background transfers only)."""
        self.engine_conf("rate_schedule = Daily 00:00-24:00 256k\n")
        for n in ("fg", "bg"):
            write_random(os.path.join(self.www, n + ".bin"), 8 * MiB)
        self.nginx(limit_rate=4 * MiB)
        self.manifest("10-two.yaml",
                      self.set_yaml("fg", ["fg.bin"],
                                    more="priority: foreground") +
                      self.set_yaml("bg", ["bg.bin"]))
        t0 = time.monotonic()
        d = self.spawn_run({})
        try:
            fg = os.path.join(self.dst, "fg", "fg.bin")
            self.assertTrue(wait_for(lambda: os.path.exists(fg),
                                     timeout=20), "fg never placed")
            took = time.monotonic() - t0
            bg = self.temp_size(os.path.join(self.dst, "bg"))
        finally:
            d.terminate()
            d.communicate(timeout=30)
        self.assertEqual(sha(fg), sha(os.path.join(self.www, "fg.bin")))
        # 8 MiB at 4 MiB/s; at 256 KiB/s it would take 32 s.
        self.assertLess(took, 6, took)
        self.assertLess(bg, (took + 1) * 256 * 1024 + 128 * 1024,
                        (took, bg))
        self.assertFalse(os.path.exists(os.path.join(self.dst, "bg",
                                                     "bg.bin")))

    def test_bad_schedule_refused_with_line(self):
        """A bad rate_schedule refuses the config at its line, whatever
        reads it (validate, run), and says what to write."""
        self.engine_conf("rate_limit = 1M\n"
                         "rate_schedule = Mon-Fri 08:00-18:00 2M; "
                         "Mon 17:00-19:00 1M\n")
        m = self.manifest("10-x.yaml", "  []\n", sources=False)
        p = self.run_bitsync("validate", m)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        out = p.stdout + p.stderr
        self.assertIn("%s:7:" % self.config, out)
        self.assertIn("rate_schedule: entry 2 ('Mon 17:00-19:00 1M'), "
                      "column 25: overlaps entry 1 from Mon 17:00 to "
                      "Mon 18:00", out)
        p = self.run_bitsync("run", timeout=30)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("%s:7:" % self.config, p.stderr)
        for bad, want in (("Mon 25:00-26:00 1M", "25:00 is not a time"),
                          ("Mon-Fry 1M", "'Fry' is not a day"),
                          ("Mon 08:00-18:00 2Q", "'2Q' is not a rate")):
            with open(self.config) as f:
                lines = f.read().splitlines()
            lines[-1] = "rate_schedule = " + bad
            with open(self.config, "w") as f:
                f.write("\n".join(lines) + "\n")
            p = self.run_bitsync("validate", m)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn(want, p.stdout + p.stderr)
            self.assertIn("%s:7:" % self.config, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
