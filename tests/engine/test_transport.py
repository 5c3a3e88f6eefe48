"""Transport denial of service and downgrades (issue 11 review, U2 U3 U6
U7 U8 U16 U17 and the NTLM/Digest residual): the engine against servers
on 127.0.0.1 that hang, trickle, redirect or challenge, and against a real
smbd while files transfer or change.

Run one: ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/engine/test_transport.py \
    TransportTest.test_probe_of_hanging_server_times_out
"""

import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
from test_engine import EngineTest, servers, write_random, sha, MiB  # noqa
import quirky  # noqa: E402
from test_token import Recorder, Handler  # noqa: E402


def sha_bytes(data):
    return hashlib.sha256(data).hexdigest()


class Hang:
    """Accepts connections and never answers (a server that is up but
    stuck, or a black hole behind a proxy)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def stop(self):
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            c.close()


class Challenger(Handler):
    """test_token's recorder, but its challenge is NTLM and Digest (no
    Basic): schemes a man in the middle of plain http can crack."""

    def _answer(self, body):
        auth = self.headers.get("Authorization")
        with self.server.lock:
            self.server.seen.append((self.path, auth))
        self.send_response(401)
        self.send_header("WWW-Authenticate", "NTLM")
        self.send_header("WWW-Authenticate",
                         'Digest realm="x", nonce="abc", qop="auth"')
        self.send_header("Content-Length", "0")
        self.end_headers()


class TransportTest(EngineTest):
    def quirky(self):
        q = quirky.Quirky(self.dir, self.www)
        return self.start(q)

    def elapsed(self, r):
        return [int(x.split()[1]) for x in r.stdout.splitlines()
                if x.startswith("elapsed_ms")][0]

    # -- U2: a probe is bounded in all ---------------------------------

    def test_probe_of_hanging_server_times_out(self):
        """A server that accepts and never answers: the probe gives up
        after its overall timeout (20 s), not the 60 s stall (before:
        60 s per file)."""
        h = Hang()
        self.addCleanup(h.stop)
        t0 = time.monotonic()
        r = self.drive("probe", "http://127.0.0.1:%d/f.bin" % h.port,
                       timeout=100)
        took = time.monotonic() - t0
        self.assertLess(took, 30, "probe hung %.1f s" % took)
        j = json.loads(r.stdout)
        self.assertEqual(j["error"]["code"], "0x80072EE2", r.stdout)
        self.assertIn("retried after the retry delay", j["error"]["text"])

    # -- U7: https never redirected down to http ------------------------

    def test_https_redirect_to_http_refused(self):
        write_random(os.path.join(self.www, "d.bin"), 20000)
        tls = servers.make_cert(self.dir)
        port = servers.free_port()
        web = self.nginx(tls=tls, port=port, extra_server=(
            "location = /down { return 302 http://127.0.0.1:%d/d.bin; }\n"
            "location = /up { return 302 https://127.0.0.1:%d/d.bin; }\n"
            % (port, port)))
        r = self.drive("-A", tls[0], "get", "-R", "1", web.url("down"),
                       os.path.join(self.dst, "d"), timeout=60)
        j = r.job()
        self.assertEqual(j["state"], "ERROR", r.stdout)
        self.assertEqual(j["error"]["code"], "0x80072F7C", r.stdout)
        self.assertIn("downgrades to http", j["error"]["text"])
        self.assertFalse(os.path.exists(os.path.join(self.dst, "d")))
        self.drive("cancel", r.guid)
        p = json.loads(self.drive("-A", tls[0], "probe",
                                  web.url("down")).stdout)
        self.assertIn("downgrades to http", p["error"]["text"], p)
        # https to https is still followed.
        r = self.drive("-A", tls[0], "get", web.url("up"),
                       os.path.join(self.dst, "u"))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "u")),
                         sha(os.path.join(self.www, "d.bin")))

    # -- U8: a low-speed floor ------------------------------------------

    def test_slowloris_server_is_a_stall(self):
        """A server trickling 40 B/s: under the floor (lowered for the
        test to 200 B/s over 2 s) the attempt ends as a transient error
        (before: a 1 B/s floor, the worker held for as long as the
        server likes)."""
        write_random(os.path.join(self.www, "s.bin"), 100000)
        q = self.quirky()
        guid = self.create("-R", "60", q.url("trickle", "s.bin"),
                           os.path.join(self.dst, "s.bin"))
        r = self.drive("run", "-w", "8", guid,
                       env={"BITSYNC_TEST_LOW_SPEED": "200:2"}, timeout=60)
        j = r.job(guid)
        self.assertEqual(j["state"], "TRANSIENT_ERROR", r.stdout)
        self.assertEqual(j["error"]["code"], "0x80072EE2", r.stdout)
        self.assertIn("slower than 200 bytes/s for 2 s", j["error"]["text"])
        self.drive("cancel", guid)

    # -- U17: custom headers stay with their origin ---------------------

    def test_custom_headers_not_sent_cross_origin(self):
        write_random(os.path.join(self.www, "h.bin"), 30000)
        q = self.quirky()
        # Same origin (a relative redirect): the header goes along.
        r = self.drive("get", "-H", "X-Auth: tok-123",
                       q.url("redirect-rel", "h.bin"),
                       os.path.join(self.dst, "a"))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        plain = [x for x in q.log("plain")]
        self.assertTrue(plain)
        self.assertEqual({x["x_auth"] for x in plain}, {"tok-123"})
        # Another port is another origin: it never sees the header.
        r = self.drive("get", "-H", "X-Auth: tok-123",
                       q.url("redirect-port", "h.bin"),
                       os.path.join(self.dst, "b"))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "b")),
                         sha(os.path.join(self.www, "h.bin")))
        alt = [x for x in q.log("plain") if x["port"] == q.alt_port]
        self.assertTrue(alt, q.log())
        self.assertEqual([x["x_auth"] for x in alt], [None] * len(alt))
        first = q.log("redirect-port")
        self.assertEqual(first[0]["x_auth"], "tok-123")
        # The probe (refresh) follows the same rule.
        p = json.loads(self.drive("probe", q.url(
            "redirect-port", "h.bin")).stdout)
        self.assertEqual(p.get("size"), 30000, p)
        alt = [x for x in q.log("plain") if x["port"] == q.alt_port]
        self.assertEqual({x["x_auth"] for x in alt}, {None})

    # -- h3 residual: no NTLM or Digest over plain http ------------------

    def test_no_ntlm_or_digest_over_plain_http(self):
        with open(os.path.join(self.creds, "reader"), "w") as f:
            f.write("username = reader\npassword = s3cret-pw\n")
        os.chmod(os.path.join(self.creds, "reader"), 0o600)
        rec = Recorder()
        rec.RequestHandlerClass = Challenger
        rec.start()
        self.addCleanup(rec.stop)
        r = self.drive("probe", "-c", "reader", "-t", "network",
                       rec.url("p.bin"))
        self.assertIn("Negotiate", r.stdout)
        r = self.drive("get", "-R", "1", "-c", "reader", "-t", "network",
                       rec.url("g.bin"), os.path.join(self.dst, "g"))
        self.assertTrue(rec.seen, "nothing reached the server")
        self.assertEqual(rec.auths(), [],
                         "credentials offered over plain http")
        j = r.job()
        self.assertEqual(j["state"], "ERROR", r.stdout)
        self.assertIn("https://", j["error"]["text"])

    # -- SMB -----------------------------------------------------------

    def test_smb_probe_not_held_by_a_transfer(self):
        """U3: a probe from the main thread while a rate-limited SMB
        transfer runs answers at once (before: it waited for the whole
        file, about 6 s here)."""
        smb, pub, priv = self._smbd()
        write_random(os.path.join(pub, "big.bin"), 6 * MiB)
        write_random(os.path.join(pub, "small.bin"), 1000)
        os.utime(os.path.join(pub, "big.bin"), (time.time() - 60,) * 2)
        r = self.drive("-r", str(1 * MiB), "-Q", smb.unc("pub", "small.bin"),
                       "get", "-a", smb.unc("pub", "big.bin"),
                       os.path.join(self.dst, "big.bin"), timeout=100)
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        line = [x for x in r.stdout.splitlines() if x.startswith("probe_ms")]
        self.assertEqual(len(line), 1, r.stdout)
        ms, rc = int(line[0].split()[1]), int(line[0].split()[3])
        self.assertEqual(rc, 0, r.stdout)
        self.assertLess(ms, 2000, "probe waited %d ms for the transfer" % ms)
        self.assertGreater(self.elapsed(r), 4000)

    def test_smb_growing_file_bounded_by_its_size(self):
        """U6: a file that grows while it is read (as a server streaming
        past the size it announced): reading stops at the announced size,
        the job fails, the temp never holds more (before: read to EOF)."""
        smb, pub, priv = self._smbd()
        src = os.path.join(pub, "grow.bin")
        write_random(src, 2 * MiB)
        os.utime(src, (time.time() - 60,) * 2)
        stop = threading.Event()
        biggest = [0]

        def grow():
            while not stop.is_set() and os.path.getsize(src) < 40 * MiB:
                with open(src, "ab") as f:
                    f.write(os.urandom(256 * 1024))
                for t in self.temps():
                    try:
                        biggest[0] = max(biggest[0], os.path.getsize(t))
                    except OSError:
                        pass
                time.sleep(0.05)

        p = self.spawn("-r", str(2 * MiB), "get", "-R", "60", "-a",
                       smb.unc("pub", "grow.bin"),
                       os.path.join(self.dst, "grow.bin"))
        self.wait_temp_size(1, p)
        t = threading.Thread(target=grow)
        t.start()
        try:
            out, err = p.communicate(timeout=60)
        finally:
            stop.set()
            t.join()
            if p.poll() is None:
                p.kill()
                p.communicate()
        from test_engine import Result
        res = Result(type("P", (), {"returncode": p.returncode,
                                    "stdout": out, "stderr": err}))
        j = res.job()
        self.assertEqual(j["state"], "ERROR", out)
        self.assertIn("sent more than the %d bytes" % (2 * MiB),
                      j["error"]["text"])
        self.assertLessEqual(biggest[0], 2 * MiB)
        for t in self.temps():
            self.assertLessEqual(os.path.getsize(t), 2 * MiB)
        self.assertFalse(os.path.exists(os.path.join(self.dst, "grow.bin")))
        self.drive("cancel", res.guid)

    def test_smb_same_second_edit_never_spliced(self):
        """U16: a file edited in place (same size) within the second of
        its mtime, while the engine reads it: size and mtime (seconds)
        cannot tell, so a fresh file is read only once its mtime's second
        is over; what lands is one version (before: a splice of both)."""
        smb, pub, priv = self._smbd()
        src = os.path.join(pub, "e.bin")
        old = os.urandom(4 * MiB)
        new = os.urandom(4 * MiB)
        # Start early in a second, so the edit below shares it.
        time.sleep(1.05 - time.time() % 1)
        with open(src, "wb") as f:
            f.write(old)
        os.chmod(src, 0o644)
        mt = os.stat(src).st_mtime_ns
        p = self.spawn("-r", str(2 * MiB), "get", "-a",
                       smb.unc("pub", "e.bin"),
                       os.path.join(self.dst, "e.bin"))
        time.sleep(0.6)
        with open(src, "r+b") as f:
            f.write(new)
        # The same second (libsmbclient reports whole seconds): as an
        # edit within the granularity looks.
        os.utime(src, ns=(mt, mt))
        try:
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, 0, out + err)
        with open(os.path.join(self.dst, "e.bin"), "rb") as f:
            got = f.read()
        self.assertTrue(got in (old, new), "two versions spliced")
        self.assertEqual(sha_bytes(got), sha_bytes(new))


def load_tests(loader, standard, pattern):
    """Only this file's tests, not the EngineTest ones it inherits."""
    return unittest.TestSuite(
        TransportTest(n) for n in sorted(TransportTest.__dict__)
        if n.startswith("test_"))


if __name__ == "__main__":
    unittest.main()
