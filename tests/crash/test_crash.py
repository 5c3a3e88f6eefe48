"""The crash campaign (issue 11, "Trust"): kill -9 of bitsync at random
instants, across create / transfer / verify / complete / delete, with the
real engine against nginx on 127.0.0.1, then the invariants a restart must
find:

- every destination file is one whole version that was published for it
  (sha256 compared with every version the test served), never a mix or a
  prefix, and nothing bitsync did not place is there;
- the state store and the engine job store pass `PRAGMA integrity_check`
  (read from a copy, so the check itself changes nothing);
- the engine store names a file completed only when its temp file holds
  the whole file; there is at most one job per set, and every job is
  recorded in the state store or adoptable (its set marked create_pending);
- after a pass that runs to the end: every destination is the current
  version, no temp file (.BIT*.tmp) is left, no job is left, and a set
  withdrawn with on_remove: delete has no file left.

Each round first edits the served files (new versions, new sha256 in the
manifest), sometimes withdraws or brings back a set (on_remove: delete),
then starts `bitsync apply` (in-process transfers) or the `run` daemon and
kills it with SIGKILL after a random delay.  One round in six kills instead
inside or right after the N-th commit of the engine store
(BITSYNC_TEST_CRASH, store.c), instants a timer cannot aim at.
PowerLossTest plays a power loss after such kills (powerloss.c).

Size: BITSYNC_CRASH_ROUNDS (default 40, about a minute); the full campaign
is BITSYNC_CRASH_ROUNDS=200 or more.  BITSYNC_CRASH_SEED fixes the random
choices (default: a new seed, printed, so a failure can be replayed).

Run: BITSYNC=build/bitsync /usr/bin/python3 tests/crash/test_crash.py
"""

import collections
import glob
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "plan"))
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
from test_apply import Base, sha  # noqa: E402

KiB = 1 << 10
MiB = 1 << 20
# set -> [(file, size)]; sizes on both sides of the engine's 1 MiB
# "small file" line (batched store writes below it).
SETS = {
    "sums": [("a.bin", 700), ("b.bin", 64 * KiB), ("c.bin", 900 * KiB),
             ("d/e.bin", 2 * MiB + 12345)],
    "plain": [("f.bin", 40 * KiB), ("g.bin", 1536 * KiB)],
    "extra": [("h.bin", 300 * KiB), ("i.bin", 1200 * KiB)],
}
WITH_SHA = {"sums", "extra"}
# Log lines a phase begins with (aimed kills).
TRIGGERS = (" created files=", "action=complete-after-verify",
            "action=cancel-orphan", "action=create", "deleted=")


def db_copy_check(path, tmpdir):
    """integrity_check of the database at path as a restart would read it
    (database and WAL copied, so nothing of the original is touched);
    returns (result, connection to the copy) or (None, None) if absent."""
    if not os.path.exists(path):
        return None, None
    base = os.path.join(tmpdir, os.path.basename(path))
    for f in glob.glob(base + "*"):
        os.unlink(f)
    shutil.copyfile(path, base)
    if os.path.exists(path + "-wal"):
        shutil.copyfile(path + "-wal", base + "-wal")
    con = sqlite3.connect(base)
    return con.execute("PRAGMA integrity_check").fetchone()[0], con


class StoreFilesTest(Base):
    """Finding 8: engine.db and its -wal/-shm are the agent's alone."""

    def setUp(self):
        super().setUp()
        with open(os.path.join(self.www, "a.bin"), "wb") as f:
            f.write(os.urandom(5000))
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", [
            ("a.bin", sha(os.path.join(self.www, "a.bin")))]))
        self.db = os.path.join(self.state, "engine.db")

    def test_engine_store_private(self):
        # A store left 0644 by an older bitsync (and its WAL) is narrowed.
        con = sqlite3.connect(self.db)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE t(x)")
        con.close()
        os.chmod(self.db, 0o644)
        old = os.umask(0o022)
        try:
            p = self.run_bitsync("apply")
        finally:
            os.umask(old)
        self.assertEqual(p.returncode, 0, p.stderr)
        found = [f for f in os.listdir(self.state)
                 if f.startswith("engine.db")]
        self.assertIn("engine.db-wal", found)
        for f in found:
            mode = stat.S_IMODE(os.lstat(os.path.join(self.state, f))
                                .st_mode)
            self.assertEqual(mode, 0o600, "%s is %o" % (f, mode))

    def test_engine_store_link_refused(self):
        target = os.path.join(self.dir, "elsewhere.db")
        open(target, "w").close()
        os.symlink(target, self.db)
        p = self.run_bitsync("apply")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(self.db + " is a symbolic link", p.stderr)
        self.assertIn("remove the link", p.stderr)
        self.assertEqual(os.path.getsize(target), 0)
        self.assertFalse(os.path.exists(os.path.join(self.dst, "app")))

    def test_engine_store_wal_link_refused(self):
        target = os.path.join(self.dir, "elsewhere-wal")
        open(target, "w").close()
        os.symlink(target, self.db + "-wal")
        p = self.run_bitsync("apply")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(self.db + "-wal is a symbolic link", p.stderr)
        self.assertEqual(os.path.getsize(target), 0)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to chown")
    def test_engine_store_foreign_owner_refused(self):
        open(self.db, "w").close()
        os.chown(self.db, 65534, 65534)
        p = self.run_bitsync("apply")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(self.db + " belongs to uid 65534", p.stderr)
        self.assertEqual(os.stat(self.db).st_uid, 65534)
        self.assertEqual(os.path.getsize(self.db), 0)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to chown")
    def test_state_store_foreign_owner_refused(self):
        # The same helper guards state.db.
        path = os.path.join(self.state, "state.db")
        open(path, "w").close()
        os.chown(path, 65534, 65534)
        p = self.run_bitsync("apply")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(path + " belongs to uid 65534", p.stderr)


class Campaign(Base):
    """Served sets, their published versions, the invariants."""

    # 8 MiB/s a connection: a pass lasts about a second, so a random
    # instant lands in any phase.
    NGINX_RATE = 8 * MiB

    def setUp(self):
        super().setUp()
        self.rounds = int(os.environ.get("BITSYNC_CRASH_ROUNDS", "40"))
        self.seed = int(os.environ.get("BITSYNC_CRASH_SEED",
                                       str(random.randrange(1 << 30))))
        print("crash campaign: %d rounds, seed %d" % (self.rounds,
                                                      self.seed),
              file=sys.stderr)
        self.rng = random.Random(self.seed)
        self.scratch = os.path.join(self.dir, "scratch")
        os.makedirs(os.path.join(self.scratch, "e"))
        self.status_file = os.path.join(self.dir, "status.json")
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "status_file = %s\ninterval = 1h\n"
                    "[engine]\nmax_parallel = 2\n"
                    % (self.mdir, self.state, self.status_file))
        self.published = collections.defaultdict(set)  # dest -> {sha}
        self.current = {}                              # (set, file) -> sha
        self.declared = {"sums", "plain", "extra"}
        self.counts = collections.Counter()
        self.history = []
        for s, files in SETS.items():
            for name, size in files:
                self.publish(s, name, size)
        self.nginx(limit_rate=self.NGINX_RATE)
        self.manifest("00-web.yaml", None)
        for s in SETS:
            self.write_manifest(s)

    def dest(self, s, name):
        return os.path.join(self.dst, s, name)

    def publish(self, s, name, size):
        """A new version of a served file, replaced atomically."""
        path = os.path.join(self.www, s, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = os.urandom(size)
        with open(path + ".new", "wb") as f:
            f.write(data)
        os.chmod(path + ".new", 0o644)
        os.rename(path + ".new", path)
        h = hashlib.sha256(data).hexdigest()
        self.current[(s, name)] = h
        self.published[self.dest(s, name)].add(h)

    def write_manifest(self, s):
        files = [(n, self.current[(s, n)]) if s in WITH_SHA else n
                 for n, _ in SETS[s]]
        self.manifest("%s.yaml" % s, self.set_yaml(
            s, files, more="path: %s\non_remove: delete\nrefresh: 1s\n"
            % s), sources=False)

    # -- one round ----------------------------------------------------

    def mutate(self):
        r = self.rng
        for s in ("sums", "plain"):
            if r.random() < 0.6:
                for name, size in r.sample(SETS[s], r.randint(1, 2)):
                    self.publish(s, name, size + r.randint(-100, 100))
                self.write_manifest(s)
        if r.random() < 0.2:
            if "extra" in self.declared:
                self.history.append("-- extra withdrawn")
                os.unlink(os.path.join(self.mdir, "extra.yaml"))
                self.declared.discard("extra")
                self.counts["set withdrawn"] += 1
            else:
                for name, size in SETS["extra"]:
                    self.publish("extra", name, size)
                self.write_manifest("extra")
                self.declared.add("extra")
        elif "extra" in self.declared and r.random() < 0.3:
            name, size = r.choice(SETS["extra"])
            self.publish("extra", name, size)
            self.write_manifest("extra")

    def spawn(self, mode, env_extra):
        env = dict(os.environ)
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
                  "BITSYNC_TEST_CRASH"):
            env.pop(k, None)
        env.update(env_extra)
        if "LD_PRELOAD" in env_extra:
            # A sanitized bitsync wants its runtime first; the shim only
            # wraps a few libc calls.
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
                ":verify_asan_link_order=0"
        args = [os.environ.get("BITSYNC", "bitsync"), "-c", self.config,
                mode]
        return subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=env)

    def phase(self, log, econ):
        """What the killed process was doing: its last decision logged,
        and for a kill after complete-after-verify, whether a rename had
        begun (a file committed in the engine store)."""
        last = "start"
        for line in log.splitlines():
            if "action=create" in line or "action=adopt" in line or \
                    "action=cancel-and-recreate" in line:
                last = "create"
            elif " created files=" in line or "action=resume" in line or \
                    "action=retry" in line:
                last = "transfer"
            elif "action=complete-after-verify" in line:
                last = "verify"
            elif " completed" in line:
                last = "after complete"
            elif "action=cancel-orphan" in line or "deleted=" in line:
                last = "delete"
            elif "recheck=" in line or "action=recheck" in line:
                last = "recheck"
        if last == "verify" and econ is not None and econ.execute(
                "SELECT count(*) FROM files WHERE completed = 2"
        ).fetchone()[0] > 0:
            last = "complete"
        return last

    def check(self, final=False):
        """The invariants; final: after a pass that ran to its end."""
        res, scon = db_copy_check(os.path.join(self.state, "state.db"),
                                  self.scratch)
        self.assertIn(res, (None, "ok"), "state.db: %s" % res)
        res, econ = db_copy_check(os.path.join(self.state, "engine.db"),
                                  os.path.join(self.scratch, "e"))
        self.assertIn(res, (None, "ok"), "engine.db: %s" % res)
        temps = []
        for root, dirs, files in os.walk(self.dst):
            for f in files:
                p = os.path.join(root, f)
                if f.startswith(".BIT") and f.endswith(".tmp"):
                    temps.append(p)
                    continue
                self.assertIn(p, self.published,
                              "a file bitsync did not place: %s" % p)
                self.assertIn(sha(p), self.published[p],
                              "%s is no whole version of its file" % p)
        jobs = []
        if econ is not None:
            recorded = set()
            pending = set()
            if scon is not None:
                recorded = {bytes(g) for g, in scon.execute(
                    "SELECT guid FROM jobs")}
                pending = {n for n, in scon.execute(
                    "SELECT name FROM sets WHERE create_pending > 0")}
            for gid, name, state, started in econ.execute(
                    "SELECT id, display_name, state, (SELECT count(*) FROM"
                    " files WHERE job = id AND temp IS NOT NULL) FROM jobs"):
                # A job cancelled moments before the kill stays in the
                # store, CANCELLED, for its carry grace (issue 11 finding
                # 10), its GUID perhaps still recorded: engine_open drops
                # it, so it is no duplicate and no orphan.
                if state == 8:
                    continue
                if bytes(gid) in recorded or \
                        name.split(":", 1)[1] in pending:
                    jobs.append((gid, name))
                    continue
                # A kill between the engine's create and the GUID's
                # record leaves the set marked create_pending, so the
                # job is adopted, or cancelled when a spec change or
                # the set's withdrawal came first (plan.c
                # pending_stale).  No job is ever of no record.
                self.fail("job %s (state %d) of no record; log:\n%s" % (
                    name, state, "\n".join(self.history[-6:])))
            names = collections.Counter(n for _, n in jobs)
            dup = [n for n, c in names.items() if c > 1]
            self.assertEqual(dup, [], "duplicated jobs: %r; log:\n%s" % (
                econ.execute("SELECT hex(id), display_name, state,"
                             " description, created FROM jobs").fetchall(),
                "\n".join(self.history[-6:])))
            for local, temp, total, jstate in econ.execute(
                    "SELECT f.local, f.temp, f.total, j.state FROM files f"
                    " JOIN jobs j ON f.job = j.id WHERE f.completed = 1"):
                # A job cancelled in its carry grace may have handed
                # its temp to the job after it: nothing left to check.
                if temp is None and jstate == 8:
                    continue
                self.assertIsNotNone(temp, "%s completed without a temp"
                                     % local)
                # A temp renamed into place by a Complete the kill
                # interrupted is gone (the store's transaction did not
                # commit; recover() fetches it again); one that is there
                # must be whole.
                t = os.path.join(os.path.dirname(local), temp)
                if os.path.exists(t):
                    self.assertEqual(os.path.getsize(t), total,
                                     "completed file %s: temp %s short; "
                                     "store: %r; folder: %r" % (
                                         local, t, econ.execute(
                                             "SELECT j.display_name,"
                                             " j.state, f.local, f.temp,"
                                             " f.total, f.done, f.completed"
                                             " FROM files f JOIN jobs j ON"
                                             " f.job = j.id").fetchall(),
                                         [(x, os.path.getsize(
                                             os.path.join(os.path.dirname(
                                                 t), x))) for x in
                                          os.listdir(os.path.dirname(t))]))
        if final:
            self.assertEqual(temps, [], "temp files left")
            self.assertEqual(jobs, [], "jobs left")
            for (s, name), h in self.current.items():
                p = self.dest(s, name)
                if s in self.declared:
                    self.assertEqual(sha(p), h, "%s not current" % p)
                elif os.path.exists(p):
                    # Known gap (issue 11 report): a kill after Complete's
                    # renames but before the state recorded them leaves
                    # the state describing the previous version; on
                    # removal bitsync then cannot prove it placed the
                    # file and spares it, as it spares a user's file.
                    # Safe (a whole version, checked above), but left
                    # behind: counted, and removed so later rounds start
                    # clean.
                    self.counts["withdrawn set's file spared"] += 1
                    os.unlink(p)
        for con in (scon, econ):
            if con is not None:
                con.close()

    def stale_plain(self):
        """Files of the set without sha256 that are not the served
        version: legitimately behind until its next refresh (a job that
        had fetched the old version before the edit commits it)."""
        return [n for n, _ in SETS["plain"]
                if not os.path.exists(self.dest("plain", n)) or
                sha(self.dest("plain", n)) != self.current[("plain", n)]]

    def converge(self):
        """apply without a kill until plan says in sync."""
        for attempt in range(8):
            t = time.monotonic()
            p = self.spawn("apply", {})
            _, err = p.communicate(timeout=120)
            self.history.append("-- converge rc=%s\n%s" % (
                p.returncode, "\n".join(
                    line for line in err.splitlines()
                    if "action=wait" not in line)))
            self.durations.append(time.monotonic() - t)
            self.check()
            q = self.run_bitsync("plan", "--detailed-exitcode")
            if p.returncode == 0 and q.returncode == 0 and \
                    not self.stale_plain():
                self.counts["convergences"] += 1
                self.counts["convergence passes"] += attempt + 1
                return
            # A verify that met a version edited meanwhile, a set without
            # sha256 whose refresh (1s) is not due yet: another pass, as
            # an administrator would run.
            time.sleep(1.1)
        st = self.run_bitsync("status")
        self.fail("no convergence: apply %d: %s\nplan: %s\nstatus: %s" % (
            p.returncode, err[-3000:], q.stdout[-2000:], st.stdout[-3000:]))


    def kill_after(self, p, delay, trigger):
        """SIGKILL p after delay seconds, or 0-20 ms after a log line
        that holds trigger; returns p's log."""
        lines = []
        hit = threading.Event()

        def read():
            for line in p.stderr:
                lines.append(line)
                if trigger and trigger in line:
                    hit.set()
            hit.set()

        th = threading.Thread(target=read, daemon=True)
        th.start()
        hit.wait(timeout=delay)
        if trigger and p.poll() is None:
            time.sleep(self.rng.uniform(0, 0.02))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        th.join(timeout=60)
        p.stderr.close()
        return "".join(lines)


class CrashCampaign(Campaign):

    def test_campaign(self):
        self.durations = [1.0]
        self.converge()
        self.check(final=True)
        for rnd in range(self.rounds):
            self.mutate()
            mode = "run" if self.rng.random() < 0.3 else "apply"
            env = {}
            if self.rng.random() < 1 / 6:
                env["BITSYNC_TEST_CRASH"] = "%s:%d" % (
                    self.rng.choice(("store-commit", "store-committed")),
                    self.rng.randint(1, 40))
            d = sorted(self.durations[-8:])[len(self.durations[-8:]) // 2]
            # A third of the kills early (create, delete), the rest
            # anywhere in a pass.
            early = self.rng.random() < 1 / 3 or (
                self.history and self.history[-1] == "-- extra withdrawn")
            delay = self.rng.uniform(0, max(d, 0.3) * (
                0.3 if early else 1.2))
            # One round in four aims at a phase: the kill comes a few
            # milliseconds after the log says the phase began.
            trigger = None
            if not env and self.rng.random() < 1 / 4:
                trigger = self.rng.choice(TRIGGERS)
                delay = 30
            p = self.spawn(mode, env)
            log = self.kill_after(p, delay, trigger)
            self.history.append("-- round %d %s %r rc=%s\n%s" % (
                rnd, mode, env, p.returncode, "\n".join(
                    line for line in log.splitlines()
                    if "action=wait" not in line)))
            if p.returncode == -signal.SIGKILL:
                res, econ = db_copy_check(os.path.join(self.state,
                                                       "engine.db"),
                                          self.scratch)
                how = env["BITSYNC_TEST_CRASH"].split(":")[0] if env \
                    else "aimed" if trigger else "timer"
                self.counts["kill %s %s %s" % (
                    mode, how, self.phase(log, econ))] += 1
                self.counts["kills"] += 1
                if econ is not None:
                    econ.close()
            else:
                self.counts["ended before the kill (%s)" % mode] += 1
                self.assertEqual(p.returncode, 0 if mode == "apply"
                                 else p.returncode, log[-3000:])
            try:
                self.check()
            except AssertionError:
                print("round %d (seed %d), log of the killed process:\n%s"
                      % (rnd, self.seed, log[-4000:]), file=sys.stderr)
                raise
            if rnd % 5 == 4 or rnd == self.rounds - 1:
                self.converge()
                self.check(final=True)
        for k in sorted(self.counts):
            print("  %-45s %d" % (k, self.counts[k]), file=sys.stderr)


class CommitKillTest(Campaign):
    """Killed in or right after each of the first commits of the engine
    store, bitsync's next apply must finish the work and exit 0: a crash
    may cost work, never a failure.  Before the fix, a kill inside the
    commit that records Complete's renames left a TRANSFERRED job whose
    temp files were gone; the restart's verify failed ("cannot read
    .BIT*.tmp"), the set waited out its backoff (10 minutes) and apply
    exited 1."""

    def test_restart_after_commit_kill_succeeds(self):
        self.durations = [1.0]
        self.converge()
        top = int(os.environ.get("BITSYNC_COMMIT_KILLS", "20"))
        for hook in ("store-commit", "store-committed"):
            for n in range(1, top + 1):
                for s in ("sums", "plain"):
                    for name, size in SETS[s]:
                        self.publish(s, name,
                                     size + self.rng.randint(-99, 99))
                    self.write_manifest(s)
                p = self.spawn("apply", {
                    "BITSYNC_TEST_CRASH": "%s:%d" % (hook, n)})
                _, err = p.communicate(timeout=120)
                if p.returncode != -signal.SIGKILL:
                    self.counts["ended before %s %d" % (hook, n)] += 1
                    continue
                self.counts["kills"] += 1
                self.check()
                q = self.spawn("apply", {})
                _, err2 = q.communicate(timeout=120)
                self.assertEqual(q.returncode, 0, "after %s:%d\nkilled:\n"
                                 "%s\nrestart:\n%s" % (hook, n, err[-2000:],
                                                        err2[-3000:]))
                self.check()
                self.converge()
                self.check(final=True)
        for k in sorted(self.counts):
            print("  %-45s %d" % (k, self.counts[k]), file=sys.stderr)


class FinishedJobTest(Campaign):
    """A kill between Cancel (or Complete) and the job's drop from the
    store left a CANCELLED (ACKNOWLEDGED) job there for good.  Before the
    fix the planner then saw two jobs for the set, kept the dead one and
    cancelled every new job it created, pass after pass."""

    def finished_jobs(self):
        _, econ = db_copy_check(os.path.join(self.state, "engine.db"),
                                os.path.join(self.scratch, "e"))
        if econ is None:
            return []
        rows = econ.execute("SELECT display_name, state FROM jobs"
                            " WHERE state IN (7, 8)").fetchall()
        econ.close()
        return rows

    def test_cancelled_job_dropped_after_restart(self):
        self.durations = [1.0]
        self.converge()
        for attempt in range(10):
            # A job in flight: killed after its third store commit.
            for s in ("sums", "plain"):
                for name, size in SETS[s]:
                    self.publish(s, name, size + self.rng.randint(-99, 99))
                self.write_manifest(s)
            p = self.spawn("apply", {"BITSYNC_TEST_CRASH":
                                     "store-committed:3"})
            p.communicate(timeout=120)
            db = os.path.join(self.state, "engine.db")
            con = sqlite3.connect(db)
            n = con.execute("SELECT count(*) FROM jobs").fetchone()[0]
            if p.returncode == -signal.SIGKILL and n > 0:
                break
            con.close()
            self.converge()
        self.assertGreater(n, 0, "no kill left a job")
        # What a kill right after Cancel's "CANCELLED" commit leaves (the
        # commit counts of a pass vary with the workers, so the state is
        # made here): the job so marked, its temps removed.
        for local, temp in con.execute("SELECT local, temp FROM files"
                                       " WHERE temp IS NOT NULL"):
            t = os.path.join(os.path.dirname(local), temp)
            if os.path.exists(t):
                os.unlink(t)
        # The campaign met the dead job winning the planner's "newest"
        # tie-break; a wall clock stepped back after the crash makes it
        # win for sure, so the fault shows every time.
        con.execute("UPDATE jobs SET state = 8, created = created + 3600")
        con.commit()
        con.close()
        found = self.finished_jobs()
        q = self.spawn("apply", {})
        try:
            _, err = q.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            q.kill()
            _, err = q.communicate()
            self.fail("apply did not end:\n" + "\n".join(
                err.splitlines()[-12:]))
        self.assertEqual(q.returncode, 0, err[-3000:])
        self.assertEqual(self.finished_jobs(), [], "left: %r" % found)
        self.check()
        self.converge()
        self.check(final=True)


class PendingCreateTest(Campaign):
    """A kill between the engine's CreateJob and the record of its GUID,
    then a spec change (or the set's withdrawal) before the next pass:
    the job of the old spec was neither adopted (its description no
    longer matched) nor cancelled, and stayed in the store for good,
    SUSPENDED, beside the job of the new spec (a gap the round-1 crash
    campaign counted and left).  Now it is cancelled as the new job is
    created, or with the withdrawn set."""

    def unrecorded(self):
        for d in ("s", "e"):
            os.makedirs(os.path.join(self.scratch, d), exist_ok=True)
        _, scon = db_copy_check(os.path.join(self.state, "state.db"),
                                os.path.join(self.scratch, "s"))
        _, econ = db_copy_check(os.path.join(self.state, "engine.db"),
                                os.path.join(self.scratch, "e"))
        recorded = {bytes(g) for g, in scon.execute("SELECT guid FROM jobs")}
        rows = [(bytes(g), n) for g, n in econ.execute(
            "SELECT id, display_name FROM jobs WHERE state != 8")]
        scon.close()
        econ.close()
        return [(g, n) for g, n in rows if g not in recorded]

    def interrupted_create(self, s):
        """Kills apply after the store commit that made set s's job;
        returns that job's GUID."""
        for n in range(1, 12):
            for name, size in SETS[s]:
                self.publish(s, name, size + self.rng.randint(-99, 99))
            self.write_manifest(s)
            p = self.spawn("apply", {"BITSYNC_TEST_CRASH":
                                     "store-committed:%d" % n})
            p.communicate(timeout=120)
            left = [g for g, nm in self.unrecorded() if nm == "bitsync:" + s]
            if p.returncode == -signal.SIGKILL and left:
                return left[0]
            self.converge()
        self.fail("no kill met an interrupted create of %s" % s)

    def test_interrupted_create_then_spec_change(self):
        self.durations = [1.0]
        self.converge()
        gid = self.interrupted_create("sums")
        for name, size in SETS["sums"]:
            self.publish("sums", name, size + 7)
        self.write_manifest("sums")
        self.converge()
        self.check(final=True)
        self.assertEqual(self.unrecorded(), [], "old job %s left" %
                         gid.hex())

    def test_interrupted_create_then_withdrawn(self):
        self.durations = [1.0]
        self.converge()
        gid = self.interrupted_create("extra")
        os.unlink(os.path.join(self.mdir, "extra.yaml"))
        self.declared.discard("extra")
        self.converge()
        self.check(final=True)
        self.assertEqual(self.unrecorded(), [], "job %s of the withdrawn"
                         " set left" % gid.hex())


class PowerLossTest(Campaign):
    """Finding 11: the engine store must never name a file completed
    before its data is on disk.  bitsync runs under an LD_PRELOAD shim
    (powerloss.c) that records which temp-file bytes were synced; it is
    killed right after its N-th store commit, for N = 1, 2, ..., and the
    test then plays a power loss: every temp file goes back to what was
    synced of it (the stores' own files are synced by SQLite).  The next
    passes must still place only whole versions.  Before the fix the store
    said "completed" for a file whose bytes were all in the page cache,
    and the restart committed the empty temp file in its place."""

    # Slower, so that a file is still being written (bytes not yet
    # synced) across several of the store's commits.
    NGINX_RATE = 2 * MiB

    def test_power_loss_after_store_commits(self):
        shim = os.environ.get("BITSYNC_POWERLOSS")
        if not shim or not os.path.exists(shim):
            self.skipTest("BITSYNC_POWERLOSS (the shim) not built")
        log = os.path.join(self.dir, "powerloss.log")
        self.durations = [1.0]
        self.converge()
        rounds = int(os.environ.get("BITSYNC_POWERLOSS_ROUNDS", "24"))
        for n in range(1, rounds + 1):
            self.republish(log)
            p = self.spawn("apply", {
                "LD_PRELOAD": shim, "BITSYNC_POWERLOSS_LOG": log,
                "BITSYNC_TEST_CRASH": "store-committed:%d" % n})
            _, err = p.communicate(timeout=120)
            if p.returncode != -signal.SIGKILL:
                self.counts["ended before commit %d" % n] += 1
                continue
            self.power_loss(log, err, "the kill at store commit %d" % n)
        # A kill after a store commit meets an unsynced temp only when
        # another worker is mid-file at that instant (once or twice in 24
        # rounds, sometimes never).  A few kills while a temp file is
        # growing make sure the player has something to throw away.
        for n in range(3):
            self.republish(log)
            p = self.spawn("apply", {
                "LD_PRELOAD": shim, "BITSYNC_POWERLOSS_LOG": log})
            grown = self.wait_temp_growing(p)
            p.kill()
            _, err = p.communicate(timeout=120)
            if not grown:
                self.counts["mid-transfer kill too late"] += 1
            self.power_loss(log, err, "a mid-transfer kill")
        for k in sorted(self.counts):
            print("  %-45s %d" % (k, self.counts[k]), file=sys.stderr)
        self.assertGreater(self.counts["temp files cut back"], 0,
                           "no round met an unsynced temp file")

    def republish(self, log):
        """New versions of every file of both sets that stay declared;
        the shim's log of the round before gone."""
        for s in ("sums", "plain"):
            for name, size in SETS[s]:
                self.publish(s, name, size + self.rng.randint(-99, 99))
            self.write_manifest(s)
        if os.path.exists(log):
            os.unlink(log)

    def power_loss(self, log, err, what):
        """After a kill: the power loss, then the invariants, a
        convergence and the invariants of a pass that ran to its end."""
        self.counts["kills"] += 1
        self.counts["temp files cut back"] += self.lose_unsynced(log)
        try:
            self.check()
            self.converge()
            self.check(final=True)
        except AssertionError:
            print("after %s (seed %d):\n%s" % (what, self.seed,
                                                err[-3000:]), file=sys.stderr)
            raise

    def wait_temp_growing(self, p, timeout=20.0):
        """Waits until an engine temp file under the destinations holds
        bytes (the shim then has a dirty file on record); False if the
        process ended or the time ran out first."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and p.poll() is None:
            for root, _, names in os.walk(self.dst):
                for nm in names:
                    if nm.startswith(".BIT") and nm.endswith(".tmp"):
                        try:
                            if os.path.getsize(os.path.join(root, nm)) > \
                                    256 * KiB:
                                return True
                        except OSError:
                            pass
            time.sleep(0.01)
        return False

    def lose_unsynced(self, log):
        """Plays the power loss; returns how many files lost bytes."""
        dirty, synced = {}, {}
        if os.path.exists(log):
            with open(log) as f:
                for line in f:
                    w = line.rstrip("\n").split(" ")
                    if w[0] == "D":
                        dirty[w[1]] = True
                    elif w[0] == "S":
                        dirty[w[1]] = False
                        synced[w[1]] = int(w[2])
                    elif w[0] == "A":
                        dirty = {p: False for p in dirty}
        cut = 0
        for path, d in dirty.items():
            if d and os.path.exists(path):
                keep = min(synced.get(path, 0), os.path.getsize(path))
                if keep < os.path.getsize(path):
                    os.truncate(path, keep)
                    cut += 1
        return cut


if __name__ == "__main__":
    unittest.main()
