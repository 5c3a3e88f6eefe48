"""Integration tests of the engine backend against real servers on
127.0.0.1 (nginx, smbd, tinyproxy from tests/servers/servers.py), driven
through tests/engine/engine_drive.

Run one test: ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/engine/test_engine.py EngineTest.test_http_download
"""

import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
import servers  # noqa: E402

DRIVE = os.environ.get("ENGINE_DRIVE", os.path.join(
    HERE, "..", "..", "build", "tests", "engine", "engine_drive"))
MiB = 1 << 20


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_random(path, size, seed=b""):
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    os.chmod(path, 0o644)


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.events = []
        self.jobs = []
        self.completes = {}
        self.guid = None
        for line in proc.stdout.splitlines():
            if line.startswith("event "):
                _, ms, guid, state = line.split()
                self.events.append((int(ms), guid, state))
            elif line.startswith('{"'):
                self.jobs.append(json.loads(line))
            elif line.startswith("complete "):
                _, guid, rc = line.split()
                self.completes[guid] = int(rc)
            elif line.startswith("job "):
                self.guid = line.split()[1]

    def job(self, guid=None):
        for j in self.jobs:
            if guid is None or j["guid"] == guid:
                return j
        raise AssertionError("no job %s in %r" % (guid, self.stdout))

    def states(self, guid=None):
        return [s for _, g, s in self.events if guid is None or g == guid]


class EngineTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bitsync-engine-")
        os.chmod(self.dir, 0o755)
        self.www = os.path.join(self.dir, "www")
        self.dst = os.path.join(self.dir, "dst")
        self.state = os.path.join(self.dir, "state")
        self.creds = os.path.join(self.dir, "creds")
        for d in (self.www, self.dst, self.state, self.creds):
            os.makedirs(d)
        os.chmod(self.www, 0o755)
        self.smb_port = 445
        self.stack = []

    def tearDown(self):
        for s in reversed(self.stack):
            s.stop()
        for m in getattr(self, "mounts", []):
            subprocess.run(["umount", "-l", m])
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, server):
        server.start()
        self.stack.append(server)
        return server

    def nginx(self, **kw):
        return self.start(servers.Nginx(self.dir, self.www, **kw))

    def drive(self, *args, parallel=None, env=None, timeout=120):
        argv = [DRIVE, "-s", self.state, "-C", self.creds,
                "-P", str(self.smb_port)]
        if parallel is not None:
            argv += ["-p", str(parallel)]
        argv += list(args)
        e = dict(os.environ)
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
            e.pop(k, None)
        e.update(env or {})
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout, env=e)
        return Result(p)

    def spawn(self, *args, parallel=None):
        argv = [DRIVE, "-s", self.state, "-C", self.creds,
                "-P", str(self.smb_port)]
        if parallel is not None:
            argv += ["-p", str(parallel)]
        argv += list(args)
        return subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def temps(self, d=None):
        return glob.glob(os.path.join(d or self.dst, ".BIT*.tmp"))

    def wait_temp_size(self, size, proc, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assertIsNone(proc.poll(), "driver ended early")
            for t in self.temps():
                if os.path.getsize(t) >= size:
                    return t
            time.sleep(0.02)
        self.fail("temp file never reached %d bytes" % size)

    def create(self, *args):
        r = self.drive("create", *args)
        self.assertEqual(r.rc, 0, r.stderr)
        return r.stdout.strip()

    # -- HTTP -------------------------------------------------------------

    def test_http_download(self):
        write_random(os.path.join(self.www, "a.bin"), 3 * MiB + 17)
        web = self.nginx()
        out = os.path.join(self.dst, "a.bin")
        r = self.drive("get", "-H", "X-Fleet: contoso", web.url("a.bin"),
                       out)
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(out), sha(os.path.join(self.www, "a.bin")))
        self.assertEqual(r.states()[:3],
                         ["SUSPENDED", "QUEUED", "CONNECTING"])
        self.assertIn("TRANSFERRED", r.states())
        self.assertIn("ACKNOWLEDGED", r.states())
        f = r.job()["files"][0]
        self.assertEqual(f["size"], 3 * MiB + 17)
        self.assertTrue(f["etag"] and f["last_modified"], f)
        self.assertEqual(web.log()[0]["x_fleet"], "contoso")
        self.assertEqual(self.temps(), [])
        # Complete removed the job, as BITS does.
        self.assertEqual(self.drive("list").jobs, [])
        # probe: the same validators from a HEAD, no body
        p = json.loads(self.drive("probe", web.url("a.bin")).stdout)
        self.assertEqual(p["etag"], f["etag"])
        self.assertEqual(p["size"], f["size"])
        self.assertEqual(web.log()[-1]["method"], "HEAD")

    def test_http_404_is_error(self):
        web = self.nginx()
        r = self.drive("get", "-R", "1", "-T", "60", web.url("missing"),
                       os.path.join(self.dst, "m"))
        self.assertEqual(r.rc, 1)
        j = r.job()
        self.assertEqual(j["state"], "ERROR")
        self.assertEqual(j["error"]["code"], "0x80190194")
        self.assertEqual(j["error"]["context"], "REMOTE_FILE")
        self.assertEqual(j["error"]["context_code"], 5)
        self.assertIn("404", j["error"]["text"])
        self.assertNotIn("TRANSIENT_ERROR", r.states())

    def test_redirects_and_status_mapping(self):
        write_random(os.path.join(self.www, "r.bin"), 50000)
        web = self.nginx(extra_server=
                         "location = /moved { return 302 /r.bin; }\n"
                         "location = /loop { return 302 /loop; }\n"
                         "location = /busy { return 503; }\n"
                         "location = /deny { return 403; }\n")
        r = self.drive("get", web.url("moved"), os.path.join(self.dst, "a"))
        self.assertEqual(r.rc, 0, r.stdout)
        self.assertEqual(sha(os.path.join(self.dst, "a")),
                         sha(os.path.join(self.www, "r.bin")))
        r = self.drive("get", "-R", "1", "-T", "30", web.url("loop"),
                       os.path.join(self.dst, "b"))
        self.assertEqual(r.job(r.guid)["error"]["code"], "0x80072F7C")
        self.assertNotIn("TRANSIENT_ERROR", r.states(r.guid))
        r = self.drive("get", "-R", "1", "-T", "30", web.url("deny"),
                       os.path.join(self.dst, "c"))
        self.assertEqual(r.job(r.guid)["error"]["code"], "0x80190193")
        self.assertNotIn("TRANSIENT_ERROR", r.states(r.guid))
        # 503 is transient: retried until the no-progress timeout
        r = self.drive("get", "-R", "1", "-T", "2", web.url("busy"),
                       os.path.join(self.dst, "d"))
        self.assertEqual(r.job(r.guid)["error"]["code"], "0x801901F7")
        self.assertEqual(r.job(r.guid)["error"]["context"], "REMOTE_FILE")
        self.assertIn("TRANSIENT_ERROR", r.states(r.guid))
        self.assertEqual(r.states(r.guid)[-1], "ERROR")
        self.assertGreaterEqual(
            len([x for x in web.log() if x["uri"] == "/busy"]), 2)

    def test_connection_refused_transient_then_error(self):
        port = servers.free_port()
        t0 = time.monotonic()
        r = self.drive("get", "-R", "1", "-T", "3",
                       "http://127.0.0.1:%d/x" % port,
                       os.path.join(self.dst, "x"), timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(r.rc, 1)
        st = r.states()
        self.assertIn("TRANSIENT_ERROR", st)
        self.assertEqual(st[-1], "ERROR")
        self.assertGreaterEqual(st.count("TRANSIENT_ERROR"), 2, st)
        j = r.job()
        self.assertEqual(j["error"]["code"], "0x80072EFD")
        self.assertEqual(j["error"]["context"], "GENERAL_TRANSPORT")
        self.assertGreaterEqual(took, 2.5)
        self.assertLess(took, 15)

    def test_http_auth_helper_token(self):
        write_random(os.path.join(self.www, "s.bin"), 100000)
        hashed = subprocess.run(["openssl", "passwd", "-apr1", "s3cret"],
                                capture_output=True, text=True,
                                check=True).stdout.strip()
        with open(os.path.join(self.dir, "htpasswd"), "w") as f:
            f.write("reader:%s\n" % hashed)
        # Basic only inside TLS: over plain http:// the engine never
        # sends the password (tests/engine/test_token.py).
        tls = servers.make_cert(self.dir)
        web = self.nginx(tls=tls, extra_server='auth_basic "x"; '
                         'auth_basic_user_file %s;'
                         % os.path.join(self.dir, "htpasswd"))
        cred = os.path.join(self.creds, "reader")
        with open(cred, "w") as f:
            f.write("# test\nusername = reader\npassword = s3cret\n")
        os.chmod(cred, 0o644)
        r = self.drive("-A", tls[0], "get", "-c", "reader", "-t", "network",
                       web.url("s.bin"), os.path.join(self.dst, "s1"))
        self.assertEqual(r.job()["state"], "ERROR", "a 0644 credential"
                         " must be refused")
        self.assertIn("0600", r.job()["error"]["text"])
        self.assertNotIn("s3cret", r.stdout + r.stderr)
        self.drive("cancel", r.guid)
        os.chmod(cred, 0o600)
        r = self.drive("-A", tls[0], "get", web.url("s.bin"),
                       os.path.join(self.dst, "s2"))
        self.assertEqual(r.job()["error"]["code"], "0x80190191")
        self.drive("cancel", r.guid)
        r = self.drive("-A", tls[0], "get", "-c", "reader", "-t", "network",
                       web.url("s.bin"), os.path.join(self.dst, "s3"))
        self.assertEqual(r.rc, 0, r.stdout)
        self.assertEqual(sha(os.path.join(self.dst, "s3")),
                         sha(os.path.join(self.www, "s.bin")))
        self.assertEqual(web.log()[-1]["user"], "reader")

    def test_https_verified_ca_file_adds_anchor(self):
        write_random(os.path.join(self.www, "t.bin"), 300000)
        tls = servers.make_cert(self.dir)
        web = self.nginx(tls=tls)
        r = self.drive("get", "-R", "1", "-T", "60", web.url("t.bin"),
                       os.path.join(self.dst, "t1"))
        j = r.job()
        self.assertEqual(j["state"], "ERROR", r.stdout)
        self.assertEqual(j["error"]["code"], "0x80072F0D")
        self.assertEqual(j["error"]["context"], "GENERAL_TRANSPORT")
        self.assertNotIn("TRANSIENT_ERROR", r.states())
        self.drive("cancel", r.guid)
        r = self.drive("-A", tls[0], "get", web.url("t.bin"),
                       os.path.join(self.dst, "t2"))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "t2")),
                         sha(os.path.join(self.www, "t.bin")))

    def test_rate_limit(self):
        write_random(os.path.join(self.www, "r.bin"), 3 * MiB)
        web = self.nginx()
        r = self.drive("-r", str(1 * MiB), "get", web.url("r.bin"),
                       os.path.join(self.dst, "r.bin"))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        ms = [int(x.split()[1]) for x in r.stdout.splitlines()
              if x.startswith("elapsed_ms")][0]
        self.assertGreaterEqual(ms, 2500)
        self.assertLess(ms, 8000)

    def test_bits_limits_refused(self):
        """BITS's MaxFilesPerJob and MaxJobsPerMachine in the engine
        (max_files_per_job, max_jobs): a 201st file, by CreateJob or by
        AddFile, is refused with BG_E_TOO_MANY_FILES_IN_JOB and nothing is
        made; a job past the budget with BG_E_TOO_MANY_JOBS_PER_MACHINE."""
        web = self.nginx()
        pairs = []
        for i in range(201):
            pairs += [web.url("f%d" % i), os.path.join(self.dst, "f%d" % i)]
        r = self.drive("-F", "200", "create", *pairs)
        self.assertEqual(r.rc, 1)
        self.assertIn("BG_E_TOO_MANY_FILES_IN_JOB (0x80200051): 201 files",
                      r.stderr)
        self.assertEqual(self.drive("list").stdout.strip(), "")
        r = self.drive("-F", "200", "create", *pairs[:400])
        self.assertEqual(r.rc, 0, r.stderr)
        guid = r.stdout.strip()
        r = self.drive("-F", "200", "add", guid, pairs[400], pairs[401])
        self.assertEqual(r.rc, 1, r.stdout)
        self.assertIn("BG_E_TOO_MANY_FILES_IN_JOB (0x80200051): the job "
                      "holds 200 files", r.stdout)
        self.assertEqual(len(self.drive("list").job()["files"]), 200)
        # Without the limit the same AddFile is taken: it was the limit.
        r = self.drive("add", guid, pairs[400], pairs[401])
        self.assertEqual(r.rc, 0, r.stdout)
        r = self.drive("-J", "1", "create", pairs[0], pairs[1])
        self.assertEqual(r.rc, 1)
        self.assertIn("BG_E_TOO_MANY_JOBS_PER_MACHINE (0x80200050): 1 jobs "
                      "exist", r.stderr)
        r = self.drive("-J", "2", "create", pairs[0], pairs[1])
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(self.drive("list").stdout.splitlines()), 2)

    def test_max_download_time(self):
        write_random(os.path.join(self.www, "m.bin"), 8 * MiB)
        web = self.nginx(limit_rate=1 * MiB)
        r = self.drive("get", "-M", "2", web.url("m.bin"),
                       os.path.join(self.dst, "m.bin"), timeout=30)
        j = r.job()
        self.assertEqual(j["state"], "ERROR")
        self.assertEqual(j["error"]["code"], "0x80200054")

    def test_suspend_keeps_temp_and_resumes(self):
        src = os.path.join(self.www, "u.bin")
        write_random(src, 6 * MiB)
        web = self.nginx(limit_rate=3 * MiB)
        guid = self.create(web.url("u.bin"), os.path.join(self.dst, "u.bin"))
        self.drive("run", "-w", "1", guid)
        r = self.drive("suspend", guid)
        self.assertEqual(r.rc, 0)
        self.assertEqual(self.drive("list").job()["state"], "SUSPENDED")
        held = os.path.getsize(self.temps()[0])
        self.assertGreater(held, 0)
        r = self.drive("run", "-w", "30", "-k", guid)
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "u.bin")), sha(src))
        self.assertEqual(web.log()[-1]["status"], 206)

    def test_helper_token_local_file_identity(self):
        if os.geteuid() != 0:
            self.skipTest("acting as another local user needs root")
        write_random(os.path.join(self.www, "l.bin"), 100000)
        web = self.nginx()
        cred = os.path.join(self.creds, "svc")
        with open(cred, "w") as f:
            f.write("username = daemon\npassword = unused\n")
        os.chmod(cred, 0o600)
        mine = os.path.join(self.dir, "daemon-owned")
        os.makedirs(mine)
        os.chown(mine, 1, 1)
        # the local user may not write root's folder: refused like BITS
        r = self.drive("get", "-c", "svc", "-t", "local_file",
                       web.url("l.bin"), os.path.join(self.dst, "l.bin"))
        j = r.job()
        self.assertEqual(j["state"], "ERROR", r.stdout)
        self.assertEqual(j["error"]["code"], "0x80070005")
        self.assertEqual(j["error"]["context"], "LOCAL_FILE")
        self.drive("cancel", r.guid)
        out = os.path.join(mine, "l.bin")
        r = self.drive("get", "-c", "svc", "-t", "local_file",
                       web.url("l.bin"), out)
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(os.stat(out).st_uid, 1)
        self.assertEqual(sha(out), sha(os.path.join(self.www, "l.bin")))

    # -- proxy ------------------------------------------------------------

    def test_proxy_override_bypass_and_no_proxy(self):
        write_random(os.path.join(self.www, "p.bin"), 200000)
        web = self.nginx()
        proxy = self.start(servers.Tinyproxy(self.dir))
        url = web.url("p.bin")
        # override: through the proxy, proven by its log
        r = self.drive("get", "-x", proxy.address, url,
                       os.path.join(self.dst, "p1"))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(proxy.requests(), [url])
        # bypass list naming the host: direct
        r = self.drive("get", "-x", proxy.address, "-b",
                       "<local> *.corp.example 127.0.0.1", url,
                       os.path.join(self.dst, "p2"))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(proxy.requests(), [url])
        # no_proxy ignores http_proxy in the environment
        r = self.drive("get", url, os.path.join(self.dst, "p3"),
                       env={"http_proxy": "http://" + proxy.address})
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(proxy.requests(), [url])
        self.assertEqual(len(web.log()), 3)
        for n in ("p1", "p2", "p3"):
            self.assertEqual(sha(os.path.join(self.dst, n)),
                             sha(os.path.join(self.www, "p.bin")))

    def test_proxy_list_fails_over_in_order(self):
        write_random(os.path.join(self.www, "q.bin"), 100000)
        web = self.nginx()
        proxy = self.start(servers.Tinyproxy(self.dir))
        dead = "127.0.0.1:%d" % servers.free_port()   # nothing listens
        url = web.url("q.bin")
        # the first proxy cannot be reached: the second carries it
        r = self.drive("get", "-x", dead + " " + proxy.address, url,
                       os.path.join(self.dst, "q1"))
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(proxy.requests(), [url])
        self.assertEqual(sha(os.path.join(self.dst, "q1")),
                         sha(os.path.join(self.www, "q.bin")))
        # only dead proxies: transient errors, then an error that says
        # it could not connect, nothing written
        r = self.drive("get", "-R", "1", "-T", "3", "-x", dead + "," + dead,
                       url, os.path.join(self.dst, "q2"), timeout=30)
        self.assertEqual(r.rc, 1)
        self.assertEqual(r.states()[-1], "ERROR")
        self.assertEqual(r.job()["error"]["code"], "0x80072EFD")
        self.assertFalse(os.path.exists(os.path.join(self.dst, "q2")))
        self.assertEqual(proxy.requests(), [url])

    # -- resume -----------------------------------------------------------

    def test_resume_after_server_killed(self):
        size = 8 * MiB
        src = os.path.join(self.www, "big.bin")
        write_random(src, size)
        web = self.nginx(limit_rate=4 * MiB)
        guid = self.create("-R", "1", "-T", "60", web.url("big.bin"),
                           os.path.join(self.dst, "big.bin"))
        p = self.spawn("run", "-w", "60", "-k", guid)
        self.wait_temp_size(2 * MiB, p)
        web.kill()
        time.sleep(1.5)
        web2 = self.start(servers.Nginx(self.dir, self.www, port=web.port))
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, out + err)
        self.assertIn("TRANSIENT_ERROR", out)
        self.assertEqual(sha(os.path.join(self.dst, "big.bin")), sha(src))
        log = [x for x in web2.log() if x["status"] in (200, 206)]
        self.assertEqual(len(log), 1, log)
        self.assertEqual(log[0]["status"], 206)
        start = int(log[0]["range"].split("=")[1].rstrip("-"))
        self.assertGreaterEqual(start, 2 * MiB)
        self.assertEqual(log[0]["body_bytes_sent"], size - start)
        self.assertNotEqual(log[0]["if_range"], "-")

    def _kill9_midway(self, size, **nginx):
        src = os.path.join(self.www, "big.bin")
        web = self.nginx(limit_rate=4 * MiB, **nginx)
        guid = self.create("-R", "1", "-T", "60", web.url("big.bin"),
                           os.path.join(self.dst, "big.bin"))
        p = self.spawn("run", "-w", "60", guid)
        self.wait_temp_size(2 * MiB, p)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        return web, src, guid

    def test_resume_after_engine_kill9(self):
        size = 8 * MiB
        write_random(os.path.join(self.www, "big.bin"), size)
        web, src, guid = self._kill9_midway(size)
        held = os.path.getsize(self.temps()[0])
        r = self.drive("run", "-w", "60", "-k")
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "big.bin")), sha(src))
        # nginx logs the request whose client was killed too.  The resume
        # starts at exactly the bytes on disk (never from zero); what nginx
        # had sent beyond them sat in the killed process's write buffer and
        # the sockets' buffers, which on a busy machine reached 2 MiB in a
        # CI run, so that amount is not bounded here.
        log = web.log()
        self.assertEqual(len(log), 2, log)
        self.assertEqual(log[1]["status"], 206)
        start = int(log[1]["range"].split("=")[1].rstrip("-"))
        self.assertEqual(start, held)
        self.assertGreaterEqual(start, 2 * MiB)
        self.assertEqual(log[1]["body_bytes_sent"], size - start)
        twice = log[0]["body_bytes_sent"] + log[1]["body_bytes_sent"] - size
        self.assertGreaterEqual(twice, 0)
        self.assertEqual(self.temps(), [])

    def test_resume_with_last_modified_only(self):
        size = 8 * MiB
        write_random(os.path.join(self.www, "big.bin"), size)
        web, src, guid = self._kill9_midway(size, extra_server="etag off;")
        r = self.drive("run", "-w", "60", "-k")
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "big.bin")), sha(src))
        log = web.log()
        self.assertEqual(log[1]["status"], 206, log)
        self.assertIn("GMT", log[1]["if_range"])	# a date, not an ETag

    def test_remote_changed_restarts_from_zero(self):
        size = 8 * MiB
        write_random(os.path.join(self.www, "big.bin"), size)
        web, src, guid = self._kill9_midway(size)
        time.sleep(1.1)		# a new Last-Modified second, a new ETag
        write_random(src + ".new", size + 5)
        os.rename(src + ".new", src)
        r = self.drive("run", "-w", "60", "-k")
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(os.path.join(self.dst, "big.bin")), sha(src))
        log = web.log()
        self.assertEqual(len(log), 2, log)
        self.assertNotEqual(log[1]["range"], "-")	# asked to resume
        self.assertNotEqual(log[1]["if_range"], "-")
        self.assertEqual(log[1]["status"], 200)		# If-Range said no
        self.assertEqual(log[1]["body_bytes_sent"], size + 5)
        f = [j for j in r.jobs][0]["files"][0]
        self.assertEqual(f["size"], size + 5)

    # -- local files ------------------------------------------------------

    def test_cancel_removes_temps(self):
        write_random(os.path.join(self.www, "c.bin"), 8 * MiB)
        web = self.nginx(limit_rate=2 * MiB)
        guid = self.create(web.url("c.bin"), os.path.join(self.dst, "c.bin"))
        r = self.drive("run", "-w", "1", guid)
        self.assertEqual(r.job()["state"], "TRANSFERRING")
        self.assertEqual(len(self.temps()), 1)
        r = self.drive("cancel", guid)
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(self.temps(), [])
        self.assertFalse(os.path.exists(os.path.join(self.dst, "c.bin")))
        self.assertEqual(self.drive("list").jobs, [])

    def test_complete_replaces_atomically(self):
        src = os.path.join(self.www, "f.bin")
        write_random(src, 1 * MiB)
        web = self.nginx()
        out = os.path.join(self.dst, "f.bin")
        with open(out, "wb") as f:
            f.write(b"old version\n")
        old_ino = os.stat(out).st_ino
        guid = self.create(web.url("f.bin"), out)
        r = self.drive("run", "-w", "30", guid)
        self.assertEqual(r.job()["state"], "TRANSFERRED")
        # Until Complete the old file is untouched, the new one a temp.
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"old version\n")
        tp = self.drive("temp", guid, "0").stdout.strip()
        self.assertEqual(sha(tp), sha(src))
        self.assertEqual(os.path.dirname(tp), self.dst)
        self.assertTrue(os.path.basename(tp).startswith(".BIT"))
        tmp_ino = os.stat(tp).st_ino
        r = self.drive("complete", guid)
        self.assertEqual(r.rc, 0, r.stdout)
        self.assertEqual(sha(out), sha(src))
        # rename(2): the temp's inode is now the destination's
        self.assertEqual(os.stat(out).st_ino, tmp_ino)
        self.assertNotEqual(os.stat(out).st_ino, old_ino)
        self.assertEqual(self.temps(), [])

    def test_symlink_in_destination_not_followed(self):
        write_random(os.path.join(self.www, "s.bin"), 1000)
        web = self.nginx()
        elsewhere = os.path.join(self.dir, "elsewhere")
        os.makedirs(elsewhere)
        os.symlink(elsewhere, os.path.join(self.dst, "link"))
        r = self.drive("get", web.url("s.bin"),
                       os.path.join(self.dst, "link", "s.bin"))
        self.assertEqual(r.rc, 1)
        j = r.job()
        self.assertEqual(j["state"], "ERROR")
        self.assertEqual(j["error"]["context"], "LOCAL_FILE")
        self.assertEqual(os.listdir(elsewhere), [])
        self.assertEqual(web.log(), [])
        # a missing destination folder is the caller's to make, as in BITS
        r = self.drive("get", web.url("s.bin"),
                       os.path.join(self.dst, "missing", "s.bin"))
        self.assertEqual(r.job(r.guid)["error"]["code"], "0x80070003")
        self.assertEqual(r.job(r.guid)["error"]["context"], "LOCAL_FILE")

    def test_disk_full_keeps_old_destination(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root")
        full = os.path.join(self.dir, "full")
        os.makedirs(full)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m",
                            "tmpfs", full], capture_output=True, text=True)
        if m.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + m.stderr.strip())
        self.mounts = [full]
        out = os.path.join(full, "d.bin")
        with open(out, "wb") as f:
            f.write(b"keep me\n" * 1000)
        before = sha(out)
        write_random(os.path.join(self.www, "d.bin"), 4 * MiB)
        web = self.nginx()
        r = self.drive("get", "-R", "1", "-T", "60", web.url("d.bin"), out)
        self.assertEqual(r.rc, 1)
        j = r.job()
        self.assertEqual(j["state"], "ERROR")
        self.assertEqual(j["error"]["code"], "0x80070070")
        self.assertEqual(j["error"]["context"], "LOCAL_FILE")
        self.assertNotIn("TRANSIENT_ERROR", r.states())
        self.assertEqual(sha(out), before)
        self.drive("cancel", r.guid)
        self.assertEqual(self.temps(full), [])
        self.assertEqual(sha(out), before)

    # -- queue ------------------------------------------------------------

    def test_priority_order(self):
        for n in ("low", "normal", "high", "fg"):
            write_random(os.path.join(self.www, n), 300000)
        web = self.nginx()
        guids = {}
        for n in ("low", "normal", "high", "fg"):
            guids[self.create("-y", n, web.url(n),
                              os.path.join(self.dst, n))] = n
        r = self.drive("resume", *guids)	# no workers: nothing moves
        self.assertEqual(r.rc, 0, r.stdout)
        r = self.drive("run", "-w", "30", "-k", parallel=1)
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        order = [guids[g] for _, g, s in r.events if s == "CONNECTING"]
        self.assertEqual(order, ["fg", "high", "normal", "low"])
        served = [x["uri"].lstrip("/") for x in web.log()]
        self.assertEqual(served, ["fg", "high", "normal", "low"])

    def test_max_parallel(self):
        names = ["j%d" % i for i in range(6)]
        for n in names:
            write_random(os.path.join(self.www, n), 600000)
        web = self.nginx(limit_rate=1 * MiB)
        guids = [self.create(web.url(n), os.path.join(self.dst, n))
                 for n in names]
        r = self.drive("run", "-w", "60", "-k", *guids, parallel=2)
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        active, peak = set(), 0
        for _, g, s in r.events:
            if s in ("CONNECTING", "TRANSFERRING"):
                active.add(g)
            else:
                active.discard(g)
            peak = max(peak, len(active))
        self.assertEqual(peak, 2, r.stdout)
        for n in names:
            self.assertEqual(sha(os.path.join(self.dst, n)),
                             sha(os.path.join(self.www, n)), r.stdout)

    # -- SMB --------------------------------------------------------------

    def _smbd(self):
        pub = os.path.join(self.dir, "pub")
        priv = os.path.join(self.dir, "priv")
        for d in (pub, priv):
            os.makedirs(d)
            os.chmod(d, 0o755)
        smb = self.start(servers.Smbd(
            self.dir, {"pub": servers.Share(pub, guest=True),
                       "priv": servers.Share(priv, guest=False,
                                             users=["daemon"])},
            users={"daemon": "Sm8-pass"}))
        self.smb_port = smb.port
        return smb, pub, priv

    def test_smb_guest_share(self):
        smb, pub, priv = self._smbd()
        os.makedirs(os.path.join(pub, "sub dir"))
        src = os.path.join(pub, "sub dir", "g.bin")
        write_random(src, 5 * MiB + 3)
        out = os.path.join(self.dst, "g.bin")
        r = self.drive("get", "-a", smb.unc("pub", "sub dir", "g.bin"), out)
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(out), sha(src))
        f = r.job()["files"][0]
        self.assertEqual(f["size"], 5 * MiB + 3)
        self.assertEqual(f["mtime"], int(os.stat(src).st_mtime))
        r = self.drive("probe", smb.unc("pub", "sub dir", "g.bin"))
        self.assertEqual(json.loads(r.stdout)["size"], 5 * MiB + 3)
        # guest cannot read the user share
        r = self.drive("get", "-a", smb.unc("priv", "x"),
                       os.path.join(self.dst, "x"))
        self.assertEqual(r.job()["state"], "ERROR", r.stdout)
        self.assertEqual(r.job()["error"]["code"], "0x80070005")

    def test_smb_resume_after_server_killed(self):
        smb, pub, priv = self._smbd()
        src = os.path.join(pub, "r.bin")
        write_random(src, 8 * MiB)
        with open(src, "rb") as f:
            original = f.read()
        guid = self.create("-a", "-R", "1", "-T", "60", smb.unc("pub", "r.bin"),
                           os.path.join(self.dst, "r.bin"))
        # the engine's own rate limit slows it down enough to kill smbd
        argv = [DRIVE, "-s", self.state, "-P", str(smb.port), "-r",
                str(3 * MiB), "run", "-w", "60", "-k", guid]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.wait_temp_size(2 * MiB, p)
        smb.kill()
        # Zero the first MiB behind the engine's back, keeping size and
        # mtime: a resume by offset keeps the bytes it already holds (the
        # original ones), a restart from zero would fetch the zeros.
        st = os.stat(src)
        fd = os.open(src, os.O_WRONLY)
        os.pwrite(fd, bytes(MiB), 0)
        os.close(fd)
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
        time.sleep(1)
        self.start(servers.Smbd(self.dir, smb.shares, users=smb.users,
                                port=smb.port))
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, out + err)
        self.assertIn("TRANSIENT_ERROR", out)
        with open(os.path.join(self.dst, "r.bin"), "rb") as f:
            self.assertTrue(f.read() == original, "restarted from zero")

    def test_smb_user_share(self):
        smb, pub, priv = self._smbd()
        src = os.path.join(priv, "u.bin")
        write_random(src, 2 * MiB)
        cred = os.path.join(self.creds, "reader")
        with open(cred, "w") as f:
            f.write("username = daemon\npassword = Sm8-pass\n"
                    "domain = WORKGROUP\n")
        os.chmod(cred, 0o600)
        out = os.path.join(self.dst, "u.bin")
        r = self.drive("get", "-c", "reader", "-t", "network",
                       smb.unc("priv", "u.bin"), out)
        self.assertEqual(r.rc, 0, r.stdout + r.stderr)
        self.assertEqual(sha(out), sha(src))
        # a missing file: ERROR at once, REMOTE_FILE, 0x80070002
        r = self.drive("get", "-c", "reader", "-t", "network",
                       smb.unc("priv", "nope.bin"),
                       os.path.join(self.dst, "n"))
        self.assertEqual(r.job()["error"]["code"], "0x80070002")
        self.assertEqual(r.job()["error"]["context"], "REMOTE_FILE")


if __name__ == "__main__":
    unittest.main()
