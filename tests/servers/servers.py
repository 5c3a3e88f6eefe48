"""Real servers for the integration tests, on 127.0.0.1 only.

Each server runs from a folder the test owns, on a free port, in the
foreground as a child of the test; it is stopped by its PID (never by name:
other engineers' servers run on the same machine).  Use them as context
managers:

    with servers.Nginx(workdir, root) as web:
        url = web.url("/file.bin")
        ...
        web.log()          # parsed access log: bytes served per request

    with servers.Smbd(workdir, {"pub": servers.Share(path, guest=True)}) as smb:
        unc = smb.unc("pub", "file.bin")    # \\\\127.0.0.1\\pub\\file.bin
        smb.port                             # the engine's smb_port

    with servers.Tinyproxy(workdir) as proxy:
        proxy.address                        # "127.0.0.1:PORT"
        proxy.requests()                     # URLs it forwarded, from its log

Debian packages: nginx-light, samba, tinyproxy (packaging/apt-packages.txt).
Works with /usr/bin/python3 alone.
"""

import os
import signal
import socket
import subprocess
import time

HOST = "127.0.0.1"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s before listening" %
                               proc.returncode)
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %s:%d after %.0fs" %
                       (HOST, port, timeout))


def _listen_inodes(port):
    """Socket inodes listening on 127.0.0.1:port (or any address)."""
    out = set()
    want = ("0100007F:%04X" % port, "00000000:%04X" % port)
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            if p[1] in want and p[3] == "0A":
                out.add(p[9])
    return out


def wait_listen(proc, port, timeout=15.0):
    """Waits until proc itself listens on port: a connect() could reach
    another process that holds the port (nginx keeps retrying bind() for a
    while when it lost the port), so ownership is checked in /proc."""
    deadline = time.monotonic() + timeout
    fddir = "/proc/%d/fd" % proc.pid
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s before listening" %
                               proc.returncode)
        inodes = _listen_inodes(port)
        if inodes:
            try:
                for fd in os.listdir(fddir):
                    link = os.readlink(os.path.join(fddir, fd))
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        return
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError("server does not listen on %s:%d after %.0fs" %
                       (HOST, port, timeout))


class _Server:
    """Start/stop by PID; subclasses write a config and give a command."""

    proc = None
    port = None

    def _spawn(self, argv, logname, new_session=False):
        self._out = open(os.path.join(self.workdir, logname), "ab")
        self.proc = subprocess.Popen(argv, stdout=self._out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=new_session)
        try:
            wait_listen(self.proc, self.port, timeout=6.0)
        except RuntimeError:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
            self._out.close()
            raise

    def start(self):
        """Starts the server.  When it chose its port itself and loses it
        (another process took the free port in the meantime: tests run in
        parallel), it tries again on a new one."""
        for attempt in range(5):
            try:
                self._start()
                return
            except RuntimeError:
                if not self._auto_port or attempt == 4:
                    raise
                self.port = free_port()

    def stop(self, sig=signal.SIGTERM):
        """Stops the server (SIGKILL for a hard kill) and waits for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        self._out.close()

    def kill(self):
        self.stop(signal.SIGKILL)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class Nginx(_Server):
    """nginx serving root (files, with Range, ETag and Last-Modified).

    limit_rate (bytes/s per connection) slows transfers so a test can kill
    something mid-body.  The access log records $bytes_sent and
    $body_bytes_sent and the Range header of every request."""

    def __init__(self, workdir, root, limit_rate=None, port=None,
                 extra_server="", tls=None):
        """tls: (certificate file, key file) to serve https instead."""
        self.workdir = os.path.join(workdir, "nginx")
        self.tls = tls
        self.root = root
        self.limit_rate = limit_rate
        self._auto_port = port is None
        self.port = port or free_port()
        self.extra_server = extra_server
        os.makedirs(os.path.join(self.workdir, "logs"), exist_ok=True)
        self.access_log = os.path.join(self.workdir, "logs", "access.log")

    def _conf(self):
        w = self.workdir
        rate = "limit_rate %d;" % self.limit_rate if self.limit_rate else ""
        ssl = ""
        if self.tls:
            ssl = " ssl;\n        ssl_certificate %s;\n" \
                  "        ssl_certificate_key %s" % self.tls
        return f"""
daemon off;
master_process off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {w}/tmp_body;
    proxy_temp_path {w}/tmp_proxy;
    fastcgi_temp_path {w}/tmp_fastcgi;
    uwsgi_temp_path {w}/tmp_uwsgi;
    scgi_temp_path {w}/tmp_scgi;
    types {{ }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    log_format bytes '$request_method $uri $status $bytes_sent '
                     '$body_bytes_sent "$http_range" "$http_if_range" '
                     '"$http_x_fleet" "$remote_user"';
    server {{
        listen {HOST}:{self.port}{ssl};
        root {self.root};
        access_log {self.access_log} bytes;
        {rate}
        {self.extra_server}
    }}
}}
"""

    def _start(self):
        conf = os.path.join(self.workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self._conf())
        self._spawn(["/usr/sbin/nginx", "-p", self.workdir, "-c", conf],
                    "stdout.log")

    def url(self, path):
        return "%s://%s:%d/%s" % ("https" if self.tls else "http", HOST,
                                  self.port, path.lstrip("/"))

    def log(self):
        """Parsed access log: dicts with method, uri, status, bytes_sent,
        body_bytes_sent, range, if_range, x_fleet, user."""
        out = []
        if not os.path.exists(self.access_log):
            return out
        with open(self.access_log) as f:
            for line in f:
                head, _, rest = line.partition(' "')
                p = head.split()
                q = ('"' + rest).strip().split('" "')
                q = [x.strip('"') for x in q]
                out.append({"method": p[0], "uri": p[1],
                            "status": int(p[2]), "bytes_sent": int(p[3]),
                            "body_bytes_sent": int(p[4]),
                            "range": q[0], "if_range": q[1],
                            "x_fleet": q[2], "user": q[3]})
        return out


def make_cert(workdir, name="server"):
    """A self-signed certificate for 127.0.0.1 (its own trust anchor);
    returns (certificate file, key file)."""
    cert = os.path.join(workdir, name + ".crt")
    key = os.path.join(workdir, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return cert, key


class Share:
    """One SMB share: guest (anonymous) or for the listed users only."""

    def __init__(self, path, guest=True, users=()):
        self.path = path
        self.guest = guest
        self.users = list(users)


class Smbd(_Server):
    """A real Samba smbd on 127.0.0.1:port with shares and local users.

    users maps a Samba user to its password; each must be an existing Unix
    account (the passdb lives in the test's folder, the system's is never
    touched).  smbd runs without --no-process-group, so it calls setsid()
    itself (it fails if it already leads a session): on SIGTERM it signals
    its whole process group, which then is its own, never the test
    runner's (facts.md)."""

    def __init__(self, workdir, shares, users=None, port=None):
        self.workdir = os.path.join(workdir, "smbd")
        self.shares = shares
        self.users = users or {}
        self._auto_port = port is None
        self.port = port or free_port()
        for d in ("private", "lock", "state", "cache", "pid", "log",
                  "ncalrpc", "binddns"):
            os.makedirs(os.path.join(self.workdir, d), exist_ok=True)
        self.conf = os.path.join(self.workdir, "smb.conf")

    def _conf(self):
        w = self.workdir
        g = f"""[global]
    server role = standalone server
    workgroup = WORKGROUP
    map to guest = Bad User
    guest account = nobody
    restrict anonymous = 0
    smb ports = {self.port}
    interfaces = lo
    bind interfaces only = yes
    disable netbios = yes
    server min protocol = SMB2_02
    private dir = {w}/private
    lock directory = {w}/lock
    state directory = {w}/state
    cache directory = {w}/cache
    pid directory = {w}/pid
    ncalrpc dir = {w}/ncalrpc
    binddns dir = {w}/binddns
    passdb backend = tdbsam:{w}/private/passdb.tdb
    log file = {w}/log/log.%m
    max log size = 1000
    log level = 1
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
"""
        for name, s in self.shares.items():
            g += f"\n[{name}]\n    path = {s.path}\n    read only = yes\n"
            if s.guest:
                g += "    guest ok = yes\n"
            else:
                g += "    guest ok = no\n    valid users = %s\n" % \
                    " ".join(s.users)
        return g

    def _start(self):
        with open(self.conf, "w") as f:
            f.write(self._conf())
        for user, pw in self.users.items():
            subprocess.run(["smbpasswd", "-c", self.conf, "-s", "-a", user],
                           input=("%s\n%s\n" % (pw, pw)).encode(),
                           check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        self._spawn(["/usr/sbin/smbd", "--foreground", "--debug-stdout",
                     "-s", self.conf], "stdout.log")

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM: smbd stops its children itself.  SIGKILL (kill()):
        the whole process group, which smbd's setsid made its own (checked:
        never the caller's group), so connections die at once too."""
        if self.proc is not None and sig == signal.SIGKILL and \
                self.proc.poll() is None:
            pid = self.proc.pid
            if os.getpgid(pid) == pid and os.getpgid(0) != pid:
                os.killpg(pid, signal.SIGKILL)
        super().stop(sig)

    def unc(self, share, *path):
        return "\\\\%s\\%s\\%s" % (HOST, share, "\\".join(path))


class Tinyproxy(_Server):
    """tinyproxy on 127.0.0.1:port; requests() lists the URLs it forwarded,
    read from its own log (the proof a transfer went through it)."""

    def __init__(self, workdir, port=None):
        self.workdir = os.path.join(workdir, "tinyproxy")
        self._auto_port = port is None
        self.port = port or free_port()
        os.makedirs(self.workdir, exist_ok=True)
        self.logfile = os.path.join(self.workdir, "tinyproxy.log")

    @property
    def address(self):
        return "%s:%d" % (HOST, self.port)

    def _start(self):
        conf = os.path.join(self.workdir, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write(f"""Port {self.port}
Listen {HOST}
Timeout 60
LogFile "{self.logfile}"
LogLevel Info
MaxClients 20
Allow 127.0.0.1
ViaProxyName "tinyproxy"
""")
        self._spawn(["/usr/bin/tinyproxy", "-d", "-c", conf], "stdout.log")

    def requests(self):
        out = []
        if not os.path.exists(self.logfile):
            return out
        with open(self.logfile, errors="replace") as f:
            for line in f:
                # "Request (file descriptor 6): GET http://h:p/x HTTP/1.1"
                if "Request (file descriptor" in line:
                    parts = line.split("): ", 1)[-1].split()
                    if len(parts) >= 2:
                        out.append(parts[1])
        return out
