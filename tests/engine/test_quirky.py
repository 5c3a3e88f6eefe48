"""The engine against an origin that lies (tests/servers/quirky.py), on
127.0.0.1: for every kind of lie either the right bytes are in place and
reported complete, or the job fails clearly (ERROR with context and code)
with nothing committed - never a wrong file reported in sync.  The server
counts the bytes it serves, so resumes are shown to continue, not to start
over, when ranges are honoured.

Run one: ENGINE_DRIVE=build/tests/engine/engine_drive BITSYNC=build/bitsync \
    /usr/bin/python3 tests/engine/test_quirky.py QuirkyTest.test_short206

Each test takes a few seconds (the 503 one waits for Retry-After: 3 s).
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
sys.path.insert(0, HERE)
import quirky  # noqa: E402
from test_engine import Result  # noqa: E402

DRIVE = os.environ.get("ENGINE_DRIVE", os.path.join(
    HERE, "..", "..", "build", "tests", "engine", "engine_drive"))
BITSYNC = os.environ.get("BITSYNC", os.path.join(
    HERE, "..", "..", "build", "bitsync"))
MiB = 1 << 20


def sha(data):
    return hashlib.sha256(data).hexdigest()


def read(path):
    with open(path, "rb") as f:
        return f.read()


class QuirkyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bitsync-quirky-")
        os.chmod(self.dir, 0o755)
        self.www = os.path.join(self.dir, "www")
        self.dst = os.path.join(self.dir, "dst")
        self.state = os.path.join(self.dir, "state")
        for d in (self.www, self.dst, self.state):
            os.makedirs(d)
        os.chmod(self.state, 0o700)
        self.mounts = []
        self.q = quirky.Quirky(self.dir, self.www)
        self.q.start()

    def tearDown(self):
        self.q.stop()
        for m in self.mounts:
            subprocess.run(["umount", "-l", m])
        shutil.rmtree(self.dir, ignore_errors=True)

    def put(self, size, name="f.bin"):
        data = os.urandom(size)
        with open(os.path.join(self.www, name), "wb") as f:
            f.write(data)
        return data

    def drive(self, *args, timeout=60):
        argv = [DRIVE, "-s", self.state] + list(args)
        e = {k: v for k, v in os.environ.items()
             if k.lower() not in ("http_proxy", "https_proxy", "all_proxy",
                                  "no_proxy")}
        return Result(subprocess.run(argv, capture_output=True, text=True,
                                     timeout=timeout, env=e))

    def get(self, mode, out=None, wait=20, retry=1, name="f.bin"):
        out = out or os.path.join(self.dst, name)
        r = self.drive("get", "-R", str(retry), "-T", "60",
                       self.q.url(mode, name), out)
        return r, out

    def temps(self, d=None):
        return glob.glob(os.path.join(d or self.dst, ".BIT*.tmp"))

    def assert_ok(self, r, out, want):
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(r.job()["state"], "TRANSFERRED", r.stdout)
        self.assertEqual(r.completes.get(r.guid), 0, r.stdout)
        self.assertEqual(sha(read(out)), sha(want))
        f = r.job()["files"][0]
        self.assertEqual((f["total"], f["done"], f["completed"]),
                         (len(want), len(want), 1), f)
        self.assertEqual(self.temps(), [])

    def assert_failed(self, r, out, code, context="REMOTE_FILE"):
        j = r.job()
        self.assertNotEqual(r.rc, 0, r.stdout)
        self.assertEqual(j["state"], "ERROR", r.stdout)
        self.assertEqual(j["error"]["code"], code, j["error"])
        self.assertEqual(j["error"]["context"], context)
        self.assertFalse(os.path.exists(out), "committed after an error")
        return j["error"]

    def served(self, mode):
        return sum(x["sent"] for x in self.q.log(mode)
                   if x["method"] == "GET")

    # -- short and cut answers ---------------------------------------------

    def test_short206(self):
        """206s of 1,000 bytes: continued from where each ended."""
        data = self.put(10000)
        r, out = self.get("short206")
        self.assert_ok(r, out, data)
        log = self.q.log("short206")
        self.assertEqual(len(log), 10, log)
        self.assertEqual(self.served("short206"), 10000)
        for k, x in enumerate(log[1:], 1):
            self.assertEqual(x["range"], "bytes=%d-" % (k * 1000))
            self.assertNotEqual(x["if_range"], "-")

    def test_short206_end_to_end_not_in_sync(self):
        """bitsync apply: the whole file, never the first 1,000 bytes."""
        data = self.put(10000)
        out = self.apply("short206", [("f.bin", None)])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(sha(read(os.path.join(self.dst, "app", "f.bin"))),
                         sha(data))

    def test_liar_length(self):
        """Content-Length larger than delivered: resumed, never committed
        short; the resume starts at the bytes held."""
        data = self.put(200000)
        r, out = self.get("liar-length")
        self.assert_ok(r, out, data)
        self.assertIn("TRANSIENT_ERROR", r.states())
        log = self.q.log("liar-length")
        self.assertEqual([x["range"] for x in log],
                         ["-", "bytes=100000-"])
        self.assertEqual(self.served("liar-length"), 200000)

    def test_completed_temp_short_after_crash(self):
        """The store says complete, the temp lost its tail (crash before
        the data was durable): recovery resumes, never commits it."""
        data = self.put(300000)
        guid = self.drive("create", "-R", "1", self.q.url("plain"),
                          os.path.join(self.dst, "f.bin")).stdout.strip()
        r = self.drive("run", "-w", "20", guid)
        self.assertEqual(r.job()["state"], "TRANSFERRED", r.stdout)
        temp = self.drive("temp", guid, "0").stdout.strip()
        os.truncate(temp, 123456)
        r = self.drive("run", "-w", "20", "-k")
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(read(os.path.join(self.dst, "f.bin"))),
                         sha(data))
        self.assertEqual(self.q.log("plain")[-1]["range"], "bytes=123456-")

    # -- range answers that do not fit -------------------------------------

    def test_norange_restarts_from_zero(self):
        """A 200 to a Range request: the temp is emptied, filled anew."""
        data = self.put(200000)
        r, out = self.get("norange")
        self.assert_ok(r, out, data)
        log = self.q.log("norange")
        self.assertEqual(len(log), 2, log)
        self.assertEqual(log[1]["range"], "bytes=100000-")
        self.assertEqual(log[1]["status"], 200)

    def test_badstart_refetched(self):
        """A 206 that starts elsewhere than asked is not appended: the file
        is fetched from zero."""
        data = self.put(200000)
        r, out = self.get("badstart")
        self.assert_ok(r, out, data)
        log = self.q.log("badstart")
        self.assertEqual([x["range"] for x in log],
                         ["-", "bytes=100000-", "-"], log)

    def test_total_changes_refetched(self):
        """A 206 whose total differs from the one recorded: from zero."""
        data = self.put(200000)
        r, out = self.get("total-changes")
        self.assert_ok(r, out, data)
        log = self.q.log("total-changes")
        self.assertEqual([x["range"] for x in log],
                         ["-", "bytes=100000-", "-"], log)

    def test_changing_etag(self):
        """If-Range with the old ETag: the new version whole."""
        data = self.put(200000)
        r, out = self.get("changing-etag")
        self.assert_ok(r, out, data[::-1])
        log = self.q.log("changing-etag")
        self.assertEqual([(x["if_range"], x["status"]) for x in log[1:]],
                         [('"a"', 200)], log)

    def test_changing_etag_206_never_spliced(self):
        """A server that ignores If-Range sends a part of the new version:
        not appended to the old one's bytes."""
        data = self.put(200000)
        r, out = self.get("changing-etag-206")
        self.assert_ok(r, out, data[::-1])
        log = self.q.log("changing-etag-206")
        self.assertEqual([(x["range"], x["status"]) for x in log],
                         [("-", 200), ("bytes=100000-", 206), ("-", 200)])

    def test_changing_noetag_never_resumed(self):
        """No validator: nothing proves the bytes held are of the current
        version, so no Range is ever sent (decided: fetch whole)."""
        data = self.put(200000)
        r, out = self.get("changing-noetag")
        self.assert_ok(r, out, data[::-1])
        self.assertEqual([x["range"] for x in self.q.log("changing-noetag")],
                         ["-", "-"])

    def test_etag_with_cr_not_sent_back(self):
        """An ETag holding a bare CR is not kept as a validator (sent back
        in If-Range it would inject a header): the resume uses
        Last-Modified instead."""
        data = self.put(200000)
        r, out = self.get("etag-cr")
        self.assert_ok(r, out, data)
        log = self.q.log("etag-cr")
        self.assertEqual([x["range"] for x in log], ["-", "bytes=100000-"])
        for x in log:
            self.assertNotIn("\r", x["if_range"])
            self.assertIsNone(x["injected"])
        self.assertTrue(log[1]["if_range"].endswith(" GMT"), log[1])

    def test_overlong_206_refused(self):
        """More bytes than the Content-Range announced: refused, the job
        fails clearly, nothing committed."""
        self.put(50000)
        out = os.path.join(self.dst, "f.bin")
        r = self.drive("get", "-R", "1", "-T", "2", self.q.url("overlong"),
                       out)
        err = self.assert_failed(r, out, "0x8020001C")
        self.assertIn("more than the 50000 bytes it announced",
                      err["text"])
        self.assertNotIn("TRANSIENT_ERROR", r.states())

    # -- bodies of unknown size --------------------------------------------

    def test_chunked(self):
        data = self.put(300000)
        r, out = self.get("chunked")
        self.assert_ok(r, out, data)

    def test_chunked_endless_stops_before_disk_full(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root")
        small = os.path.join(self.dir, "small")
        os.makedirs(small)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m",
                            "tmpfs", small], capture_output=True, text=True)
        if m.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + m.stderr.strip())
        self.mounts.append(small)
        out = os.path.join(small, "f.bin")
        r, out = self.get("chunked-endless", out=out)
        err = self.assert_failed(r, out, "0x80070070", "LOCAL_FILE")
        self.assertIn("kept free", err["text"])
        self.assertIn("chunked-endless", err["text"])
        st = os.statvfs(small)
        # The reserve (5 % of 32 MiB) was never eaten into, and the temp
        # file of garbage was emptied.
        self.assertGreaterEqual(st.f_bavail * st.f_frsize, 32 * MiB // 20)
        self.assertEqual([os.path.getsize(t) for t in self.temps(small)],
                         [0])
        self.assertNotIn("TRANSIENT_ERROR", r.states())

    # -- redirects ---------------------------------------------------------

    def test_redirects(self):
        data = self.put(50000)
        r, out = self.get("redirect-rel", out=os.path.join(self.dst, "a"))
        self.assert_ok(r, out, data)
        shutil.rmtree(self.state)
        os.makedirs(self.state, 0o700)
        r, out = self.get("redirect-port", out=os.path.join(self.dst, "b"))
        self.assertEqual(sha(read(out)), sha(data))
        self.assertEqual(r.rc, 0, r.stdout)
        shutil.rmtree(self.state)
        os.makedirs(self.state, 0o700)
        r, out = self.get("redirect-loop", out=os.path.join(self.dst, "c"))
        err = self.assert_failed(r, out, "0x80072F7C")
        self.assertIn("redirects", err["text"])
        self.assertNotIn("TRANSIENT_ERROR", r.states())

    def test_redirect_to_file_refused(self):
        self.put(50000)
        r, out = self.get("redirect-file")
        err = self.assert_failed(r, out, "0x80072F7C")
        self.assertIn("file:///etc/passwd", err["text"])
        self.assertIn("only http and https", err["text"])
        self.assertNotIn("TRANSIENT_ERROR", r.states())

    # -- status codes ------------------------------------------------------

    def test_503_retry_after(self):
        """503 with Retry-After: 3 is transient, retried no sooner than 3 s
        later although the job's retry delay is 1 s."""
        data = self.put(50000)
        r, out = self.get("503", retry=1)
        self.assert_ok(r, out, data)
        self.assertIn("TRANSIENT_ERROR", r.states())
        log = self.q.log("503")
        self.assertEqual([x["status"] for x in log], [503, 200])
        self.assertGreaterEqual(log[1]["t"] - log[0]["t"], quirky.RETRY)

    def test_404(self):
        r, out = self.get("404")
        err = self.assert_failed(r, out, "0x80190194")
        self.assertIn("404", err["text"])
        self.assertIn(self.q.url("404"), err["text"])
        self.assertNotIn("TRANSIENT_ERROR", r.states())

    # -- libcurl refusing an option ----------------------------------------

    def test_setopt_refused_is_error(self):
        """A libcurl that refuses CURLOPT_PROTOCOLS_STR (the http/https
        restriction) makes the job an ERROR naming it, before any request:
        never a transfer without the restriction."""
        shim = os.environ.get("CURL_SHIM_DIR", os.path.join(
            HERE, "..", "..", "build", "tests", "engine", "curl-shim"))
        if not os.path.exists(os.path.join(shim, "libcurl.so.4")):
            self.skipTest("no curl shim built in " + shim)
        self.put(5000)
        out = os.path.join(self.dst, "f.bin")
        argv = [DRIVE, "-s", self.state, "get", "-R", "1", "-T", "60",
                self.q.url("plain"), out]
        e = {k: v for k, v in os.environ.items()
             if k.lower() not in ("http_proxy", "https_proxy", "all_proxy",
                                  "no_proxy")}
        e["LD_LIBRARY_PATH"] = shim + ":" + e.get("LD_LIBRARY_PATH", "")
        e["BITSYNC_SHIM_REFUSE"] = "10318"     # CURLOPT_PROTOCOLS_STR
        r = Result(subprocess.run(argv, capture_output=True, text=True,
                                  timeout=60, env=e))
        err = self.assert_failed(r, out, "0x8007001F", "GENERAL_TRANSPORT")
        self.assertIn("CURLOPT_PROTOCOLS_STR", err["text"])
        self.assertNotIn("TRANSIENT_ERROR", r.states())
        self.assertEqual(self.q.log("plain"), [])

    # -- the whole agent: a checksum decides ---------------------------------

    def apply(self, mode, files):
        mdir = os.path.join(self.dir, "manifest.d")
        os.makedirs(mdir, exist_ok=True)
        cfg = os.path.join(self.dir, "bitsync.ini")
        with open(cfg, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "[engine]\nmax_parallel = 2\n" % (mdir, self.state))
        os.chmod(cfg, 0o644)
        y = ("version: 1\nsources:\n  web:\n    url: http://127.0.0.1:%d/%s/"
             "\n    proxy:\n      usage: no_proxy\nsets:\n  - name: app\n"
             "    source: web\n    destination: %s\n    retry_delay: 5s\n"
             "    files:\n" % (self.q.port, mode,
                               os.path.join(self.dst, "app")))
        for path, digest in files:
            y += "      - path: %s\n" % path
            if digest:
                y += "        sha256: \"%s\"\n" % digest
        with open(os.path.join(mdir, "10-app.yaml"), "w") as f:
            f.write(y)
        os.chmod(os.path.join(mdir, "10-app.yaml"), 0o644)
        e = {k: v for k, v in os.environ.items()
             if k.lower() not in ("http_proxy", "https_proxy", "all_proxy",
                                  "no_proxy")}
        return subprocess.run([BITSYNC, "-c", cfg, "apply"],
                              capture_output=True, text=True, timeout=60,
                              env=e)

    def test_captive_portal_not_committed(self):
        """A 200 HTML login page where a file with sha256 was expected:
        the checksum fails, nothing is committed, the error is shown."""
        data = self.put(5000)
        p = self.apply("portal", [("f.bin", sha(data))])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("sha256 mismatch", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dst, "app",
                                                     "f.bin")))
        self.assertEqual(glob.glob(os.path.join(self.dst, "app", ".BIT*")),
                         [])


if __name__ == "__main__":
    unittest.main()
