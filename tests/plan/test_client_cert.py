"""TLS client certificates (issue 14, design §6 round 2): a source's
`client_certificate: NAME` makes the engine present NAME.pem (certificate
and key) from the credential directory, held to the checks of every
credential file.

nginx on 127.0.0.1 with `ssl_verify_client on` and a CA the test makes
with openssl: with the certificate the file arrives; without one the set
fails with a TLS context and a code that says so (nginx itself answers
such a client with a 400, so the engine tells that 400 apart by the
server's CertificateRequest); a key file others can read is refused before
any connection, as credential files are.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    python3 tests/plan/test_client_cert.py ClientCertTest.test_with_certificate
"""

import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_apply import Base, sha, write_random  # noqa: E402

CLIENT_CERT_NEEDED = "0x80072F0C"  # ERROR_INTERNET_CLIENT_AUTH_CERT_NEEDED


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class ClientCertTest(Base):
    def setUp(self):
        super().setUp()
        pki = os.path.join(self.dir, "pki")
        os.makedirs(pki)
        self.pki = pki
        p = lambda n: os.path.join(pki, n)  # noqa: E731
        # The test's own CA, a server certificate for 127.0.0.1 and a
        # client certificate, both issued by it.
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                "2", "-subj", "/CN=bitsync test CA", "-keyout", p("ca.key"),
                "-out", p("ca.crt"))
        for name, ext in (("server", "subjectAltName=IP:127.0.0.1\n"
                           "extendedKeyUsage=serverAuth\n"),
                          ("client", "extendedKeyUsage=clientAuth\n")):
            with open(p(name + ".ext"), "w") as f:
                f.write(ext)
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=bitsync-" + name, "-keyout", p(name + ".key"),
                    "-out", p(name + ".csr"))
            openssl("x509", "-req", "-in", p(name + ".csr"), "-CA",
                    p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial",
                    "-days", "2", "-extfile", p(name + ".ext"), "-out",
                    p(name + ".crt"))
        self.creds = os.path.join(self.dir, "credentials")
        os.makedirs(self.creds, mode=0o700)
        os.chmod(self.creds, 0o700)
        self.pem = os.path.join(self.creds, "fleet-client.pem")
        with open(self.pem, "w") as out:
            for n in ("client.crt", "client.key"):
                with open(p(n)) as f:
                    out.write(f.read())
        os.chmod(self.pem, 0o600)
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "credential_dir = %s\n[engine]\nmax_parallel = 2\n"
                    "ca_file = %s\n" % (self.mdir, self.state, self.creds,
                                        p("ca.crt")))
        write_random(os.path.join(self.www, "a.bin"), 300000)
        self.nginx(tls=(p("server.crt"), p("server.key")),
                   extra_server="ssl_verify_client on; "
                   "ssl_client_certificate %s;" % p("ca.crt"))

    def source(self, cert):
        extra = "    client_certificate: %s\n" % cert if cert else ""
        return ("sources:\n  web:\n    url: %s\n    proxy:\n"
                "      usage: no_proxy\n%s" % (self.web.url("/"), extra))

    def declare(self, cert):
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]),
                      sources=False, extra=self.source(cert))

    def set_error(self):
        p = self.run_bitsync("status", "--format", "json")
        doc = json.loads(p.stdout)
        for s in doc["sets"]:
            if s["name"] == "app":
                return s
        self.fail("no set app in status: %s" % p.stdout)

    def test_with_certificate(self):
        """The certificate from the credential directory opens the door;
        the key never reaches a log, status or the store."""
        self.declare("fleet-client")
        p = self.run_bitsync("apply", "--wait", "--timeout", "60s")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "app", "a.bin")),
                         sha(os.path.join(self.www, "a.bin")))
        self.assertEqual([r["status"] for r in self.requests("/a.bin")],
                         [200])
        with open(os.path.join(self.pki, "client.key")) as f:
            key_line = f.read().splitlines()[1]
        for root, _, names in os.walk(self.state):
            for n in names:
                with open(os.path.join(root, n), "rb") as f:
                    self.assertNotIn(key_line.encode(), f.read(), n)
        self.assertNotIn(key_line, p.stdout + p.stderr)

    def test_without_certificate_is_tls_error(self):
        """No client_certificate: the server's 400 is reported as what it
        is, a TLS client certificate missing, with the transport
        context."""
        self.declare(None)
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dst, "app",
                                                     "a.bin")))
        s = self.set_error()
        err = json.dumps(s)
        self.assertIn("GENERAL_TRANSPORT", err)
        self.assertIn(CLIENT_CERT_NEEDED, err.upper().replace("0X", "0x"))
        self.assertIn("client_certificate", err)
        # The server did turn the client away: nginx's 400.
        self.assertEqual([r["status"] for r in self.requests("/a.bin")],
                         [400])

    def test_wrong_certificate_is_tls_error(self):
        """A certificate from another CA: refused by the server, reported
        with the certificate's name."""
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                "2", "-subj", "/CN=stranger", "-keyout",
                os.path.join(self.pki, "s.key"), "-out",
                os.path.join(self.pki, "s.crt"))
        other = os.path.join(self.creds, "stranger.pem")
        with open(other, "w") as out:
            for n in ("s.crt", "s.key"):
                with open(os.path.join(self.pki, n)) as f:
                    out.write(f.read())
        os.chmod(other, 0o600)
        self.declare("stranger")
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        err = json.dumps(self.set_error())
        self.assertIn("GENERAL_TRANSPORT", err)
        self.assertIn("refused the TLS client certificate stranger", err)

    def test_key_0644_refused(self):
        """A key file others can read is refused as credential files are:
        no connection is made, the error names the file and the fix."""
        os.chmod(self.pem, 0o644)
        self.declare("fleet-client")
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        err = json.dumps(self.set_error())
        self.assertIn("fleet-client.pem", err)
        self.assertIn("mode 0600", err)
        self.assertEqual(self.requests("/a.bin"), [])
        # A FIFO at the name neither blocks nor is read.
        os.unlink(self.pem)
        os.mkfifo(self.pem, 0o600)
        p = self.run_bitsync("apply", timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("not a regular file", json.dumps(self.set_error()))
        self.assertEqual(self.requests("/a.bin"), [])


if __name__ == "__main__":
    unittest.main()
