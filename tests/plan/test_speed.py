"""Transfer speed, as behaviour (issue 14): what makes the engine fast is
tested here, not the speed itself (tests/bench/engine_bench.sh measures
that):

- a declared sha256 is computed while the file is received: the daemon
  never reads the file back (rchar of /proc/PID/io counts read() and
  pread() of files, not a socket's recv(): it stays far below the file's
  size, where verifying by reading it, and recording the placed file's
  hash by reading it again, made it twice the size); after a kill -9
  mid-transfer the restarted daemon reads back what the temp held once,
  and fetches only the rest;
- many small files over TLS ride one connection per worker: 50 https
  files with max_parallel = 2 take at most 2 TLS connections (nginx logs
  $connection for every request);
- SMB transfers run in parallel across max_parallel: behind a proxy that
  delays every answer of smbd, the two workers' requests are outstanding
  at the same time (never with BITSYNC_SMB_SERIAL=1, the old
  one-library-lock behaviour, which the test runs as its control).

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    python3 tests/plan/test_speed.py SpeedTest.test_sha256_while_received
"""

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
from test_apply import MiB, BITSYNC, write_random, sha, wait_for  # noqa
from test_run import RunTest  # noqa: E402
import servers  # noqa: E402


def rchar(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            k, v = line.split(":")
            if k == "rchar":
                return int(v)
    raise AssertionError("no rchar for %d" % pid)


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


class ConnNginx(servers.Nginx):
    """nginx that also logs $connection and $connection_requests of each
    request: a new $connection is a new TCP connection (a TLS handshake
    over https)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.conn_log = os.path.join(self.workdir, "logs", "conn.log")
        self.extra_server += " access_log %s conns;" % self.conn_log

    def _conf(self):
        return super()._conf().replace(
            "    sendfile on;",
            "    sendfile on;\n    log_format conns '$connection "
            "$connection_requests $uri';", 1)

    def connections(self):
        with open(self.conn_log) as f:
            return [line.split() for line in f if line.strip()]


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that holds every chunk the server sends
    for delay seconds before passing it on (latency, not bandwidth), and
    counts how often a chunk arrives from the server while another
    connection still holds a chunk back: how often two connections'
    requests are outstanding at once."""

    def __init__(self, target_port, delay=0.02):
        self.target = target_port
        self.delay = delay
        self.lock = threading.Lock()
        self.pending = {}      # connection id -> chunks held back
        self.chunks = 0
        self.overlapped = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        n = 0
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            n += 1
            s = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.pending[n] = 0
            threading.Thread(target=self._up, args=(c, s),
                             daemon=True).start()
            q = []
            cv = threading.Condition()
            threading.Thread(target=self._down_read, args=(n, s, q, cv),
                             daemon=True).start()
            threading.Thread(target=self._down_send, args=(n, c, q, cv),
                             daemon=True).start()

    def _up(self, c, s):
        try:
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                s.sendall(b)
        except OSError:
            pass
        for x in (s,):
            try:
                x.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _down_read(self, n, s, q, cv):
        try:
            while True:
                b = s.recv(1 << 16)
                with cv:
                    with self.lock:
                        self.chunks += 1 if b else 0
                        if b and any(v > 0 for k, v in self.pending.items()
                                     if k != n):
                            self.overlapped += 1
                        self.pending[n] += 1
                    q.append((time.monotonic() + self.delay, b))
                    cv.notify()
                if not b:
                    return
        except OSError:
            with cv:
                q.append((0, b""))
                cv.notify()

    def _down_send(self, n, c, q, cv):
        while True:
            with cv:
                while not q:
                    cv.wait()
                at, b = q.pop(0)
            wait = at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with self.lock:
                self.pending[n] -= 1
            if not b:
                try:
                    c.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                c.sendall(b)
            except OSError:
                return

    def stop(self):
        self.stopping = True
        self.sock.close()


class SpeedTest(RunTest):
    def sha_set(self, name, size, **kw):
        path = os.path.join(self.www, name)
        write_random(path, size)
        return self.set_yaml("app", [(name, file_sha(path))], **kw)

    def wait_placed(self, name, timeout=60):
        placed = os.path.join(self.dst, "app", name)
        ok = wait_for(lambda: os.path.exists(placed) and
                      (self.set_status("app") or {}).get("state") ==
                      "in-sync", timeout)
        self.assertTrue(ok, "not placed and in sync: %r"
                        % self.set_status("app"))
        return placed

    # -- sha256 while received --------------------------------------------

    def test_sha256_while_received(self):
        """rchar of the daemon while it fetches, verifies and places a
        48 MiB file with a declared sha256: the file is never read back
        (the body comes from the socket, which rchar does not count)."""
        size = 48 * MiB
        yaml = self.sha_set("big.bin", size)
        self.nginx()
        d = self.start()
        before = rchar(d.pid)
        self.manifest("10-app.yaml", yaml)
        placed = self.wait_placed("big.bin")
        read = rchar(d.pid) - before
        self.assertEqual(sha(placed), sha(os.path.join(self.www, "big.bin")))
        # The manifest, the stores and a few status reads; reading the
        # file back (to verify, or to record the placed file) is size
        # each time.
        self.assertLess(read, size // 8, "read %d bytes for a %d-byte"
                        " file: hashed by reading it again?" % (read, size))

    def test_sha256_after_restart_reads_temp_once(self):
        """kill -9 mid-transfer: the next daemon reads what the temp
        holds once (to bring the hash up to date), fetches the rest, and
        verifies without reading the file again."""
        size = 24 * MiB
        yaml = self.sha_set("big.bin", size)
        self.nginx(limit_rate=8 * MiB)
        self.manifest("10-app.yaml", yaml)
        d = self.start()
        temp = self.wait_temp(os.path.join(self.dst, "app"), 6 * MiB, d)
        self.stop(signal.SIGKILL)
        held = os.path.getsize(temp)
        # SQLite reads each store's write-ahead log once when it opens.
        wal = sum(os.path.getsize(os.path.join(self.state, n))
                  for n in os.listdir(self.state) if n.endswith("-wal"))
        # Counted from the new daemon's start: its first pass may resume
        # the transfer (and read the temp back) before start() returns.
        d = self.start()
        placed = self.wait_placed("big.bin")
        read = rchar(d.pid)
        self.assertEqual(sha(placed), sha(os.path.join(self.www, "big.bin")))
        log = self.requests("/big.bin")
        self.assertEqual(log[-1]["status"], 206, log)
        # held bytes from the temp once (the rest came from the socket,
        # not counted) + the logs; reading the file back would add
        # size (24 MiB) each time, reading the temp twice held (>= 6 MiB).
        self.assertLess(read, held + wal + 3 * MiB, "read %d bytes (temp"
                        " held %d, logs %d) for a %d-byte file"
                        % (read, held, wal, size))
        self.assertGreater(read, held)

    def test_sha256_mismatch_still_caught(self):
        """The hash computed on the way is the one compared: a file that
        differs from its declared sha256 is not committed."""
        path = os.path.join(self.www, "big.bin")
        write_random(path, 3 * MiB)
        self.nginx()
        self.manifest("10-app.yaml", self.set_yaml(
            "app", [("big.bin", "ab" * 32)]))
        self.start()
        self.assertTrue(wait_for(lambda: "mismatch" in str(
            (self.set_status("app") or {}).get("last_error")), 60),
            self.set_status("app"))
        self.assertFalse(os.path.exists(os.path.join(self.dst, "app",
                                                     "big.bin")))

    # -- connection reuse over TLS ----------------------------------------

    def test_https_small_files_one_handshake_per_worker(self):
        """50 files of 64 KiB over https, max_parallel = 2: at most 2
        connections (TLS handshakes), each carrying many requests."""
        tls = servers.make_cert(self.dir)
        names = []
        for i in range(50):
            n = "f%02d.bin" % i
            write_random(os.path.join(self.www, n), 64 * 1024)
            names.append(n)
        web = ConnNginx(self.dir, self.www, tls=tls)
        web.start()
        self.servers.append(web)
        self.web = web
        with open(self.config, "a") as f:
            f.write("ca_file = %s\n" % tls[0])
        self.manifest("10-app.yaml", self.set_yaml("app", names))
        p = self.run_bitsync("apply", "--wait", "--timeout", "60s")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for n in names:
            self.assertEqual(sha(os.path.join(self.dst, "app", n)),
                             sha(os.path.join(self.www, n)))
        conns = web.connections()
        self.assertEqual(len([c for c in conns if c[2].endswith(".bin")]),
                         50, conns)
        ids = set(c[0] for c in conns)
        self.assertLessEqual(len(ids), 2, "%d TLS connections for 50 files"
                             " with max_parallel = 2: %r" % (len(ids),
                                                             conns))
        self.assertGreaterEqual(max(int(c[1]) for c in conns), 20)

    # -- SMB in parallel ---------------------------------------------------

    def smb_overlap(self, env):
        """Fetches two 24 MiB files over SMB through a DelayProxy with
        max_parallel = 2; returns (overlapped, chunks)."""
        pub = os.path.join(self.dir, "pub")
        if not os.path.isdir(pub):
            os.makedirs(pub)
            os.chmod(pub, 0o755)
            for n in ("a.bin", "b.bin"):
                write_random(os.path.join(pub, n), 24 * MiB)
                os.chmod(os.path.join(pub, n), 0o644)
                # Not modified just now: no wait for the mtime's second
                # (smb.c), so both workers read at once.
                old = time.time() - 3600
                os.utime(os.path.join(pub, n), (old, old))
            smb = servers.Smbd(self.dir, {"pub": servers.Share(pub)})
            smb.start()
            self.servers.append(smb)
            self.smb = smb
        proxy = DelayProxy(self.smb.port)
        self.addCleanup(proxy.stop)
        dest = os.path.join(self.dir, "smbdst-%d" % len(env))
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "[engine]\nmax_parallel = 2\nsmb_port = %d\n"
                    % (self.mdir, self.state, proxy.port))
        unc = self.smb.unc("pub", "x").rsplit("\\", 1)[0]
        self.manifest("10-app.yaml",
                      "  - name: app\n    source: share\n"
                      "    destination: %s\n    files: [a.bin, b.bin]\n"
                      % dest, sources=False,
                      extra="sources:\n  share:\n    url: '%s'\n"
                      "    auth: computer\n" % unc)
        e = dict(os.environ, **env)
        p = subprocess.run([BITSYNC, "-c", self.config, "apply", "--wait",
                            "--timeout", "60s"], capture_output=True,
                           text=True, timeout=120, env=e)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for n in ("a.bin", "b.bin"):
            self.assertEqual(sha(os.path.join(dest, n)),
                             sha(os.path.join(pub, n)))
        return proxy.overlapped, proxy.chunks

    def test_smb_two_files_concurrently(self):
        """Each worker's reads are in flight while the other's are: many
        answers of one connection arrive while the other connection's are
        still held back.  The control run with the library lock around
        every call (BITSYNC_SMB_SERIAL=1) shows the measure can fail."""
        par, chunks = self.smb_overlap({})
        # A fresh state and destination for the control.
        for n in os.listdir(self.state):
            p = os.path.join(self.state, n)
            if os.path.isfile(p):
                os.unlink(p)
        ser, chunks2 = self.smb_overlap({"BITSYNC_SMB_SERIAL": "1"})
        self.assertGreater(chunks, 100)
        self.assertGreater(chunks2, 100)
        self.assertGreater(par, chunks * 0.25, "parallel: %d of %d answers"
                           " overlapped" % (par, chunks))
        self.assertLess(ser, chunks2 * 0.05, "serial control: %d of %d"
                        % (ser, chunks2))


if __name__ == "__main__":
    unittest.main()
