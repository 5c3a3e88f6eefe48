"""Filesystem races a local user can run against bitsync (issue 11, design
§4 and §7): the agent runs as root and writes into folders that local users
may own.  Each test creates an unprivileged user (useradd --system
--no-create-home bitsync-race-PID, removed in a finally), gives it a folder
on a destination path, and has it plant or swap links, FIFOs and hard links
there while bitsync runs, with the real engine against nginx on 127.0.0.1.
They assert that no root-owned file outside the destination is deleted or
overwritten, that nothing hangs (every run is bounded by a timeout) and
that the daemon still answers SIGTERM.

Root only (they create a user and act as it through setpriv).

Rounds: BITSYNC_RACE_ROUNDS (default 40, of 8 files each) for the swap loops of the delete
and folder-creation tests; a few hundred make a long campaign, e.g.
    BITSYNC_RACE_ROUNDS=500 BITSYNC=build/bitsync \\
    ENGINE_DRIVE=build/tests/engine/engine_drive \\
    python3 tests/plan/test_race.py RaceTest.test_delete_swap_race
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_apply  # noqa: E402
from test_apply import BITSYNC, MiB, sha, write_random  # noqa: E402

ROUNDS = int(os.environ.get("BITSYNC_RACE_ROUNDS", "40"))
PER_ROUND = 8

# Run as the race user: swaps a (real folder) and b (symlink) in their
# parent with renameat2(RENAME_EXCHANGE) until killed, so that at any
# instant a is either the folder or the link.  argv: parent a b
SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
parent, a, b = (x.encode() for x in sys.argv[1:4])
fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
r2 = libc.renameat2
print("ready", flush=True)
while True:
    r2(fd, a, fd, b, RENAME_EXCHANGE)
"""


@contextlib.contextmanager
def race_user():
    """An unprivileged system user for one test; removed however it ends."""
    name = "bitsync-race-%d" % os.getpid()
    subprocess.run(["useradd", "--system", "--no-create-home",
                    "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=60)
    try:
        import pwd
        pw = pwd.getpwnam(name)
        yield pw.pw_uid, pw.pw_gid
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=60)


def as_user(uid, gid, argv, **kw):
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
            "--clear-groups", "--"] + argv


class RaceTest(test_apply.Base):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("race tests create a user: run as root")
        super().setUp()
        self._user = race_user()
        self.uid, self.gid = self._user.__enter__()
        self.procs = []
        # Root's files outside every destination: what the user aims at.
        self.victim = os.path.join(self.dir, "victim")
        os.makedirs(self.victim)
        os.chmod(self.victim, 0o755)
        # The user's own folder on the destination path.
        self.home = os.path.join(self.dst, "user")
        os.makedirs(self.home)
        os.chown(self.home, self.uid, self.gid)
        os.chmod(self.home, 0o755)

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=10)
        if os.geteuid() == 0:
            self._user.__exit__(None, None, None)
        super().tearDown()

    def user_run(self, argv):
        return subprocess.run(as_user(self.uid, self.gid, argv),
                              capture_output=True, text=True, timeout=30,
                              check=True)

    def start_swapper(self, parent, a, b):
        p = subprocess.Popen(as_user(self.uid, self.gid, [
            sys.executable, "-c", SWAPPER, parent, a, b]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        self.assertEqual(p.stdout.readline().strip(), "ready")
        return p

    def stop_swapper(self, p, parent, a):
        p.kill()
        p.communicate(timeout=10)
        self.procs.remove(p)
        # Leave a as the real folder (the user's loop may stop either
        # way round).
        path = os.path.join(parent, a)
        if os.path.islink(path):
            self.user_run([sys.executable, "-c", SWAPPER.replace(
                "while True:\n    ", "if True:\n    "), parent, a,
                a + "-link"])

    def root_file(self, name, data):
        path = os.path.join(self.victim, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        return path

    # -- finding 4: on_remove: delete through a swapped folder link ---------

    def test_delete_swap_race(self):
        """The user swaps the set's folder with a symlink to a root folder
        while bitsync deletes the set's files (on_remove: delete): the
        root file of the same name must survive every round."""
        # Several files a round: each unlink is a chance for the race.
        names = ["d%d.bin" % k for k in range(PER_ROUND)]
        for n in names:
            write_random(os.path.join(self.www, n), 3000)
            self.root_file(n, b"root's own file")
        self.nginx()
        dest = os.path.join(self.home, "set")
        link = os.path.join(self.home, "set-link")
        os.symlink(self.victim, link)
        os.lchown(link, self.uid, self.gid)
        self.manifest("00-sources.yaml", None)
        lost = lost_rounds = deletes = errors = 0
        for rnd in range(ROUNDS):
            self.manifest("20-del.yaml", self.set_yaml(
                "del", names, dest=dest,
                more="on_remove: delete"), sources=False)
            p = self.run_bitsync("apply", timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertFalse(os.path.islink(dest))
            sw = self.start_swapper(self.home, "set", "set-link")
            os.unlink(os.path.join(self.mdir, "20-del.yaml"))
            p = self.run_bitsync("apply", timeout=60)
            self.stop_swapper(sw, self.home, "set")
            deletes += p.stderr.count("deleted=")
            errors += p.stderr.count("symbolic link is in the path")
            gone = [n for n in names
                    if not os.path.exists(os.path.join(self.victim, n))]
            lost_rounds += bool(gone)
            lost += len(gone)
            for n in gone:
                self.root_file(n, b"root's own file")
        print("delete race: %d rounds of %d files, root files deleted: %d "
              "(in %d rounds); set files deleted %d, refused (link seen) "
              "%d" % (ROUNDS, PER_ROUND, lost, lost_rounds, deletes,
                      errors), file=sys.stderr)
        self.assertEqual(lost, 0, "root files outside the destination "
                         "were deleted in %d of %d rounds"
                         % (lost_rounds, ROUNDS))
        for n in names:
            with open(os.path.join(self.victim, n), "rb") as f:
                self.assertEqual(f.read(), b"root's own file")

    # -- finding 9: destination folders created through a planted link -----

    def test_make_dirs_refuses_planted_link(self):
        """A symlink the user plants at (or swaps into) the destination
        path: bitsync must not create folders where it points, and says
        which path holds the link."""
        write_random(os.path.join(self.www, "a.bin"), 1000)
        self.nginx()
        self.manifest("00-sources.yaml", None)
        dest = os.path.join(self.home, "set")
        # A link at the destination itself, planted once.
        self.user_run(["ln", "-s", self.victim, dest])
        self.manifest("10-app.yaml", self.set_yaml(
            "app", ["sub/a.bin"], dest=dest), sources=False)
        p = self.run_bitsync("apply", timeout=60)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.listdir(self.victim), [],
                         "a folder was created through the link")
        self.assertIn(os.path.join(dest, "sub"), p.stderr)
        self.assertIn("symbolic link", p.stderr)
        st = self.run_bitsync("status", "--format", "json")
        self.assertIn("symbolic link", st.stdout)

    def test_make_dirs_swap_race(self):
        """The user swaps a folder below the destination with a symlink
        to a root folder while bitsync creates the set's sub-folders."""
        write_random(os.path.join(self.www, "a.bin"), 1000)
        self.nginx()
        self.manifest("00-sources.yaml", None)
        dest = os.path.join(self.home, "set")
        os.makedirs(dest)
        os.chown(dest, self.uid, self.gid)
        link = os.path.join(dest, "sub-link")
        self.user_run(["ln", "-s", self.victim, link])
        real = os.path.join(dest, "sub")
        made = 0
        for rnd in range(ROUNDS):
            self.user_run(["mkdir", "-p", real])
            deep = ["deep%d-%d" % (rnd, k) for k in range(PER_ROUND)]
            # New sets each round (a failed one would wait for its retry
            # delay), one folder each: a set's first refused folder ends
            # its create, the other sets still try theirs.
            self.manifest("10-app.yaml", "".join(self.set_yaml(
                "app%d-%d" % (rnd, k), ["sub/%s/x/y/a.bin" % n],
                dest=dest) for k, n in enumerate(deep)), sources=False)
            sw = self.start_swapper(dest, "sub", "sub-link")
            p = self.run_bitsync("apply", timeout=60)
            if os.environ.get("RACE_DEBUG"):
                print(p.stderr, file=sys.stderr)
            self.stop_swapper(sw, dest, "sub")
            made += any(os.path.exists(os.path.join(self.victim, n))
                        for n in deep)
        print("make_dirs race: %d rounds, folder created through the "
              "link in %d" % (ROUNDS, made), file=sys.stderr)
        self.assertEqual(os.listdir(self.victim), [],
                         "folders created outside the destination in %d "
                         "of %d rounds" % (made, ROUNDS))

    # -- finding 5: what the user plants at a recorded temp name ------------

    def interrupted_temp(self, dest):
        """Starts a slow transfer into dest, kills bitsync mid-body and
        returns the recorded temp file's path."""
        write_random(os.path.join(self.www, "big.bin"), 3 * MiB)
        self.nginx(limit_rate=1 * MiB)
        self.manifest("10-app.yaml", self.set_yaml("app", ["big.bin"],
                                                   dest=dest))
        p = self.spawn_bitsync("apply")
        self.wait_temp(dest, 64 * 1024, p)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        temps = [n for n in os.listdir(dest) if n.startswith(".BIT")]
        self.assertEqual(len(temps), 1, temps)
        return os.path.join(dest, temps[0])

    def test_fifo_at_temp_name(self):
        """A FIFO planted at the recorded temp name: the resumed apply must
        neither hang nor write into it, and still completes."""
        temp = self.interrupted_temp(self.home)
        self.user_run(["sh", "-c", 'rm -f "$1" && mkfifo -m 666 "$1"',
                       "-", temp])
        try:
            p = self.run_bitsync("apply", "--wait", "--timeout", "60s",
                                 timeout=40)
        except subprocess.TimeoutExpired:
            self.fail("apply hung on a FIFO planted at the temp name")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sha(os.path.join(self.home, "big.bin")),
                         sha(os.path.join(self.www, "big.bin")))
        # The FIFO is the user's: left where it was, not deleted.
        self.assertTrue(os.path.exists(temp))

    def test_hardlink_at_temp_name(self):
        """A hard link planted at the recorded temp name (to a file the
        user owns, allowed even with protected_hardlinks=1; and to a root
        file where protected_hardlinks=0): the retry must not write into
        the linked file, and the placed file must be root's own, one
        link."""
        temp = self.interrupted_temp(self.home)
        theirs = os.path.join(self.home, "theirs")
        self.user_run(["sh", "-c", 'printf mine > "$1"', "-", theirs])
        with open("/proc/sys/fs/protected_hardlinks") as f:
            protected = f.read().strip() != "0"
        victim = theirs if protected else self.root_file("x", b"root")
        self.user_run(["sh", "-c", 'rm -f "$1" && ln "$2" "$1"', "-",
                       temp, victim])
        before = open(victim, "rb").read()
        p = self.run_bitsync("apply", "--wait", "--timeout", "60s",
                             timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(victim, "rb") as f:
            self.assertEqual(f.read(), before, "the linked file was "
                             "written through the planted hard link")
        placed = os.path.join(self.home, "big.bin")
        st = os.lstat(placed)
        self.assertEqual((st.st_uid, st.st_nlink), (0, 1))
        self.assertEqual(sha(placed), sha(os.path.join(self.www,
                                                       "big.bin")))

    def test_root_file_moved_onto_temp(self):
        """The user moves another root-owned file of their folder (one
        link, root's, regular: it passes every check but identity) onto
        the recorded temp name: the resumed transfer must not append to
        it and commit the mix; the recorded device/inode tell it apart."""
        temp = self.interrupted_temp(self.home)
        other = os.path.join(self.home, "other.bin")
        with open(other, "wb") as f:
            f.write(b"o" * 100000)
        os.chmod(other, 0o644)
        self.user_run(["mv", "-f", other, temp])
        p = self.run_bitsync("apply", "--wait", "--timeout", "60s",
                             timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sha(os.path.join(self.home, "big.bin")),
                         sha(os.path.join(self.www, "big.bin")),
                         "a file moved onto the temp name was committed")

    def drive(self, *args):
        p = subprocess.run([test_apply.DRIVE, "-s", self.state] +
                           list(args), capture_output=True, text=True,
                           timeout=60)
        return p

    def test_temp_replaced_before_complete(self):
        """Between TRANSFERRED and Complete the user swaps the temp for a
        hard link to their own file, then for a FIFO: Complete must not
        put either in place (the placed file would be the user's to
        change, or a FIFO), nor hang; it reports the job partial."""
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        theirs = os.path.join(self.home, "theirs")
        self.user_run(["sh", "-c", 'printf mine > "$1"', "-", theirs])
        for kind in ("hardlink", "fifo"):
            local = os.path.join(self.home, "a-%s.bin" % kind)
            p = self.drive("create", self.web.url("/a.bin"), local)
            self.assertEqual(p.returncode, 0, p.stderr)
            guid = p.stdout.split()[0]
            p = self.drive("run", "-w", "30", guid)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            temp = self.drive("temp", guid, "0").stdout.strip()
            self.assertTrue(os.path.isfile(temp), temp)
            plant = ('rm -f "$1" && ln "$2" "$1"' if kind == "hardlink"
                     else 'rm -f "$1" && mkfifo -m 666 "$1"')
            self.user_run(["sh", "-c", plant, "-", temp, theirs])
            try:
                p = self.drive("complete", guid)
            except subprocess.TimeoutExpired:
                self.fail("complete hung on a FIFO at the temp name")
            self.assertNotEqual(p.returncode, 0, kind)
            self.assertFalse(os.path.lexists(local),
                             "%s put in place by Complete" % kind)
            with open(theirs, "rb") as f:
                self.assertEqual(f.read(), b"mine")
            self.assertEqual(os.stat(theirs).st_nlink,
                             2 if kind == "hardlink" else 1)
            self.user_run(["rm", "-f", temp])

    # -- finding 6: status_file / metrics_file temp names -------------------

    def test_status_fifo_does_not_block_daemon(self):
        """status_file and metrics_file in a user's folder (a textfile
        collector's): FIFOs planted at every name the old code would use
        must not block the daemon, which writes both and stops on
        SIGTERM."""
        write_random(os.path.join(self.www, "a.bin"), 1000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        status = os.path.join(self.home, "status.json")
        metrics = os.path.join(self.home, "bitsync.prom")
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "status_file = %s\nmetrics_file = %s\n"
                    "interval = 1h\n[engine]\nmax_parallel = 2\n"
                    % (self.mdir, self.state, status, metrics))
        # sh plants the FIFOs as the user at <file>.tmp.<its own pid>,
        # then execs bitsync under that same pid.
        plant = ('setpriv --reuid=%d --regid=%d --clear-groups -- '
                 'mkfifo -m 666 "%s.tmp.$$" "%s.tmp.$$" && exec "$0" "$@"'
                 % (self.uid, self.gid, status, metrics))
        d = subprocess.Popen(["sh", "-c", plant, BITSYNC, "-c",
                              self.config, "run"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.procs.append(d)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and d.poll() is None and not (
                os.path.exists(status) and os.path.exists(metrics)):
            time.sleep(0.05)
        wrote = os.path.exists(status) and os.path.exists(metrics)
        d.send_signal(signal.SIGTERM)
        try:
            d.communicate(timeout=10)
            stopped = True
        except subprocess.TimeoutExpired:
            stopped = False
        self.assertTrue(stopped, "the daemon did not stop on SIGTERM")
        self.assertTrue(wrote, "status/metrics not written")
        self.assertFalse(os.path.islink(status))
        self.assertEqual(os.lstat(status).st_uid, 0)
        # Nothing of bitsync's left behind beside them.
        left = [n for n in os.listdir(self.home)
                if n.endswith(".tmp") or ".tmp." in n]
        self.assertEqual(sorted(left), sorted(
            os.path.basename(x) + ".tmp.%d" % d.pid
            for x in (status, metrics)))


    # -- finding 11: the sweep of leftover temps ------------------------------

    def test_sweep_spares_other_instances_temps(self):
        """Complete sweeps leftover temps of this store only: temps of
        another bitsync instance (another state directory) sharing the
        folder, and what a user planted under a temp name, survive."""
        write_random(os.path.join(self.www, "a.bin"), 1000)
        self.nginx()
        dest = os.path.join(self.dst, "app")
        os.makedirs(dest)
        tag = 2166136261
        for c in self.state.encode():
            tag = ((tag ^ c) * 16777619) & 0xFFFFFFFF
        other = (tag + 1) & 0xFFFFFFFF
        keep = [".BITDEADBEEF.tmp",                    # older form
                ".BIT%08X%08X.tmp" % (other, 1)]       # another store
        mine = ".BIT%08X%08X.tmp" % (tag, 1)           # this store's
        for n in keep + [mine]:
            with open(os.path.join(dest, n), "wb") as f:
                f.write(b"x")
        # A hard link under this store's temp form: not ours to delete.
        linked = ".BIT%08X%08X.tmp" % (tag, 2)
        os.link(os.path.join(dest, keep[0]), os.path.join(dest, linked))
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        p = self.run_bitsync("apply", timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        left = sorted(n for n in os.listdir(dest) if n.startswith(".BIT"))
        self.assertEqual(left, sorted(keep + [linked]))


if __name__ == "__main__":
    unittest.main()
