"""The computer account on Linux against a real Samba AD domain controller
(issue 14, design §6 round 2): Kerberos from the machine keytab to SMB and
to HTTP Negotiate, NTLMv2 with a helper token, DFS referrals.

Everything runs inside a private network namespace the test creates (lo
with 127.0.0.2-6, names in /etc/netns/NAME/hosts) and removes in
tearDownClass whatever happens; nothing outside it is reached or changed:

  127.0.0.2 dc1.bitsync.test   the DC: KDC, LDAP, its smbd (shares comp,
                               ntlm), provisioned into the test's folder
  127.0.0.3 fs1.bitsync.test   standalone smbd, first DFS target
  127.0.0.4 fs2.bitsync.test   standalone smbd, second DFS target
  127.0.0.5 ns1.bitsync.test   standalone smbd, DFS root (msdfs root)
  127.0.0.6 web.bitsync.test   Apache with mod_auth_gssapi, keytab of
                               HTTP/web.bitsync.test from the DC

The domain is provisioned once per module (about 10 s) and shared by the
tests; each test has its own agent state.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/ad/test_ad.py AdTest.test_computer_kerberos_smb
"""

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
sys.path.insert(0, os.path.join(HERE, "..", "plan"))
from test_apply import Base, wait_for  # noqa: E402

BITSYNC = os.environ.get("BITSYNC", os.path.join(
    HERE, "..", "..", "build", "bitsync"))
REALM = "BITSYNC.TEST"
ADMIN_PW = "Adm1n-Pass!word-%d" % os.getpid()
# Passwords of the test's own accounts: random per run; the test looks
# for them in every log, status, metrics and store file.
WS1_PW = "Ws1-" + os.urandom(9).hex() + "!A"
READER_PW = "Rd-" + os.urandom(9).hex() + "!A"
WEB_PW = "Web-" + os.urandom(9).hex() + "!A"
HOSTS = {"dc1": "127.0.0.2", "fs1": "127.0.0.3", "fs2": "127.0.0.4",
         "ns1": "127.0.0.5", "web": "127.0.0.6"}
MODS = "/usr/lib/apache2/modules"


def standalone_conf(d, name, ip, shares):
    return f"""[global]
    server role = standalone server
    workgroup = WORKGROUP
    netbios name = {name}
    map to guest = Bad User
    guest account = nobody
    restrict anonymous = 0
    interfaces = {ip}
    bind interfaces only = yes
    disable netbios = yes
    smb ports = 445
    server min protocol = SMB2_02
    private dir = {d}/private
    lock directory = {d}/lock
    state directory = {d}/state
    cache directory = {d}/cache
    pid directory = {d}/pid
    ncalrpc dir = {d}/ncalrpc
    binddns dir = {d}/binddns
    passdb backend = tdbsam:{d}/private/passdb.tdb
    log file = {d}/log/log.%m
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    host msdfs = yes
{shares}"""


class Domain:
    """The namespace, the DC, the file servers and Apache."""

    def __init__(self):
        self.ns = "bsad%d" % os.getpid()
        self.dir = tempfile.mkdtemp(prefix="bitsync-ad-")
        os.chmod(self.dir, 0o755)
        self.etc = "/etc/netns/" + self.ns
        self.procs = {}
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.env = dict(os.environ, KRB5_CONFIG=self.krb5_conf,
                        KRB5CCNAME="FILE:" + os.path.join(self.dir, "cc"))
        self.ns_made = False

    def x(self, *argv):
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def sh(self, *argv, check=True, timeout=120):
        p = subprocess.run(list(argv), capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("%s: exit %d\n%s%s" % (
                " ".join(argv), p.returncode, p.stdout, p.stderr))
        return p

    def tool(self, *args):
        return self.sh("samba-tool", *args, "-s", self.smbconf)

    def spawn(self, key, argv, log):
        f = open(os.path.join(self.dir, log), "w")
        self.procs[key] = subprocess.Popen(self.x(*argv), stdout=f,
                                           stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL,
                                           env=self.env)
        f.close()

    def listening(self, ip, port):
        return self.sh(*self.x("bash", "-c", "exec 3<>/dev/tcp/%s/%d" %
                               (ip, port)), check=False).returncode == 0

    @staticmethod
    def sweep():
        """Namespaces of earlier runs whose test process is gone (killed
        before its tearDownClass): removed, with their /etc/netns folder
        and the processes left in them.  Only this module's names."""
        p = subprocess.run(["ip", "netns", "list"], capture_output=True,
                           text=True)
        for line in p.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if not name.startswith("bsad") or not name[4:].isdigit():
                continue
            if os.path.exists("/proc/" + name[4:]):
                continue
            pids = subprocess.run(["ip", "netns", "pids", name],
                                  capture_output=True, text=True).stdout
            for pid in pids.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", name])
            shutil.rmtree("/etc/netns/" + name, ignore_errors=True)

    def start(self):
        self.sweep()
        self.sh("ip", "netns", "add", self.ns)
        self.ns_made = True
        self.sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        for ip in HOSTS.values():
            self.sh("ip", "-n", self.ns, "addr", "add", ip + "/8",
                    "dev", "lo")
        os.makedirs(self.etc)
        with open(os.path.join(self.etc, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n")
            for n, ip in HOSTS.items():
                f.write("%s %s.bitsync.test %s\n" % (ip, n, n))
        with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
            # No DNS: names are in hosts, the KDC in krb5.conf.  A name
            # not there fails at once (nothing answers on 127.0.0.9)
            # instead of looping through the DC's forwarder.
            f.write("nameserver 127.0.0.9\n")
        with open(self.krb5_conf, "w") as f:
            f.write("[libdefaults]\n default_realm = %s\n"
                    " dns_lookup_realm = false\n dns_lookup_kdc = false\n"
                    " rdns = false\n[realms]\n %s = {\n"
                    "  kdc = dc1.bitsync.test\n }\n[domain_realm]\n"
                    " .bitsync.test = %s\n" % (REALM, REALM, REALM))
        os.chmod(self.krb5_conf, 0o644)
        self._dc()
        self._standalone()
        self._apache()
        for ip, port in (("127.0.0.2", 88), ("127.0.0.2", 445),
                         ("127.0.0.3", 445), ("127.0.0.4", 445),
                         ("127.0.0.5", 445), ("127.0.0.6", 80),
                         ("127.0.0.6", 443)):
            if not wait_for(lambda: self.listening(ip, port), 60, 0.2):
                raise RuntimeError("nothing listens on %s:%d; logs in %s"
                                   % (ip, port, self.dir))
        # The KDC answers once it has loaded the directory.
        if not wait_for(lambda: self.sh(*self.x(
                "kinit", "-k", "-t", self.ws1_keytab, "ws1$@" + REALM),
                check=False).returncode == 0, 60, 0.5):
            raise RuntimeError("the KDC gives no ticket to ws1$")

    def _dc(self):
        dc = os.path.join(self.dir, "dc")
        self.smbconf = os.path.join(dc, "etc", "smb.conf")
        self.sh(*self.x(
            "samba-tool", "domain", "provision", "--use-rfc2307",
            "--realm=" + REALM, "--domain=BITSYNC", "--server-role=dc",
            "--dns-backend=SAMBA_INTERNAL", "--targetdir=" + dc,
            "--adminpass=" + ADMIN_PW, "--host-name=dc1",
            "--host-ip=127.0.0.2",
            "--option=interfaces=127.0.0.2",
            "--option=bind interfaces only=yes",
            "--option=log file=%s/log.%%m" % dc,
            "--option=panic action=",
            "--option=dns forwarder=127.0.0.9"))
        for share in ("comp", "ntlm", "open"):
            d = os.path.join(self.dir, "share-" + share)
            os.makedirs(d)
            os.chmod(d, 0o755)
        with open(self.smbconf, "a") as f:
            # Files are world-readable on disk: who may read is the
            # share's valid users, which is what the tests vary.
            f.write("\n[comp]\n\tpath = %s/share-comp\n\tread only = yes\n"
                    "\tvalid users = BITSYNC\\ws1$\n"
                    "\n[ntlm]\n\tpath = %s/share-ntlm\n\tread only = yes\n"
                    "\tvalid users = BITSYNC\\reader\n"
                    "\n[open]\n\tpath = %s/share-open\n\tread only = yes\n"
                    "\tguest ok = yes\n"
                    % (self.dir, self.dir, self.dir))
        self.tool("computer", "create", "ws1")
        self.tool("user", "setpassword", "ws1$", "--newpassword=" + WS1_PW)
        self.tool("user", "create", "reader", READER_PW)
        self.tool("user", "create", "websvc", WEB_PW)
        self.tool("spn", "add", "HTTP/web.bitsync.test", "websvc")
        self.ws1_keytab = os.path.join(self.dir, "ws1.keytab")
        self.http_keytab = os.path.join(self.dir, "http.keytab")
        self.tool("domain", "exportkeytab", self.ws1_keytab,
                  "--principal=ws1$")
        self.tool("domain", "exportkeytab", self.http_keytab,
                  "--principal=HTTP/web.bitsync.test")
        # Apache's children run as nobody and read it: a test keytab.
        os.chmod(self.http_keytab, 0o644)
        self.spawn("samba", ["samba", "-s", self.smbconf, "-F",
                             "--debug-stdout"], "samba.log")

    def _standalone(self):
        self.roots = {}
        for name in ("fs1", "fs2", "ns1"):
            d = os.path.join(self.dir, name)
            for sub in ("private", "lock", "state", "cache", "pid", "log",
                        "ncalrpc", "binddns", "data"):
                os.makedirs(os.path.join(d, sub))
            os.chmod(d, 0o755)
            os.chmod(os.path.join(d, "data"), 0o755)
            self.roots[name] = os.path.join(d, "data")
            if name == "ns1":
                shares = ("[dfs]\n    path = %s/data\n    msdfs root = yes\n"
                          "    guest ok = yes\n    read only = yes\n" % d)
                # The link: two targets, in this order.
                os.symlink("msdfs:fs1.bitsync.test\\data,"
                           "fs2.bitsync.test\\data",
                           os.path.join(d, "data", "link"))
            else:
                shares = ("[data]\n    path = %s/data\n    guest ok = yes\n"
                          "    read only = yes\n" % d)
            conf = os.path.join(d, "smb.conf")
            with open(conf, "w") as f:
                f.write(standalone_conf(d, name, HOSTS[name], shares))
            # smbd calls setsid() itself and signals only its own group
            # (facts.md): started plainly, stopped by pid.
            self.spawn(name, ["smbd", "-F", "-s", conf, "--debug-stdout"],
                       name + ".log")

    def _apache(self):
        d = os.path.join(self.dir, "web")
        self.www = os.path.join(d, "www")
        os.makedirs(self.www)
        os.makedirs(os.path.join(d, "logs"))
        os.chmod(d, 0o755)
        os.chmod(self.www, 0o755)
        self.access_log = os.path.join(d, "logs", "access.log")
        # TLS for https://web.bitsync.test: a self-signed certificate,
        # the agent's ca_file.
        self.web_cert = os.path.join(d, "web.crt")
        key = os.path.join(d, "web.key")
        self.sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", key, "-out", self.web_cert, "-days", "2",
                "-subj", "/CN=web.bitsync.test",
                "-addext", "subjectAltName=DNS:web.bitsync.test")
        os.chmod(self.web_cert, 0o644)
        conf = os.path.join(d, "httpd.conf")
        with open(conf, "w") as f:
            f.write(f"""ServerRoot {d}
ServerName web.bitsync.test
LoadModule mpm_event_module {MODS}/mod_mpm_event.so
LoadModule authz_core_module {MODS}/mod_authz_core.so
LoadModule authn_core_module {MODS}/mod_authn_core.so
LoadModule authz_user_module {MODS}/mod_authz_user.so
LoadModule auth_gssapi_module {MODS}/mod_auth_gssapi.so
LoadModule socache_shmcb_module {MODS}/mod_socache_shmcb.so
LoadModule ssl_module {MODS}/mod_ssl.so
User nobody
Group nogroup
Listen 127.0.0.6:80
Listen 127.0.0.6:443
SSLSessionCache shmcb:{d}/logs/ssl_scache(512000)
<VirtualHost 127.0.0.6:443>
  SSLEngine on
  SSLCertificateFile {self.web_cert}
  SSLCertificateKeyFile {key}
</VirtualHost>
PidFile {d}/httpd.pid
ErrorLog {d}/logs/error.log
LogLevel info
LogFormat "%u %>s %U" who
CustomLog {self.access_log} who
DocumentRoot {self.www}
<Location />
  AuthType GSSAPI
  AuthName "bitsync"
  GssapiCredStore keytab:{self.http_keytab}
  GssapiAllowedMech krb5
  Require valid-user
</Location>
""")
        self.spawn("apache", ["apache2", "-f", conf, "-DFOREGROUND"],
                   "apache.log")

    def stop_proc(self, key):
        p = self.procs.pop(key, None)
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)

    def stop(self):
        try:
            for key in list(self.procs):
                self.stop_proc(key)
            if self.ns_made:
                # Whatever is left in the namespace was started by this
                # test (samba's and Apache's children): by pid.
                p = subprocess.run(["ip", "netns", "pids", self.ns],
                                   capture_output=True, text=True)
                for pid in p.stdout.split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
        finally:
            if self.ns_made:
                subprocess.run(["ip", "netns", "del", self.ns])
            shutil.rmtree(self.etc, ignore_errors=True)
            shutil.rmtree(self.dir, ignore_errors=True)


DOMAIN = None


class AdTest(Base):
    """auth: computer, helper tokens and DFS against the domain."""

    @classmethod
    def setUpClass(cls):
        global DOMAIN
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root: ip netns, port 445")
        DOMAIN = Domain()
        try:
            DOMAIN.start()
        except BaseException:
            DOMAIN.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if DOMAIN is not None:
            DOMAIN.stop()

    def setUp(self):
        super().setUp()
        self.d = DOMAIN
        self.keytab = os.path.join(self.dir, "krb5.keytab")
        shutil.copy(self.d.ws1_keytab, self.keytab)
        os.chmod(self.keytab, 0o600)
        self.status_file = os.path.join(self.dir, "status.json")
        self.metrics = os.path.join(self.dir, "bitsync.prom")
        self.creds = os.path.join(self.dir, "credentials")
        os.makedirs(self.creds)
        os.chmod(self.creds, 0o700)
        self.configure(self.keytab)

    def configure(self, keytab):
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "machine_keytab = %s\ncredential_dir = %s\n"
                    "status_file = %s\nmetrics_file = %s\n"
                    "log_level = debug\n" % (
                        self.mdir, self.state, keytab, self.creds,
                        self.status_file, self.metrics))
        os.chmod(self.config, 0o644)

    def run_bitsync(self, *args, timeout=120):
        return subprocess.run(self.d.x(BITSYNC, "-c", self.config, *args),
                              capture_output=True, text=True,
                              timeout=timeout, env=dict(
                                  self.d.env, KRB5CCNAME="FILE:/nonexistent"))

    def write_manifest(self, sources, sets):
        path = os.path.join(self.mdir, "m.yaml")
        with open(path, "w") as f:
            f.write("version: 1\nsources:\n" + sources + "sets:\n" + sets)
        os.chmod(path, 0o644)
        return path

    def one_set(self, name, files, source="src"):
        return ("  - name: %s\n    source: %s\n    destination: %s\n"
                "    files: [%s]\n" % (name, source,
                                       os.path.join(self.dst, name),
                                       ", ".join(files)))

    def put(self, folder, name, data):
        p = os.path.join(folder, name)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o644)
        return p

    def status(self):
        p = self.run_bitsync("status", "--format", "json")
        return json.loads(p.stdout)

    def set_status(self, name):
        for s in self.status()["sets"]:
            if s["name"] == name:
                return s
        self.fail("no set %s in status" % name)

    def apply(self, timeout="40s"):
        return self.run_bitsync("apply", "--wait", "--timeout", timeout)

    # -- SMB as the computer account ----------------------------------------
    def test_computer_kerberos_smb(self):
        """The share grants only BITSYNC\\ws1$: with the keytab the file
        comes, through a private ticket cache in the state directory."""
        data = os.urandom(300 * 1024)
        self.put(os.path.join(self.d.dir, "share-comp"), "k.bin", data)
        m = self.write_manifest(
            "  src:\n    url: \\\\dc1.bitsync.test\\comp\n"
            "    auth: computer\n", self.one_set("k", ["k.bin"]))
        v = self.run_bitsync("validate", m)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertNotIn("anonymous-computer", v.stdout + v.stderr)
        p = self.apply()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(os.path.join(self.dst, "k", "k.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        cc = os.path.join(self.state, "krb5cc_machine")
        st = os.lstat(cc)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        k = subprocess.run(["klist", "-c", "FILE:" + cc],
                           capture_output=True, text=True)
        self.assertIn("Default principal: ws1$@" + REALM, k.stdout)
        self.assertIn("krbtgt/" + REALM, k.stdout)
        self.assertNotIn("forwardable", k.stdout.lower())
        # A planted link at the cache's place is never followed: the
        # ticket is written anew (expired cache forced by removing it).
        os.unlink(cc)
        victim = os.path.join(self.dir, "victim")
        with open(victim, "w") as f:
            f.write("keep")
        os.symlink(victim, cc)
        os.symlink(victim, cc + ".new")
        self.put(os.path.join(self.d.dir, "share-comp"), "k2.bin", b"2")
        self.write_manifest(
            "  src:\n    url: \\\\dc1.bitsync.test\\comp\n"
            "    auth: computer\n", self.one_set("k", ["k.bin", "k2.bin"]))
        p = self.apply()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(victim) as f:
            self.assertEqual(f.read(), "keep")
        self.assertFalse(os.path.islink(cc))

    def test_daemon_asks_again_when_the_ticket_is_gone(self):
        """A running agent asks the KDC once and keeps the ticket; when
        the cache is gone (as when it expires: the same path) it asks
        again before the next transfer."""
        comp = os.path.join(self.d.dir, "share-comp")
        self.put(comp, "r1.bin", b"r1")
        src = ("  src:\n    url: \\\\dc1.bitsync.test\\comp\n"
               "    auth: computer\n")
        self.write_manifest(src, self.one_set("r", ["r1.bin"]))
        out = os.path.join(self.dst, "r")
        cc = os.path.join(self.state, "krb5cc_machine")
        d = subprocess.Popen(self.d.x(BITSYNC, "-c", self.config, "run"),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True,
                             env=self.d.env)
        try:
            self.assertTrue(wait_for(lambda: os.path.exists(
                os.path.join(out, "r1.bin")), 40))
            os.unlink(cc)
            self.put(comp, "r2.bin", b"r2")
            self.write_manifest(src, self.one_set("r", ["r1.bin",
                                                        "r2.bin"]))
            self.assertTrue(wait_for(lambda: os.path.exists(
                os.path.join(out, "r2.bin")), 40))
        finally:
            d.send_signal(signal.SIGTERM)
            _, err = d.communicate(timeout=30)
        self.assertEqual(err.count("event=machine-ticket principal=ws1$@"
                                   + REALM), 2, err[-3000:])
        self.assertEqual(os.lstat(cc).st_mode & 0o777, 0o600)

    def test_no_keytab_access_denied(self):
        """Without a keytab: validate warns anonymous-computer at the
        source, the share refuses the anonymous session, and the ERROR
        has context, code and what to do, in log, status and metrics."""
        self.put(os.path.join(self.d.dir, "share-comp"), "n.bin", b"n")
        self.configure(os.path.join(self.dir, "no.keytab"))
        m = self.write_manifest(
            "  src:\n    url: \\\\dc1.bitsync.test\\comp\n"
            "    auth: computer\n", self.one_set("n", ["n.bin"]))
        v = self.run_bitsync("validate", m)
        self.assertEqual(v.returncode, 0)
        self.assertIn("%s:3:3: warning: source 'src' says 'auth: computer'"
                      % m, v.stdout + v.stderr)
        self.assertIn("[anonymous-computer]", v.stdout + v.stderr)
        p = self.apply("10s")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("context=REMOTE_FILE code=0x80070005", p.stderr)
        self.assertIn("access denied to an anonymous session", p.stderr)
        s = self.set_status("n")
        self.assertIn("0x80070005", s["last_error"])
        self.assertFalse(os.path.exists(os.path.join(self.dst, "n",
                                                     "n.bin")))
        self.assertFalse(os.path.exists(os.path.join(self.state,
                                                     "krb5cc_machine")))

    def test_kdc_down_is_an_error_not_anonymous(self):
        """A keytab but no KDC: an ERROR that says so (logon failure,
        retried), never a quiet anonymous session."""
        self.put(os.path.join(self.d.dir, "share-comp"), "z.bin", b"z")
        bad = os.path.join(self.dir, "krb5-nokdc.conf")
        with open(self.d.krb5_conf) as f:
            text = f.read()
        with open(bad, "w") as f:
            # 127.0.0.9: no one listens there inside the namespace.
            f.write(text.replace("kdc = dc1.bitsync.test",
                                 "kdc = 127.0.0.9"))
        self.write_manifest(
            "  src:\n    url: \\\\dc1.bitsync.test\\comp\n"
            "    auth: computer\n", self.one_set("z", ["z.bin"]))
        p = subprocess.run(self.d.x(BITSYNC, "-c", self.config, "apply",
                                    "--wait", "--timeout", "3s"),
                           capture_output=True, text=True, timeout=60,
                           env=dict(self.d.env, KRB5_CONFIG=bad))
        self.assertNotEqual(p.returncode, 0)
        # A transient error: the job waits to retry, its error in status.
        err = self.set_status("z")["job"]["error"]
        self.assertEqual(err["context"], "GENERAL_TRANSPORT")
        self.assertEqual(err["code"].upper(), "0X8007052E")
        self.assertIn("no Kerberos ticket for the computer account "
                      "ws1$@" + REALM, err["text"])
        self.assertNotIn("anonymous session", p.stderr + err["text"])
        self.assertFalse(os.path.exists(os.path.join(self.dst, "z",
                                                     "z.bin")))

    def test_keytab_of_another_principal_refused_plainly(self):
        """machine_principal names a key the keytab lacks: warned at
        validate, and the transfer is anonymous (refused), never as
        some other principal of the keytab."""
        with open(self.config, "a") as f:
            f.write("machine_principal = other$@%s\n" % REALM)
        self.put(os.path.join(self.d.dir, "share-comp"), "o.bin", b"o")
        m = self.write_manifest(
            "  src:\n    url: \\\\dc1.bitsync.test\\comp\n"
            "    auth: computer\n", self.one_set("o", ["o.bin"]))
        v = self.run_bitsync("validate", m)
        self.assertIn("holds no key of other$@%s" % REALM,
                      v.stdout + v.stderr)
        self.assertIn("[anonymous-computer]", v.stdout + v.stderr)
        p = self.apply("10s")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("code=0x80070005", p.stderr)

    # -- HTTP Negotiate as the computer -------------------------------------
    def test_https_negotiate_as_computer(self):
        """The same over https (TLS verified against the test's own
        certificate, ca_file): the ticket goes inside TLS."""
        data = os.urandom(64 * 1024)
        self.put(self.d.www, "s.bin", data)
        with open(self.config, "a") as f:
            f.write("[engine]\nca_file = %s\n" % self.d.web_cert)
        src = ("  src:\n    url: https://web.bitsync.test/\n"
               "    auth: computer\n    proxy: {usage: no_proxy}\n")
        m = self.write_manifest(src, self.one_set("s", ["s.bin"]))
        v = self.run_bitsync("validate", "--strict", m)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        p = self.apply()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(os.path.join(self.dst, "s", "s.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        with open(self.d.access_log) as f:
            self.assertIn("ws1$@%s 200 /s.bin" % REALM, f.read())

    def test_http_negotiate_as_computer(self):
        """Apache with mod_auth_gssapi: auth: computer on an http source
        gets the file as ws1$ (Apache's log names it); without a keytab
        the 401 is an ERROR with context and code.  Plain http with a
        declared sha256: Negotiate sends no reusable secret and the body
        is checked (https: the test above)."""
        data = os.urandom(64 * 1024)
        self.put(self.d.www, "w.bin", data)
        import hashlib
        h = hashlib.sha256(data).hexdigest()
        src = ("  src:\n    url: http://web.bitsync.test/\n"
               "    auth: computer\n    proxy: {usage: no_proxy}\n")
        sets = ("  - name: w\n    source: src\n    destination: %s\n"
                "    files:\n      - path: w.bin\n        sha256: %s\n"
                % (os.path.join(self.dst, "w"), h))
        m = self.write_manifest(src, sets)
        v = self.run_bitsync("validate", "--strict", m)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        p = self.apply()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(os.path.join(self.dst, "w", "w.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        with open(self.d.access_log) as f:
            self.assertIn("ws1$@%s 200 /w.bin" % REALM, f.read())
        # Without the keytab: no ticket, 401.
        shutil.rmtree(self.state)
        os.makedirs(self.state, 0o700)
        shutil.rmtree(os.path.join(self.dst, "w"))
        self.configure("")
        p = self.apply("10s")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("context=REMOTE_FILE code=0x80190191", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dst, "w",
                                                     "w.bin")))

    # -- NTLMv2 with a helper token -----------------------------------------
    def test_ntlmv2_helper_token_and_wrong_password(self):
        """A helper token logs on to the DC's share as BITSYNC\\reader
        (NTLMv2); a wrong password is access denied, and neither
        password is in any log, status, metrics or store file."""
        data = os.urandom(100 * 1024)
        self.put(os.path.join(self.d.dir, "share-ntlm"), "t.bin", data)
        cred = os.path.join(self.creds, "reader")
        wrong = "Wrong-" + os.urandom(8).hex()

        def write_cred(pw):
            with open(cred, "w") as f:
                f.write("username = reader\npassword = %s\n"
                        "domain = BITSYNC\n" % pw)
            os.chmod(cred, 0o600)

        src = ("  src:\n    url: \\\\dc1.bitsync.test\\ntlm\n"
               "    helper_token:\n      credential: reader\n"
               "      usage: [network]\n")
        self.write_manifest(src, self.one_set("t", ["t.bin"]))
        write_cred(wrong)
        bad = self.apply("10s")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("code=0x80070005", bad.stderr)
        self.assertIn("helper token's account BITSYNC\\reader",
                      bad.stderr)
        st_bad = self.run_bitsync("status", "--format", "json")
        write_cred(READER_PW)
        good = self.apply()
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        with open(os.path.join(self.dst, "t", "t.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        st_good = self.run_bitsync("status", "--format", "json")
        texts = [bad.stdout, bad.stderr, good.stdout, good.stderr,
                 st_bad.stdout, st_good.stdout]
        blobs = []
        # Everything the agent wrote: state (job store, state.db, cache),
        # status and metrics files; not the credential file itself nor
        # the transferred bytes.
        for dp, _, fs in os.walk(self.dir):
            if dp.startswith(self.creds) or dp.startswith(self.dst):
                continue
            for n in fs:
                p = os.path.join(dp, n)
                if not os.path.islink(p):
                    with open(p, "rb") as f:
                        blobs.append((p, f.read()))
        self.assertTrue(any(p.endswith("engine.db-wal") or
                            p.endswith("engine.db") for p, _ in blobs))
        for pw in (wrong, READER_PW):
            for t in texts:
                self.assertNotIn(pw, t)
            for p, b in blobs:
                self.assertNotIn(pw.encode(), b, p)
                self.assertNotIn(pw.encode("utf-16-le"), b, p)

    # -- DFS -------------------------------------------------------------------
    def test_dfs_link_second_target_when_first_down(self):
        """A standalone DFS root (ns1) with a link to fs1 and fs2: the
        set through the namespace path comes from fs1; with fs1's smbd
        stopped, from fs2."""
        self.put(self.d.roots["fs1"], "f.bin", b"from fs1\n")
        self.put(self.d.roots["fs2"], "f.bin", b"from fs2\n")
        self.configure("")
        src = ("  src:\n    url: \\\\ns1.bitsync.test\\dfs\\link\n"
               "    auth: computer\n")
        self.write_manifest(src, self.one_set("d", ["f.bin"]))
        p = self.apply()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = os.path.join(self.dst, "d", "f.bin")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"from fs1\n")
        self.d.stop_proc("fs1")
        try:
            self.assertTrue(wait_for(
                lambda: not self.d.listening("127.0.0.3", 445), 20, 0.2))
            shutil.rmtree(os.path.join(self.dst, "d"))
            shutil.rmtree(self.state)
            os.makedirs(self.state, 0o700)
            p = self.apply()
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), b"from fs2\n")
        finally:
            conf = os.path.join(self.d.dir, "fs1", "smb.conf")
            self.d.spawn("fs1", ["smbd", "-F", "-s", conf,
                                 "--debug-stdout"], "fs1.log")


if __name__ == "__main__":
    unittest.main()
