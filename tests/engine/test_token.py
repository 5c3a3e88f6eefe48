"""Helper tokens on the wire (issue 11): a probe (the refresh re-check)
honours the token's usage exactly as a transfer does, and a password is
never sent as Basic authentication over plain http://.

A small HTTP server of the test's own (127.0.0.1, a port it owns) records
the Authorization header of every request and answers a request without
one with a Basic challenge, so a client that holds a password is lured
into sending it.  smbd (tests/servers) checks the same for UNC probes.

Run one: ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/engine/test_token.py \
    TokenTest.test_local_file_token_never_sent_on_probe
"""

import http.server
import json
import os
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_engine import EngineTest, servers, write_random, sha  # noqa: E402


class Recorder(http.server.ThreadingHTTPServer):
    """Records (path, Authorization) of every request; 401 + a Basic
    challenge without credentials, 200 with a small body with any."""

    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever,
                                       daemon=True)

    def url(self, path):
        return "http://127.0.0.1:%d/%s" % (self.server_address[1], path)

    def auths(self):
        with self.lock:
            return [a for _, a in self.seen if a is not None]

    def start(self):
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, body):
        auth = self.headers.get("Authorization")
        with self.server.lock:
            self.server.seen.append((self.path, auth))
        if auth is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="x"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = b"x" * 1000
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"e1"')
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):
        self._answer(False)

    def do_GET(self):
        self._answer(True)


class TokenTest(EngineTest):
    def cred(self, user="reader", pw="s3cret-pw"):
        path = os.path.join(self.creds, "reader")
        with open(path, "w") as f:
            f.write("username = %s\npassword = %s\n" % (user, pw))
        os.chmod(path, 0o600)

    def recorder(self):
        rec = Recorder()
        rec.start()
        self.addCleanup(rec.stop)
        return rec

    def test_local_file_token_never_sent_on_probe(self):
        """usage: [local_file]: the probe goes out without credentials."""
        self.cred()
        rec = self.recorder()
        r = self.drive("probe", "-c", "reader", "-t", "local_file",
                       rec.url("f.bin"))
        self.assertTrue(rec.seen, "the probe never reached the server")
        self.assertEqual(rec.auths(), [], "a local_file token was sent")
        self.assertIn("401", r.stdout)
        self.assertNotIn("s3cret-pw", r.stdout + r.stderr)

    def test_smb_local_file_token_never_logs_on(self):
        """A UNC probe with a local_file-only token connects anonymously:
        the user-only share refuses it (a network token reads it)."""
        smb, pub, priv = self._smbd()
        write_random(os.path.join(priv, "u.bin"), 4096)
        with open(os.path.join(self.creds, "reader"), "w") as f:
            f.write("username = daemon\npassword = Sm8-pass\n"
                    "domain = WORKGROUP\n")
        os.chmod(os.path.join(self.creds, "reader"), 0o600)
        r = self.drive("probe", "-c", "reader", "-t", "local_file",
                       smb.unc("priv", "u.bin"))
        j = json.loads(r.stdout)
        self.assertIn("error", j, "a local_file token logged on: %r" % j)
        self.assertEqual(j["error"]["code"], "0x80070005")
        r = self.drive("probe", "-c", "reader", "-t", "network",
                       smb.unc("priv", "u.bin"))
        self.assertEqual(json.loads(r.stdout).get("size"), 4096, r.stdout)

    def test_no_basic_over_plain_http(self):
        """A network token: never Basic over http://, in a probe or a
        transfer; the error says why.  Over https:// Basic is used."""
        self.cred()
        rec = self.recorder()
        r = self.drive("probe", "-c", "reader", "-t", "network",
                       rec.url("p.bin"))
        self.assertIn("plain http://", r.stdout)
        r = self.drive("get", "-c", "reader", "-t", "network",
                       rec.url("g.bin"), os.path.join(self.dst, "g"))
        self.assertTrue(rec.seen, "nothing reached the server")
        self.assertEqual(rec.auths(), [], "Basic sent over plain http")
        j = r.job()
        self.assertEqual(j["state"], "ERROR", r.stdout)
        self.assertEqual(j["error"]["code"], "0x80190191")
        self.assertIn("https://", j["error"]["text"])
        self.assertNotIn("s3cret-pw", r.stdout + r.stderr)
        self.drive("cancel", r.guid)
        # Inside TLS the same token logs on with Basic.
        write_random(os.path.join(self.www, "s.bin"), 20000)
        with open(os.path.join(self.dir, "htpasswd"), "w") as f:
            f.write("reader:{PLAIN}s3cret-pw\n")
        tls = servers.make_cert(self.dir)
        web = self.nginx(tls=tls, extra_server='auth_basic "x"; '
                         'auth_basic_user_file %s;'
                         % os.path.join(self.dir, "htpasswd"))
        r = self.drive("-A", tls[0], "get", "-c", "reader", "-t", "network",
                       web.url("s.bin"), os.path.join(self.dst, "s"))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "s")),
                         sha(os.path.join(self.www, "s.bin")))
        self.assertEqual(web.log()[-1]["user"], "reader")


def load_tests(loader, standard, pattern):
    """Only this file's tests, not the EngineTest ones it inherits."""
    return unittest.TestSuite(
        TokenTest(n) for n in sorted(TokenTest.__dict__)
        if n.startswith("test_"))


if __name__ == "__main__":
    unittest.main()
