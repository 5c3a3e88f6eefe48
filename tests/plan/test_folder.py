"""Folder sets (design §2a, issue 13): include/exclude over a real smbd,
an index over a real nginx, incremental transfers, on_remove, the names
and limits a hostile server can throw at the agent.

Run one: BITSYNC=build/bitsync /usr/bin/python3 tests/plan/test_folder.py \
    FolderTest.test_tree_include_then_one_change
"""

import hashlib
import json
import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
import servers  # noqa: E402
from test_apply import Base, wait_for  # noqa: E402

OLD = time.time() - 3600


def put(path, data, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for d in _parents(path):
        os.chmod(d, 0o755)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    # Old enough that the engine reads it at once (smb.c SMB_MTIME_FRESH),
    # and atime before mtime so that relatime records the next read.
    m = mtime if mtime is not None else OLD
    os.utime(path, (m - 100, m))


def _parents(path):
    out, d = [], os.path.dirname(path)
    while d and d != "/" and not d.endswith("/pub") and "/pub/" in d + "/":
        out.append(d)
        d = os.path.dirname(d)
    return out


def read_since(root, stamp):
    """Files under root whose atime moved past stamp (read since)."""
    out = []
    for dp, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(dp, f)
            st = os.lstat(p)
            if st.st_atime > stamp:
                out.append(os.path.relpath(p, root))
    return sorted(out)


def tree(root):
    out = []
    for dp, _, fs in os.walk(root):
        for f in fs:
            out.append(os.path.relpath(os.path.join(dp, f), root))
    return sorted(out)


class RawSmbd(servers.Smbd):
    """smbd that sends names as the disk has them: no 8.3 mangling of
    names Windows cannot hold (a backslash in '..\\evil'), as a hostile
    or odd server would."""

    def _conf(self):
        return super()._conf().replace(
            "[global]\n", "[global]\n    mangled names = no\n", 1)


class FolderTest(Base):

    def smb(self, max_set_files=None, raw=False):
        self.pub = os.path.join(self.dir, "pub")
        os.makedirs(self.pub, exist_ok=True)
        os.chmod(self.pub, 0o755)
        self.smbd = (RawSmbd if raw else servers.Smbd)(self.dir, {
            "pub": servers.Share(self.pub, guest=True)})
        self.smbd.start()
        self.servers.append(self.smbd)
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n%s"
                    "[engine]\nmax_parallel = 4\nsmb_port = %d\n"
                    % (self.mdir, self.state, "max_set_files = %d\n"
                       % max_set_files if max_set_files else "",
                       self.smbd.port))

    def folder_set(self, name, more, dest=None, path=None):
        self.dest = dest or os.path.join(self.dst, name)
        y = ("  - name: %s\n    source: dist\n    destination: %s\n"
             % (name, self.dest))
        if path:
            y += "    path: %s\n" % path
        for line in more.splitlines():
            y += "    " + line + "\n"
        self.manifest("00-sources.yaml", None, sources=False,
                      extra="sources:\n  dist:\n    url: "
                      "\\\\127.0.0.1\\pub\n    auth: computer\n")
        return self.manifest("10-%s.yaml" % name, y, sources=False)

    def apply(self, ok=True):
        p = self.run_bitsync("apply", timeout=170)
        if ok:
            self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def status(self, name):
        p = self.run_bitsync("status", "--format", "json")
        for s in json.loads(p.stdout)["sets"]:
            if s["name"] == name:
                return s
        self.fail("no set %s in status: %s" % (name, p.stdout))

    def created(self, stderr):
        """files= of the job this apply created (how many transferred)."""
        m = re.findall(r"created files=(\d+) .*kept=(\d+)", stderr)
        return [(int(a), int(b)) for a, b in m]

    # -- a tree ---------------------------------------------------------

    def make_tree(self):
        want = []
        for i in range(1000):
            rel = "many/%02d/f%04d.bin" % (i % 10, i)
            put(os.path.join(self.pub, rel), b"%d\n" % i)
            want.append(rel)
        for rel in ("top.bin", "with space/a b.bin",
                    "n\u00e4me/\u00fcber \u00e9t\u00e9.bin",
                    "deep/1/2/3/4/5/x.bin"):
            put(os.path.join(self.pub, rel), os.urandom(300))
            want.append(rel)
        for rel in ("top.pdb", "with space/a b.pdb", "README.txt",
                    "many/00/f0000.bin.bak"):
            put(os.path.join(self.pub, rel), b"not selected")
        return sorted(want)

    def test_tree_include_then_one_change(self):
        """include: ['**/*.bin'] places exactly the matching files of a
        1,004-file tree (sub-folders, spaces, non-ASCII); one remote file
        changed: only it is read from the share and transferred; a second
        apply reads nothing."""
        self.smb()
        want = self.make_tree()
        self.folder_set("tools", "include: ['**/*.bin']\n"
                        "exclude: ['**/*.pdb']\n")
        p = self.apply()
        self.assertEqual(tree(self.dest), want)
        self.assertEqual(self.created(p.stderr), [(1004, 0)], p.stderr)
        with open(os.path.join(self.dest, "many/03/f0013.bin"), "rb") as f:
            self.assertEqual(f.read(), b"13\n")
        # One file changes on the server (another size and mtime).
        stamp = time.time()
        time.sleep(0.05)
        put(os.path.join(self.pub, "many/03/f0013.bin"), b"changed\n",
            mtime=OLD + 60)
        os.utime(os.path.join(self.pub, "many/03/f0013.bin"),
                 (stamp - 200, OLD + 60))
        p = self.apply()
        self.assertEqual(self.created(p.stderr), [(1, 1003)], p.stderr)
        self.assertEqual(read_since(self.pub, stamp), ["many/03/f0013.bin"])
        with open(os.path.join(self.dest, "many/03/f0013.bin"), "rb") as f:
            self.assertEqual(f.read(), b"changed\n")
        # Nothing changed: nothing read, nothing created.
        stamp = time.time()
        time.sleep(0.05)
        p = self.apply()
        self.assertEqual(self.created(p.stderr), [], p.stderr)
        self.assertEqual(read_since(self.pub, stamp), [])
        self.assertEqual(self.status("tools")["state"], "in-sync")
        # plan shows per file what a change adds, replaces and removes.
        put(os.path.join(self.pub, "new.bin"), b"new")
        os.unlink(os.path.join(self.pub, "top.bin"))
        put(os.path.join(self.pub, "many/05/f0005.bin"), b"replaced",
            mtime=OLD + 90)
        p = self.run_bitsync("plan")
        out = p.stdout
        self.assertIn("+ %s/new.bin\n" % self.dest, out)
        self.assertIn("~ %s/many/05/f0005.bin\n" % self.dest, out)
        self.assertIn("- %s/top.bin (left the set: kept" % self.dest, out)
        self.assertIn("(1002 files unchanged, kept as placed)", out)
        self.assertEqual(len(re.findall(r"^      [-+~] ", out, re.M)), 3,
                         out)

    def test_removed_remote_file_keep_and_delete(self):
        """A file that leaves the set: kept with on_remove: keep; deleted
        with delete, unless it changed locally since bitsync placed it."""
        self.smb()
        for n in ("a", "b", "c", "d"):
            put(os.path.join(self.pub, "k", n + ".bin"), n.encode() * 10)
            put(os.path.join(self.pub, "d", n + ".bin"), n.encode() * 10)
        self.folder_set("keep", "include: ['k/*.bin']\non_remove: keep\n")
        keep = self.dest
        self.folder_set("del", "include: ['d/*.bin']\non_remove: delete\n")
        dele = self.dest
        self.apply()
        self.assertEqual(tree(keep), ["k/a.bin", "k/b.bin", "k/c.bin",
                                      "k/d.bin"])
        self.assertEqual(len(tree(dele)), 4)
        for sub in ("k", "d"):
            os.unlink(os.path.join(self.pub, sub, "a.bin"))
            os.unlink(os.path.join(self.pub, sub, "b.bin"))
        # The user edited d/b.bin: it is theirs now.
        with open(os.path.join(dele, "d", "b.bin"), "ab") as f:
            f.write(b"mine")
        p = self.apply()
        self.assertEqual(tree(keep), ["k/a.bin", "k/b.bin", "k/c.bin",
                                      "k/d.bin"])
        self.assertEqual(tree(dele), ["d/b.bin", "d/c.bin", "d/d.bin"],
                         p.stderr)
        self.assertIn("deleted=%s" % os.path.join(dele, "d", "a.bin"),
                      p.stderr)
        self.assertEqual(self.status("del")["state"], "in-sync")
        self.assertEqual(self.status("keep")["state"], "in-sync")
        # The set leaves the manifest: what bitsync kept of it goes too.
        kept = os.path.join(self.state, "folders", "del.list")
        self.assertTrue(os.path.exists(kept))
        os.unlink(os.path.join(self.mdir, "10-del.yaml"))
        p = self.apply()
        self.assertFalse(os.path.exists(kept), p.stderr)
        self.assertEqual(tree(dele), ["d/b.bin"], p.stderr)

    def test_empty_listing_deletes_nothing(self):
        """A share that suddenly lists nothing (a DFS target not yet
        replicated, a permissions slip on the server) is not "every file
        left the set": with on_remove: delete that deleted the folder.
        The set fails with a sentence and nothing is removed."""
        self.smb()
        for n in ("a", "b", "c"):
            put(os.path.join(self.pub, "e", n + ".bin"), n.encode() * 10)
        self.folder_set("del", "include: ['e/*.bin']\non_remove: delete\n")
        dele = self.dest
        self.apply()
        self.assertEqual(tree(dele), ["e/a.bin", "e/b.bin", "e/c.bin"])
        for n in ("a", "b", "c"):
            os.unlink(os.path.join(self.pub, "e", n + ".bin"))
        p = self.apply(ok=False)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertEqual(tree(dele), ["e/a.bin", "e/b.bin", "e/c.bin"],
                         p.stderr)
        self.assertNotIn("deleted=", p.stderr)
        st = self.status("del")
        self.assertIn("lists no file of the set", st["last_error"] or "",
                      st)
        self.assertIn("nothing was removed", p.stderr)
        # One file back: the others left the set, and go.
        put(os.path.join(self.pub, "e", "c.bin"), b"c" * 10)
        p = self.apply()
        self.assertEqual(tree(dele), ["e/c.bin"], p.stderr)

    def test_daemon_refresh_lists_and_fetches_change(self):
        """The daemon: timed passes reuse the last listing until the set's
        refresh is due; then the listing is the check, and a file changed
        on the share arrives, alone, without anyone running apply."""
        self.smb()
        for n in range(20):
            put(os.path.join(self.pub, "f%02d.bin" % n), b"v1 %d" % n)
        cfg = open(self.config).read().replace(
            "[engine]", "interval = 1s\n[engine]", 1)
        with open(self.config, "w") as f:
            f.write(cfg)
        self.folder_set("live", "include: ['*.bin']\nrefresh: 3s\n")
        self.apply()
        d = self.spawn_bitsync("run")
        self.addCleanup(lambda: d.poll() is None and d.kill())
        time.sleep(1.5)
        stamp = time.time()
        put(os.path.join(self.pub, "f07.bin"), b"v2", mtime=OLD + 30)
        os.utime(os.path.join(self.pub, "f07.bin"), (stamp - 500, OLD + 30))
        path = os.path.join(self.dest, "f07.bin")

        def arrived():
            with open(path, "rb") as f:
                return f.read() == b"v2"
        self.assertTrue(wait_for(arrived, timeout=30), "never fetched")
        self.assertEqual(read_since(self.pub, stamp), ["f07.bin"])
        d.terminate()
        out, err = d.communicate(timeout=30)
        self.assertIn("created files=1 ", err)
        self.assertIn("kept=19", err)

    def test_daemon_reuses_listing_until_refresh(self):
        """Timed passes of the daemon do not list the folder again before
        the set's refresh is due (an origin sees one listing per refresh):
        the kept listing is not rewritten, a change on the share waits for
        the refresh; apply, asked for by a person, lists at once."""
        self.smb()
        put(os.path.join(self.pub, "a.bin"), b"v1")
        status = os.path.join(self.state, "status.json")
        cfg = open(self.config).read().replace(
            "[engine]", "interval = 1s\nstatus_file = %s\n[engine]"
            % status, 1)
        with open(self.config, "w") as f:
            f.write(cfg)
        self.folder_set("slow", "include: ['*.bin']\nrefresh: 1h\n")
        self.apply()
        kept = os.path.join(self.state, "folders", "slow.list")
        before = os.stat(kept).st_mtime_ns
        put(os.path.join(self.pub, "a.bin"), b"v2", mtime=OLD + 30)
        d = self.spawn_bitsync("run")
        self.addCleanup(lambda: d.poll() is None and d.kill())
        seen = set()

        def passes():
            try:
                with open(status) as f:
                    seen.add(json.load(f)["generated"])
            except (OSError, ValueError, KeyError):
                pass
            return len(seen) >= 3
        self.assertTrue(wait_for(passes, timeout=30), "no timed passes")
        self.assertEqual(os.stat(kept).st_mtime_ns, before)
        with open(os.path.join(self.dest, "a.bin"), "rb") as f:
            self.assertEqual(f.read(), b"v1")
        d.terminate()
        d.communicate(timeout=30)
        self.apply()
        self.assertNotEqual(os.stat(kept).st_mtime_ns, before)
        with open(os.path.join(self.dest, "a.bin"), "rb") as f:
            self.assertEqual(f.read(), b"v2")

    def test_on_change_sees_added_replaced_and_deleted(self):
        """on_change (h13) of a folder set: after the commit that adds
        one file, replaces one and deletes one that left the set, the
        command runs once and BITSYNC_CHANGED lists exactly those."""
        self.smb()
        for n in ("a", "b", "c"):
            put(os.path.join(self.pub, n + ".bin"), n.encode())
        with open(self.config) as f:
            text = f.read().replace("[agent]\n", "[agent]\n"
                                    "allow_commands = yes\n", 1)
        with open(self.config, "w") as f:
            f.write(text)
        log = os.path.join(self.dir, "runs.jsonl")
        argv = [sys.executable, os.path.join(HERE, "on_change_cmd.py"),
                log, "ok"]
        self.folder_set("cmd", "include: ['*.bin']\non_remove: delete\n"
                        "on_change:\n  run: %s\n" % json.dumps(argv))
        self.apply()
        with open(log) as f:
            first = [json.loads(x) for x in f if x.strip()]
        self.assertEqual(len(first), 1)
        put(os.path.join(self.pub, "d.bin"), b"d")
        put(os.path.join(self.pub, "b.bin"), b"bb", mtime=OLD + 40)
        os.unlink(os.path.join(self.pub, "c.bin"))
        p = self.apply()
        with open(log) as f:
            runs = [json.loads(x) for x in f if x.strip()]
        self.assertEqual(len(runs), 2, p.stderr)
        self.assertEqual(sorted(runs[1]["changed"]), sorted(
            os.path.join(self.dest, n) for n in ("b.bin", "c.bin",
                                                 "d.bin")))
        p = self.apply()
        with open(log) as f:
            self.assertEqual(len(f.readlines()), 2, p.stderr)

    def test_index_on_share(self):
        """An index on a UNC source: read over SMB, every file verified
        against it; a file on the share that does not match its line is
        left out and named, the others are committed."""
        self.smb()
        good, bad = os.urandom(700), os.urandom(800)
        put(os.path.join(self.pub, "rel", "good.iso"), good)
        put(os.path.join(self.pub, "rel", "bad.iso"), bad)
        put(os.path.join(self.pub, "rel", "SHA256SUMS"), (
            "%s  good.iso\n%s *bad.iso\n" % (
                hashlib.sha256(good).hexdigest(),
                hashlib.sha256(b"other").hexdigest())).encode())
        self.folder_set("uncidx", "index: SHA256SUMS\n", path="rel")
        p = self.run_bitsync("apply", "--wait", "--timeout", "60s")
        self.assertEqual(tree(self.dest), ["good.iso"], p.stderr)
        with open(os.path.join(self.dest, "good.iso"), "rb") as f:
            self.assertEqual(f.read(), good)
        st = self.status("uncidx")
        self.assertIn("bad.iso", st["last_error"])

    # -- what a hostile server sends --------------------------------------

    def hostile_share(self):
        secret = os.path.join(self.dir, "secret")
        os.makedirs(secret)
        with open(os.path.join(secret, "s.bin"), "wb") as f:
            f.write(b"SECRET")
        os.chmod(secret, 0o755)
        put(os.path.join(self.pub, "good.bin"), b"good")
        put(os.path.join(self.pub, "..\\evil.bin"), b"evil")
        put(os.path.join(self.pub, "sub", "..\\..\\evil2.bin"), b"evil")
        os.symlink(os.path.join(secret, "s.bin"),
                   os.path.join(self.pub, "link.bin"))
        os.symlink(secret, os.path.join(self.pub, "linkdir"))

    def check_contained(self, outside, p):
        self.assertEqual(set(os.listdir(self.dir)), outside, p.stderr)
        self.assertEqual(os.listdir(self.dst), [os.path.basename(
            self.dest)] if os.path.exists(self.dest) else [], p.stderr)
        for rel in tree(self.dest) if os.path.exists(self.dest) else []:
            with open(os.path.join(self.dest, rel), "rb") as f:
                self.assertNotEqual(f.read(), b"SECRET", rel)
            self.assertNotIn("..", re.split(r"[/\\]", rel))

    def test_hostile_names_and_links(self):
        """Samba as shipped: a name '..\\evil' reaches the client as an
        8.3 name inside the folder, a symlink leaving the share is not
        listed (wide links = no): nothing outside the destination is
        written, the link's target is never copied, good files arrive."""
        self.smb()
        self.hostile_share()
        outside = set(os.listdir(self.dir))
        self.folder_set("hostile", "include: ['**']\n")
        p = self.apply()
        self.check_contained(outside, p)
        got = tree(self.dest)
        self.assertIn("good.bin", got)
        self.assertEqual(len(got), 3, got)	# good + two mangled names
        self.assertEqual(self.status("hostile")["state"], "in-sync")

    def test_hostile_raw_names_refused(self):
        """A server that sends '..\\evil' as it is (no mangling): the SMB
        client refuses the folder; the set fails with an error saying
        what to do, nothing is written, nothing placed before removed."""
        self.smb(raw=True)
        put(os.path.join(self.pub, "good.bin"), b"good")
        self.folder_set("hostile", "include: ['**']\non_remove: delete\n")
        self.apply()
        self.assertEqual(tree(self.dest), ["good.bin"])
        self.hostile_share()
        outside = set(os.listdir(self.dir))
        p = self.apply(ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.check_contained(outside, p)
        self.assertEqual(tree(self.dest), ["good.bin"])
        st = self.status("hostile")
        self.assertIn("rename it on the server", st["last_error"])
        self.assertEqual(st["state"], "waiting-to-retry")

    def test_over_max_set_files_removes_nothing(self):
        """10,001 files against max_set_files = 10000: the set fails with
        an error naming the limit; what it placed before stays, and no job
        is created."""
        self.smb()
        for n in ("a", "b"):
            put(os.path.join(self.pub, n + ".bin"), n.encode())
        self.folder_set("big", "include: ['**/*.bin']\non_remove: delete\n")
        self.apply()
        self.assertEqual(tree(self.dest), ["a.bin", "b.bin"])
        for i in range(9999):
            p = os.path.join(self.pub, "m%d" % (i % 20), "f%05d.bin" % i)
            if i < 20:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                os.chmod(os.path.dirname(p), 0o755)
            with open(p, "wb") as f:
                f.write(b"x")
        p = self.apply(ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("more than 10000 files", p.stderr)
        self.assertIn("max_set_files", p.stderr)
        self.assertEqual(tree(self.dest), ["a.bin", "b.bin"])
        self.assertEqual(self.created(p.stderr), [])
        st = self.status("big")
        self.assertIn("max_set_files", st["last_error"])
        self.assertEqual(st["state"], "waiting-to-retry")

    def test_endless_folders_bounded(self):
        """A share that answers folder after folder (each entered by
        'include', none holding a file) is listed up to a bound of
        4 x max_set_files + 1000 folders: then the set fails with a
        sentence naming it, and nothing placed before is removed."""
        self.smb(max_set_files=10)
        put(os.path.join(self.pub, "a.bin"), b"a")
        self.folder_set("many", "include: ['**/*.bin']\non_remove: delete\n")
        self.apply()
        self.assertEqual(tree(self.dest), ["a.bin"])
        for i in range(1100):
            d = os.path.join(self.pub, "d%04d" % i)
            os.mkdir(d)
            os.chmod(d, 0o755)
        p = self.apply(ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("more than 1040 folders", p.stderr)
        self.assertEqual(tree(self.dest), ["a.bin"])
        st = self.status("many")
        self.assertIn("more than 1040 folders", st["last_error"])
        self.assertIn("narrow 'include'", st["last_error"])


class IndexTest(Base):
    """An index (SHA256SUMS) over HTTP from nginx."""

    def write_index(self, files, bad=()):
        lines = []
        for rel, data in files.items():
            h = hashlib.sha256(data).hexdigest()
            if rel in bad:
                h = hashlib.sha256(b"other").hexdigest()
            lines.append("%s  %s\n" % (h, rel) if rel != "b-c.iso" else
                         "SHA256 (%s) = %s\n" % (rel, h))
        d = os.path.join(self.www, "rel")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        for rel, data in files.items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, 0o644)
        with open(os.path.join(d, "SHA256SUMS"), "w") as f:
            f.writelines(lines)
        os.chmod(os.path.join(d, "SHA256SUMS"), 0o644)

    def index_set(self):
        self.dest = os.path.join(self.dst, "isos")
        self.manifest("10-isos.yaml",
                      "  - name: isos\n    source: web\n    path: rel\n"
                      "    destination: %s\n    index: SHA256SUMS\n"
                      "    include: ['*.iso']\n" % self.dest)

    def test_wrong_hash_one_file_rest_committed(self):
        """One file of the index with a wrong hash: it is not committed,
        the others are, and the error names it; a later index change is
        noticed and fetches only the changed file."""
        self.nginx()
        files = {"a.iso": os.urandom(5000), "b-c.iso": os.urandom(4000),
                 "bad.iso": os.urandom(3000), "notes.txt": b"not selected"}
        self.write_index(files, bad=("bad.iso",))
        self.index_set()
        p = self.run_bitsync("apply", "--wait", "--timeout", "60s")
        self.assertEqual(sorted(os.listdir(self.dest)), ["a.iso", "b-c.iso"],
                         p.stderr)
        self.assertIn("bad.iso", p.stderr)
        st = json.loads(self.run_bitsync("status", "--format",
                                         "json").stdout)["sets"][0]
        self.assertIn("bad.iso", st["last_error"])
        with open(os.path.join(self.dest, "a.iso"), "rb") as f:
            self.assertEqual(f.read(), files["a.iso"])
        # The index changes one file: only it (and the index) is fetched.
        n0 = len(self.web.log())
        files["a.iso"] = os.urandom(5000)
        self.write_index(files, bad=("bad.iso",))
        p = self.run_bitsync("apply", "--wait", "--timeout", "60s")
        got = [r["uri"] for r in self.web.log()[n0:]
               if r["method"] == "GET" and r["status"] in (200, 206)]
        self.assertNotIn("/rel/b-c.iso", got, p.stderr)
        self.assertIn("/rel/a.iso", got, p.stderr)
        with open(os.path.join(self.dest, "a.iso"), "rb") as f:
            self.assertEqual(f.read(), files["a.iso"])
        self.assertFalse(os.path.exists(os.path.join(self.dest, "bad.iso")))

    def test_hostile_index_names_refused_per_file(self):
        """Names in an index that would leave the destination ('..',
        absolute, backslash-dotdot, control characters) are refused one
        by one and reported; the good entry is committed; nothing is
        written outside the destination."""
        self.nginx()
        files = {"good.iso": b"good"}
        self.write_index(files)
        h = hashlib.sha256(b"evil").hexdigest()
        with open(os.path.join(self.www, "rel", "SHA256SUMS"), "a") as f:
            f.write("%s  ../evil.iso\n%s  /tmp/evil.iso\n"
                    "%s  sub\\..\\..\\evil.iso\n"
                    "SHA256 (C:\\evil.iso) = %s\n" % (h, h, h, h))
        outside = set(os.listdir(self.dir))
        self.dest = os.path.join(self.dst, "isos")
        self.manifest("10-isos.yaml",
                      "  - name: isos\n    source: web\n    path: rel\n"
                      "    destination: %s\n    index: SHA256SUMS\n"
                      % self.dest)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.listdir(self.dest), ["good.iso"])
        self.assertEqual(set(os.listdir(self.dir)), outside)
        self.assertEqual(os.listdir(self.dst), ["isos"])
        self.assertFalse(os.path.exists("/tmp/evil.iso"))
        st = json.loads(self.run_bitsync("status", "--format",
                                         "json").stdout)["sets"][0]
        self.assertIn("4 names from the server refused", st["last_error"])
        self.assertIn("../evil.iso", st["last_error"])
        self.assertEqual(st["state"], "in-sync")

    def test_name_twice_refused(self):
        """An index that gives one name twice (two hashes, or './a' and
        'a') names two files for one local path: both are refused and
        reported, the rest committed, the run finishes."""
        self.nginx()
        files = {"good.iso": b"good", "a.iso": b"aaaa"}
        self.write_index(files)
        with open(os.path.join(self.www, "rel", "SHA256SUMS"), "a") as f:
            f.write("%s  ./a.iso\n" % hashlib.sha256(b"other").hexdigest())
        self.dest = os.path.join(self.dst, "isos")
        self.manifest("10-isos.yaml",
                      "  - name: isos\n    source: web\n    path: rel\n"
                      "    destination: %s\n    index: SHA256SUMS\n"
                      % self.dest)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.listdir(self.dest), ["good.iso"])
        st = json.loads(self.run_bitsync("status", "--format",
                                         "json").stdout)["sets"][0]
        self.assertIn("2 names from the server refused", st["last_error"])
        self.assertIn("more than once", st["last_error"])
        self.assertEqual(st["state"], "in-sync")

    def test_refused_entry_keeps_placed_file(self):
        """With on_remove: delete, a placed file whose index entry is
        refused (given twice) did not leave the set: it is kept; an index
        that gives nothing but refused names fails the set and removes
        nothing."""
        self.nginx()
        files = {"a.iso": b"aaaa", "b.iso": b"bbbb"}
        self.write_index(files)
        self.dest = os.path.join(self.dst, "isos")
        self.manifest("10-isos.yaml",
                      "  - name: isos\n    source: web\n    path: rel\n"
                      "    destination: %s\n    index: SHA256SUMS\n"
                      "    on_remove: delete\n" % self.dest)
        self.assertEqual(self.run_bitsync("apply").returncode, 0)
        self.assertEqual(sorted(os.listdir(self.dest)), ["a.iso", "b.iso"])
        idx = os.path.join(self.www, "rel", "SHA256SUMS")
        with open(idx, "a") as f:
            f.write("%s  ./a.iso\n" % hashlib.sha256(b"other").hexdigest())
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(os.listdir(self.dest)), ["a.iso", "b.iso"])
        self.assertIn("kept=\"the server's entry for it was refused\"",
                      p.stderr)
        with open(idx, "w") as f:
            f.write("%s  ../evil.iso\n" % hashlib.sha256(b"e").hexdigest())
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("lists no file of the set", p.stderr)
        self.assertEqual(sorted(os.listdir(self.dest)), ["a.iso", "b.iso"])

    def test_bad_index_changes_nothing(self):
        """An index that is not sha256sum output fails the set with the
        line that is wrong; nothing placed before is removed."""
        self.nginx()
        files = {"a.iso": b"aaaa"}
        self.write_index(files)
        self.index_set()
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.www, "rel", "SHA256SUMS"), "a") as f:
            f.write("<html>not an index</html>\n")
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("line 2", p.stderr)
        self.assertEqual(os.listdir(self.dest), ["a.iso"])


if __name__ == "__main__":
    unittest.main()
