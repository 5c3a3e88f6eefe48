"""The control protocol spoken to a running daemon (agent/control.h):
every request gets one reply format, "RC OUTLEN ERRLEN\\n" OUT ERR, and a
client that sends garbage is refused with a sentence and does not stop the
daemon from answering the next one.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \\
    /usr/bin/python3 tests/plan/test_control.py ControlTest.test_one_reply_format
"""

import json
import os
import re
import socket
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_run import RunTest  # noqa
from test_apply import wait_for, write_random  # noqa

HEADER = re.compile(rb"^(-?\d+) (\d+) (\d+)\n")


class ControlTest(RunTest):
    def ask(self, data, shut=False):
        """Sends data on the control socket; returns (rc, out, err) of a
        reply that must be well formed."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(os.path.join(self.state, "control.sock"))
        try:
            s.sendall(data)
        except BrokenPipeError:
            pass    # the daemon stopped reading (an oversized request)
        if shut:
            s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            reply += b
        s.close()
        m = HEADER.match(reply)
        self.assertIsNotNone(m, "not a reply: %r" % reply[:200])
        rc, outlen, errlen = (int(x) for x in m.groups())
        body = reply[m.end():]
        self.assertEqual(len(body), outlen + errlen, reply[:200])
        return rc, body[:outlen].decode(), body[outlen:].decode()

    def test_one_reply_format(self):
        write_random(os.path.join(self.www, "a.bin"), 5000)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        self.start()
        rc, out, err = self.ask(b"apply\n")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(json.loads(out)["sets"], 1)
        rc, out, err = self.ask(b"status\n")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual([s["name"] for s in json.loads(out)["sets"]],
                         ["app"])
        # apply answers after one pass, which under load may still be
        # transferring; the plan's detailed exit code wants it done.
        self.assertTrue(wait_for(lambda: (self.set_status("app") or {})
                                 .get("state") == "in-sync"))
        rc, out, err = self.ask(b"plan 1 1 0\n\n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["changes"], 0)
        # The commands read the same replies.
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("by the daemon", p.stderr)
        p = self.run_bitsync("plan", "--format", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["changes"], 0)

    def test_garbage_requests_refused(self):
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml("app", ["a.bin"]))
        self.start()
        cases = [
            (b"delete-everything\n", "an unknown request"),
            (b"plan 2 0 0\n\n", "flags"),
            (b"plan 0 0 0\n/a\0/../../etc\n\n", "NUL"),
            (b"apply\nstatus\n", "bytes after the request"),
            (b"plan 0 0 0\n/etc/passwd\n", "an incomplete request"),
            (b"a" * 70000, "over 64 KiB"),
        ]
        for data, why in cases:
            rc, out, err = self.ask(data, shut=True)
            self.assertEqual(rc, 64, (data[:40], err))
            self.assertEqual(out, "")
            self.assertIn(why, err)
            self.assertIn("refused", err)
        # Still serving, and it did nothing for the refused ones.
        p = self.run_bitsync("apply")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("by the daemon", p.stderr)
        self.assertIsNone(self.daemon.poll())
        err = self.stop()
        self.assertEqual(err.count("event=control-refused"), len(cases),
                         err)


if __name__ == "__main__":
    unittest.main()
