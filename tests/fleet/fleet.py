#!/usr/bin/python3
"""tests/fleet/fleet.py - N real `bitsync run` agents against one origin,
through a real Squid, watched by a real Prometheus (issue 15).

On this machine, all on 127.0.0.1:
  - an nginx origin with an access log ($msec, method, uri, status, body
    bytes); it answers `Cache-Control: no-cache`, so the cache revalidates
    every request with it (what the origin then sees is every check);
  - a Squid (Debian `squid`, foreground -N, its own config, memory cache,
    pid and logs in the test folder, collapsed_forwarding on for misses;
    revalidations not collapsed, so the origin sees every check);
  - N `bitsync run` daemons, each with its own config, state, manifest
    directory and destination, all with the same manifest (each runs in its
    own mount namespace where its destination folder is bind-mounted on the
    one path the manifest names, so every host has byte-identical manifest
    inputs and reports the same digest, as a fleet does), pointed at the
    origin through Squid with proxy: {usage: override};
  - a few prometheus-node-exporter textfile collectors on a sample of the
    agents' metrics files, scraped by a Prometheus that loads
    samples/prometheus/*.rules.yml.

Scenarios: (1) cold push of a manifest of F files into every agent at once;
(2) steady state over several refresh periods; (3) one file changed at the
origin; (4) origin stopped for two refresh periods, a manifest adding a
file pushed meanwhile, and the origin started again;
(5) a new manifest pushed to all hosts but one, which Prometheus must name.

The last line is
  fleet: agents=N files=F origin_bodies_per_file=X peak_checks_per_s=Y
         mean_checks_per_s=Z converge_s=T
(one line).  Environment: BITSYNC (the binary), BITSYNC_FLEET_AGENTS
(default 10), BITSYNC_FLEET_FILES (default 8), BITSYNC_FLEET_REFRESH
(seconds, default 10), BITSYNC_FLEET_PERIODS (steady-state periods, default
3), BITSYNC_FLEET_START_SPLAY (the agents' start_splay, default 0),
BITSYNC_FLEET_KEEP=1 keeps the work folder, BITSYNC_FLEET_JSON=PATH
writes the measurements for model.py.

Needs root (mount namespaces; squid drops to user proxy).  Raises
fs.inotify.max_user_instances for the run (every daemon watches its
manifest directory) and restores it afterwards.
"""

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))
import servers  # noqa: E402

HOST = servers.HOST
BITSYNC = os.environ.get("BITSYNC", os.path.join(ROOT, "build", "bitsync"))
N = int(os.environ.get("BITSYNC_FLEET_AGENTS", "10"))
F = int(os.environ.get("BITSYNC_FLEET_FILES", "8"))
REFRESH = int(os.environ.get("BITSYNC_FLEET_REFRESH", "10"))
PERIODS = int(os.environ.get("BITSYNC_FLEET_PERIODS", "3"))
START_SPLAY = os.environ.get("BITSYNC_FLEET_START_SPLAY", "0")
SIZE = 256 * 1024
SAMPLE = min(N, 4)            # agents with a node_exporter
INOTIFY = "/proc/sys/fs/inotify/max_user_instances"

failures = []


def log(msg):
    print("fleet: " + msg if not msg.startswith("fleet:") else msg,
          flush=True)


def check(cond, what):
    log(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def write_atomic(path, data, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


class Origin(servers._Server):
    """nginx with timestamps in its access log and no-cache answers."""

    def __init__(self, workdir, root):
        self.workdir = os.path.join(workdir, "origin")
        self.root = root
        self._auto_port = True
        self.port = servers.free_port()
        os.makedirs(os.path.join(self.workdir, "logs"), exist_ok=True)
        self.access_log = os.path.join(self.workdir, "logs", "access.log")

    def _start(self):
        w = self.workdir
        conf = os.path.join(w, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
daemon off;
master_process off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {w}/tmp_body;
    proxy_temp_path {w}/tmp_proxy;
    fastcgi_temp_path {w}/tmp_fastcgi;
    uwsgi_temp_path {w}/tmp_uwsgi;
    scgi_temp_path {w}/tmp_scgi;
    types {{ }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    log_format fleet '$msec $request_method $uri $status $body_bytes_sent '
                     '"$http_if_none_match" "$http_range"';
    server {{
        listen {HOST}:{self.port};
        root {self.root};
        access_log {self.access_log} fleet;
        # Files change in place: a cache must ask before it answers.
        add_header Cache-Control "no-cache";
    }}
}}
""")
        self._spawn(["/usr/sbin/nginx", "-p", w, "-c", conf], "stdout.log")
        self._auto_port = False      # a restart keeps the port

    def log(self):
        out = []
        if not os.path.exists(self.access_log):
            return out
        with open(self.access_log) as f:
            for line in f:
                p = line.split()
                if len(p) < 5:
                    continue
                out.append({"t": float(p[0]), "method": p[1], "uri": p[2],
                            "status": int(p[3]), "body": int(p[4]),
                            "inm": p[5].strip('"') if len(p) > 5 else ""})
        return out


class Squid(servers._Server):
    """A real Squid, foreground, memory cache, collapsed forwarding."""

    def __init__(self, workdir):
        self.workdir = os.path.join(workdir, "squid")
        self._auto_port = True
        self.port = servers.free_port()
        os.makedirs(self.workdir, exist_ok=True)

    def _start(self):
        w = self.workdir
        conf = os.path.join(w, "squid.conf")
        with open(conf, "w") as f:
            f.write(f"""
http_port {HOST}:{self.port}
icp_port 0
htcp_port 0
pid_filename {w}/squid.pid
cache_log {w}/cache.log
access_log stdio:{w}/access.log squid
cache_store_log none
coredump_dir {w}
netdb_filename none
pinger_enable off
cache_effective_user proxy
visible_hostname bitsync-fleet-test
shutdown_lifetime 1 seconds
workers 1
# memory cache big enough for every file of the test
cache_mem 1024 MB
maximum_object_size_in_memory 64 MB
maximum_object_size 1 GB
memory_cache_shared off
# concurrent misses for one URL become one origin request
collapsed_forwarding on
# but every re-check reaches the origin: collapsing concurrent
# revalidations too (what a site's Squid should do) lowers the origin's
# load by 40-60 % here, by how the checks happen to overlap, which would
# blur the agents' check pattern this test measures
acl head method HEAD
collapsed_forwarding_access deny head
collapsed_forwarding_access allow all
http_access allow localhost
http_access deny all
""")
        subprocess.run(["chown", "-R", "proxy:proxy", w], check=True)
        self._spawn(["/usr/sbin/squid", "-N", "-f", conf], "stdout.log")

    def log(self):
        """Requests the agents sent: dicts with t, code, method, url."""
        out = []
        path = os.path.join(self.workdir, "access.log")
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 7:
                        out.append({"t": float(p[0]), "code": p[3],
                                    "bytes": int(p[4]), "method": p[5],
                                    "url": p[6]})
        return out

    @property
    def address(self):
        return "%s:%d" % (HOST, self.port)


class NodeExporter(servers._Server):
    def __init__(self, workdir, name, textdir):
        self.workdir = os.path.join(workdir, "node-exporter-" + name)
        self.textdir = textdir
        self._auto_port = True
        self.port = servers.free_port()
        os.makedirs(self.workdir, exist_ok=True)

    def _start(self):
        self._spawn(["/usr/bin/prometheus-node-exporter",
                     "--web.listen-address=%s:%d" % (HOST, self.port),
                     "--collector.disable-defaults", "--collector.textfile",
                     "--collector.textfile.directory=" + self.textdir],
                    "stdout.log")


class Prometheus(servers._Server):
    def __init__(self, workdir, targets, rule_files):
        self.workdir = os.path.join(workdir, "prometheus")
        self.targets = targets          # [(instance, "host:port")]
        self.rule_files = rule_files
        self._auto_port = True
        self.port = servers.free_port()
        os.makedirs(os.path.join(self.workdir, "data"), exist_ok=True)

    def _start(self):
        w = self.workdir
        conf = os.path.join(w, "prometheus.yml")
        static = "".join(
            "      - targets: ['%s']\n        labels: {instance: '%s'}\n" %
            (addr, inst) for inst, addr in self.targets)
        rules = "".join("  - %s\n" % r for r in self.rule_files)
        with open(conf, "w") as f:
            f.write(f"""global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
{rules}scrape_configs:
  - job_name: node
    static_configs:
{static}""")
        self._spawn(["/usr/bin/prometheus", "--config.file=" + conf,
                     "--storage.tsdb.path=" + os.path.join(w, "data"),
                     "--web.listen-address=%s:%d" % (HOST, self.port),
                     "--log.level=warn"], "stdout.log")

    def query(self, q):
        url = "http://%s:%d/api/v1/query?%s" % (
            HOST, self.port, urllib.parse.urlencode({"query": q}))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=10) as r:
            d = json.load(r)
        return d["data"]["result"]


class Agent:
    def __init__(self, workdir, i, mnt):
        self.name = "agent-%03d" % i
        self.dir = os.path.join(workdir, "agents", self.name)
        self.mnt = mnt
        self.mdir = os.path.join(self.dir, "manifest.d")
        self.state = os.path.join(self.dir, "state")
        self.dest = os.path.join(self.dir, "dest")
        self.textdir = os.path.join(self.dir, "textfile")
        for d in (self.mdir, self.state, self.dest, self.textdir):
            os.makedirs(d, mode=0o755, exist_ok=True)
        self.ini = os.path.join(self.dir, "bitsync.ini")
        with open(self.ini, "w") as f:
            f.write(f"""[agent]
manifest_dir = {self.mdir}
state_dir = {self.state}
interval = 15m
log_level = info
metrics_file = {self.textdir}/bitsync.prom
start_splay = {START_SPLAY}
""")
        self.proc = None

    def start(self):
        self.out = open(os.path.join(self.dir, "agent.log"), "ab")
        # Its own mount namespace: its destination on the fleet's path.
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--",
             "/bin/sh", "-c", 'mount --bind "$1" "$2" && exec "$3" -c "$4" '
             'run', "sh", self.dest, self.mnt, BITSYNC, self.ini],
            stdout=self.out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.out.close()
        self.proc = None

    def status(self):
        try:
            with open(os.path.join(self.state, "status.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def converged(self, digest):
        s = self.status()
        return (s is not None and s["manifest"].get("digest") == digest and
                s["summary"]["sets"] > 0 and
                s["summary"]["in_sync"] == s["summary"]["sets"])

    def push(self, name, data):
        write_atomic(os.path.join(self.mdir, name), data)

    def file(self, rel):
        try:
            with open(os.path.join(self.dest, "pkgs", rel), "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
        except OSError:
            return None


def manifest_digest(files):
    """What the agent reports: SHA-256 over (base name, length, bytes) of
    each manifest file in reading order (agent/status.c)."""
    h = hashlib.sha256()
    for name, data in sorted(files.items()):
        h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0")
        h.update(data)
    return h.hexdigest()


def per_second(events, t0, t1):
    """Counts of events per whole second in [t0, t1)."""
    s0, s1 = math.ceil(t0), math.floor(t1)
    bins = [0] * max(0, s1 - s0)
    for e in events:
        k = int(math.floor(e["t"])) - s0
        if 0 <= k < len(bins):
            bins[k] += 1
    return bins


def slice_sizes(files, refresh):
    """Files per slice of one set on one host (agent/recheck.h): the set's
    files fall into k = min(files, refresh) slices, at least a second
    apart in the refresh period."""
    k = max(1, min(files, refresh))
    sizes = [0] * k
    for i in range(files):
        sizes[i * k // files] += 1
    return sizes


def tail_probability(agents, files, refresh, seconds):
    """The chance that, with the hosts' phases independent and uniform
    (recheck.h: a hash of host and set), some one of `seconds` seconds
    sees more than 2 x the mean number of checks: the exact per-second
    distribution (each host adds the files of the slice due in that
    second, if any: 0 with probability (refresh - k) / refresh) convolved
    over the hosts, its tail above 2 x mean, times the seconds measured
    (a union bound)."""
    sizes = slice_sizes(files, refresh)
    one = [0.0] * (max(sizes) + 1)
    one[0] = (refresh - len(sizes)) / refresh
    for z in sizes:
        one[z] += 1.0 / refresh
    dist = [1.0]
    for _ in range(agents):
        nxt = [0.0] * (len(dist) + len(one) - 1)
        for x, px in enumerate(dist):
            if px:
                for z, pz in enumerate(one):
                    nxt[x + z] += px * pz
        dist = nxt
    limit = 2 * agents * files / refresh
    tail = sum(p for x, p in enumerate(dist) if x > limit)
    return min(1.0, seconds * tail)


def wait_until(pred, timeout, step=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def main():
    if os.geteuid() != 0:
        print("fleet: needs root (mount namespaces, squid)", file=sys.stderr)
        return 77
    work = tempfile.mkdtemp(prefix="bitsync-fleet-")
    os.chmod(work, 0o755)
    old_inotify = open(INOTIFY).read().strip()
    need = N + 256
    procs = []
    agents = []
    ok = False
    try:
        if int(old_inotify) < need:
            with open(INOTIFY, "w") as f:
                f.write(str(need))
        ok = run(work, procs, agents)
    finally:
        for a in agents:
            a.stop()
        for p in reversed(procs):
            p.stop()
        with open(INOTIFY, "w") as f:
            f.write(old_inotify)
        if os.environ.get("BITSYNC_FLEET_KEEP") == "1" or not ok:
            log("work folder kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def run(work, procs, agents):
    www = os.path.join(work, "www", "pkgs")
    os.makedirs(www)
    os.chmod(os.path.join(work, "www"), 0o755)
    names = ["pkg-%03d.bin" % i for i in range(F)]
    content = {}
    for n in names:
        content[n] = os.urandom(SIZE)
        write_atomic(os.path.join(www, n), content[n])
    # Files a day old, as on a real origin.
    for n in names:
        os.utime(os.path.join(www, n), (time.time() - 86400,) * 2)

    origin = Origin(work, os.path.join(work, "www"))
    origin.start()
    procs.append(origin)
    squid = Squid(work)
    squid.start()
    procs.append(squid)
    log("origin 127.0.0.1:%d, squid %s" % (origin.port, squid.address))

    mnt = os.path.join(work, "fleet-dest")
    os.makedirs(mnt)
    t = time.monotonic()
    for i in range(N):
        a = Agent(work, i, mnt)
        agents.append(a)
        a.start()
    time.sleep(2)
    dead = [a.name for a in agents if a.proc.poll() is not None]
    check(not dead, "all %d agents started (dead: %s)" % (N, dead[:5]))
    if dead:
        return False
    log("%d agents started in %.1fs" % (N, time.monotonic() - t))

    exporters = []
    for a in agents[:SAMPLE]:
        ne = NodeExporter(work, a.name, a.textdir)
        ne.start()
        procs.append(ne)
        exporters.append((a.name, "%s:%d" % (HOST, ne.port)))
    rules = [os.path.join(ROOT, "samples", "prometheus", r)
             for r in ("bitsync.rules.yml", "fleet.rules.yml")]
    prom = Prometheus(work, exporters, rules)
    prom.start()
    procs.append(prom)

    manifest = ("""version: 1
defaults:
  refresh: %ds
  retry_delay: 5s
sources:
  origin:
    url: http://%s:%d/pkgs/
    proxy:
      usage: override
      servers: ["%s"]
sets:
  - name: pkgs
    source: origin
    destination: %s/pkgs
    files:
""" % (REFRESH, HOST, origin.port, squid.address, mnt) +
        "".join("      - %s\n" % n for n in names)).encode()
    digest = manifest_digest({"fleet.yaml": manifest})

    # (1) Cold push: the manifest lands on every agent at once.
    t_push = time.time()
    for a in agents:
        a.push("fleet.yaml", manifest)
    pending = set(range(N))
    done_at = {}
    deadline = time.monotonic() + 120 + N
    while pending and time.monotonic() < deadline:
        for i in list(pending):
            if agents[i].converged(digest):
                pending.discard(i)
                done_at[i] = time.time()
        time.sleep(0.2)
    converge_s = max(done_at.values()) - t_push if done_at else float("nan")
    check(not pending, "(1) every agent in sync with digest %s... after the "
          "push (%d not)" % (digest[:12], len(pending)))
    if pending:
        return False
    bad = [a.name for a in agents for n in names
           if a.file(n) != hashlib.sha256(content[n]).hexdigest()]
    check(not bad, "(1) every agent holds every file, byte for byte")
    log("(1) converge_s=%.1f" % converge_s)

    # Cache-friendly requests: nothing the agents sent made the cache
    # bypass its copy (a client no-cache or reload shows as
    # CLIENT_REFRESH in its log) ...
    busted = [e for e in squid.log() if "CLIENT_REFRESH" in e["code"]]
    check(not busted, "(1) no agent request bypassed the cache (%d)" %
          len(busted))
    # ... and a resume, as the engine asks it (Range: bytes=N- with
    # If-Range: <ETag>, agent/engine/http.c), is answered from the cache's
    # copy without a body from the origin.
    before = len([e for e in origin.log() if e["body"] > 0])
    req = urllib.request.Request(
        "http://%s:%d/pkgs/%s" % (HOST, origin.port, names[0]),
        headers={"Range": "bytes=1000-", "User-Agent": "bitsync-test"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(
        {"http": "http://" + squid.address}))
    with opener.open(req, timeout=10) as r:
        tag = r.headers.get("ETag")
    req.add_header("If-Range", tag)
    with opener.open(req, timeout=10) as r:
        code, body = r.status, r.read()
    after = len([e for e in origin.log() if e["body"] > 0])
    check(code == 206 and body == content[names[0]][1000:] and
          after == before, "(1) a resume (Range + If-Range) is served by "
          "the cache: %d, %d bytes, %d origin bodies" %
          (code, len(body), after - before))

    # Prometheus against the agents' own status.
    def prom_converged():
        try:
            r = prom.query("bitsync:host_converged")
        except OSError:
            return None
        return {x["metric"]["instance"]: float(x["value"][1]) for x in r}

    want = {a.name: 1.0 for a in agents[:SAMPLE]}
    got = None
    if wait_until(lambda: prom_converged() == want, 30, 1):
        got = prom_converged()
    own = {a.name: 1.0 if a.converged(digest) else 0.0
           for a in agents[:SAMPLE]}
    check(got == own == want, "(1) Prometheus bitsync:host_converged %s "
          "matches the agents' status %s" % (got, own))

    # (2) Steady state: nothing changes for PERIODS refresh periods.
    t2 = time.time()
    time.sleep(PERIODS * REFRESH + 1)
    t2e = time.time()
    lg = origin.log()
    win = [e for e in lg if t2 <= e["t"] < t2e]
    bins = per_second(win, t2, t2e)
    mean = sum(bins) / len(bins) if bins else 0.0
    peak = max(bins) if bins else 0
    bodies2 = [e for e in win if e["body"] > 0]
    check(not bodies2, "(2) steady state: no body served by the origin "
          "(%d)" % len(bodies2))
    expect = N * F / REFRESH
    asked = [e for e in squid.log() if t2 <= e["t"] < t2e]
    asked_mean = sum(per_second(asked, t2, t2e)) / max(1, len(bins))
    check(0.8 * expect <= asked_mean <= 1.2 * expect,
          "(2) the agents check at agents*files/refresh = %.1f requests/s "
          "(the cache saw %.2f)" % (expect, asked_mean))
    check(0.8 * asked_mean <= mean <= 1.05 * asked_mean,
          "(2) every check reaches the origin as a conditional request: "
          "%.2f checks/s" % mean)
    # The literal bound, at every fleet size: a host's check of
    # its F files is spread over the period in slices a second apart
    # (recheck.h), so a second sees at most one slice per host; what
    # chance random phases had of breaking the bound anyway:
    chance = tail_probability(N, F, REFRESH, len(bins))
    log("(2) P(some second of %d > 2 x mean) with random phases: %.3g" %
        (len(bins), chance))
    bound, why = 2 * mean, "2 x mean %.2f" % mean
    check(peak <= bound, "(2) peak %d checks/s <= %.1f (%s)" %
          (peak, bound, why))
    log("(2) per-second origin requests: %s" % bins)
    checks_total = len(win)

    # (3) One file changed at the origin.
    changed = names[F // 2]
    content[changed] = os.urandom(SIZE)
    t3 = time.time()
    write_atomic(os.path.join(www, changed), content[changed])
    h = hashlib.sha256(content[changed]).hexdigest()
    okk = wait_until(lambda: all(a.file(changed) == h for a in agents),
                     2 * REFRESH + 60, 0.5)
    t3e = time.time()
    check(okk, "(3) every agent has the changed file after %.1fs "
          "(one refresh is %ds)" % (t3e - t3, REFRESH))
    lg = origin.log()
    b3 = [e for e in lg if e["t"] >= t3 and e["body"] > 0]
    check(all(e["uri"].endswith(changed) for e in b3),
          "(3) only the changed file's body leaves the origin")

    # (4) Origin outage for two refresh periods, then back.  Meanwhile a
    # manifest that adds a file reaches every host: each one's transfer
    # fails while the origin is down and is retried (retry_delay, doubled
    # per failure, plus 0-25 % per host and set), so the retries after
    # the outage must come spread too.
    extra = "pkg-new.bin"
    content[extra] = os.urandom(SIZE)
    write_atomic(os.path.join(www, extra), content[extra])
    os.utime(os.path.join(www, extra), (time.time() - 86400,) * 2)
    manifest_b = manifest + ("      - %s\n" % extra).encode()
    digest_b = manifest_digest({"fleet.yaml": manifest_b})
    time.sleep(2)
    origin.stop()
    t4 = time.time()
    time.sleep(1)
    for a in agents:
        a.push("fleet.yaml", manifest_b)
    time.sleep(2 * REFRESH - 1)
    failing = sum(1 for a in agents if a.file(extra) is None)
    origin.start()
    t4s = time.time()
    time.sleep(PERIODS * REFRESH)
    t4e = time.time()
    lg = origin.log()
    win4 = [e for e in lg if t4s <= e["t"] < t4e]
    bins4 = per_second(win4, t4s, t4e)
    peak4 = max(bins4) if bins4 else 0
    log("(4) after the outage (%.0fs): per-second origin requests: %s" %
        (t4s - t4, bins4))
    check(failing == N, "(4) during the outage no agent got the added "
          "file (%d of %d without it)" % (failing, N))
    check(peak4 <= bound, "(4) after the outage no burst at the origin: "
          "peak %d <= %.1f (%s)" % (peak4, bound, why))
    # The retries as the agents sent them (the cache's log): spread over
    # the backoff's jitter, never all hosts in one second beyond the bound.
    retried = [e for e in squid.log() if t4s <= e["t"] < t4e and
               e["method"] == "GET" and e["url"].endswith(extra)]
    rbins = per_second(retried, t4s, t4e)
    rpeak = max(rbins) if rbins else 0
    log("(4) retries of %s reaching the cache after the outage, per "
        "second: %s" % (extra, rbins))
    # (engine.c retry_jitter: up to retry_delay / 4 more at each failure,
    # so hosts that failed together drift apart round by round; with
    # retry_delay 5 s and a 20 s outage, all N in one second has a
    # chance of about (6/16)^N)
    check(rpeak <= bound and (N < 5 or rpeak < N), "(4) the retries after "
          "the outage are spread: busiest second %d of %d GETs (<= %.1f, "
          "not all hosts at once)" % (rpeak, len(retried), bound))
    b4 = [e for e in win4 if e["body"] > 0 and not e["uri"].endswith(extra)]
    check(not b4, "(4) no body but the added file's served after the "
          "outage (%d)" % len(b4))
    okk = wait_until(lambda: all(a.converged(digest_b) for a in agents), 60)
    check(okk, "(4) every agent in sync with the added file after the "
          "outage")
    bad = [a.name for a in agents
           if a.file(extra) != hashlib.sha256(content[extra]).hexdigest()]
    check(not bad, "(4) every agent holds the added file, byte for byte")
    manifest, digest = manifest_b, digest_b

    # Bodies per distinct file version over the whole run: F files, the
    # changed one, the added one.
    lg = origin.log()
    bodies = [e for e in lg if e["method"] == "GET" and
              e["status"] in (200, 206) and e["body"] > 0]
    per_file = len(bodies) / (F + 2)
    check(per_file <= 1.05, "origin bodies per distinct file %.3f <= 1.05 "
          "(%d bodies, %d file versions)" % (per_file, len(bodies), F + 2))

    # (5) A new manifest on every host but the first: Prometheus names it.
    manifest2 = manifest + b"# revision 2\n"
    digest2 = manifest_digest({"fleet.yaml": manifest2})
    time.sleep(1)
    for a in agents[1:]:
        a.push("fleet.yaml", manifest2)
    wait_until(lambda: all(a.converged(digest2) for a in agents[1:]), 60)
    want = {a.name: (0.0 if a is agents[0] else 1.0)
            for a in agents[:SAMPLE]}
    got = None
    if wait_until(lambda: prom_converged() == want, 40, 1):
        got = prom_converged()
    own = {a.name: 1.0 if a.converged(digest2) else 0.0
           for a in agents[:SAMPLE]}
    check(got == own == want, "(5) Prometheus names the one host not on the "
          "newest digest: %s, agents' status %s" % (got, own))

    # Measurements for model.py.
    hits = misses = 0
    egress = 0
    for e in squid.log():
        # answered GETs only: the retries the outage failed (TCP_MISS/502
        # and the like) fetched nothing and are no cache misses
        if e["method"] == "GET" and e["code"].endswith(("/200", "/206")):
            egress += e["bytes"]
            if "HIT" in e["code"] or "REFRESH_UNMODIFIED" in e["code"]:
                hits += 1
            else:
                misses += 1
    m = {"agents": N, "files": F, "file_bytes": SIZE, "refresh_s": REFRESH,
         "converge_s": round(converge_s, 2), "origin_bodies": len(bodies),
         "origin_bodies_per_file": round(per_file, 3),
         "steady_checks_total": checks_total,
         "steady_window_s": round(t2e - t2, 1),
         "requests_per_agent_check": F,
         "cache_checks_per_s": round(asked_mean, 2),
         "mean_checks_per_s": round(mean, 2), "peak_checks_per_s": peak,
         "cache_get_hits": hits, "cache_get_misses": misses,
         "cache_hit_ratio": round(hits / max(1, hits + misses), 4),
         "cache_egress_bytes": egress,
         "cold_bytes_per_agent": F * SIZE}
    out = os.environ.get("BITSYNC_FLEET_JSON")
    if out:
        with open(out, "w") as f:
            json.dump(m, f, indent=1)
    log("measured: " + json.dumps(m))
    if failures:
        log("%d check(s) failed: %s" % (len(failures), "; ".join(failures)))
    print("fleet: agents=%d files=%d origin_bodies_per_file=%.3f "
          "peak_checks_per_s=%d mean_checks_per_s=%.2f converge_s=%.1f" %
          (N, F, per_file, peak, mean, converge_s), flush=True)
    return not failures


if __name__ == "__main__":
    sys.exit(main())
