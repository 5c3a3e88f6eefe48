"""Engine benchmarks: the engine beside curl, aria2c, smbclient, rclone and
cp, in one run, on loopback (servers from tests/servers/servers.py).

    /usr/bin/python3 tests/bench/engine_bench.py [--drive PATH]
        [--work DIR] [--runs N] [--big-mib N] [--small N] [--only WHAT]

WHAT: http, small, https, https-small, smb, smb-small (comma-separated;
default the four of issue 14: https, https-small, smb, smb-small).  The
https groups run nginx with TLS 1.3 only and every client verifies it
(curl --cacert, the engine's ca_file); "bitsync apply, sha256" is the
whole agent with the file's sha256 declared, verified before its durable
Complete.  Every figure is
the median of --runs runs, the tools of a group taking turns (so a change
in the machine's load hits them alike); each run starts with an empty
destination.  The
engine's time includes Complete with a durable commit (fsync or syncfs of
the data, rename, fsync of the directory); the peers write without any
sync, as they always do.  Peak RSS comes from /usr/bin/time (GNU time).
"""

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
import servers  # noqa: E402

MiB = 1 << 20


def timed(argv, env=None, cwd=None):
    """Runs argv under GNU time; returns (seconds, peak RSS KiB)."""
    rss_file = "/tmp/.engine_bench_rss.%d" % os.getpid()
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=env, cwd=cwd)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (argv[0], p.returncode,
                                                    p.stderr[-2000:]))
    with open(rss_file) as f:
        rss = int(f.read().split()[-1])
    os.unlink(rss_file)
    return dt, rss


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = args.work
        self.rows = []

    def measure_all(self, group, tools, units, per, dst):
        """tools: (name, make_argv, env).  Runs them round-robin, --runs
        times, so a change in the machine's load hits every tool alike;
        reports each tool's median."""
        times = {t[0]: [] for t in tools}
        rss = {t[0]: [] for t in tools}
        for _ in range(self.a.runs):
            for name, make_argv, env in tools:
                fresh(dst)
                subprocess.run(["sync"])
                dt, r = timed(make_argv(), env=env)
                times[name].append(dt)
                rss[name].append(r)
        rows = {}
        for name, _, _ in tools:
            t = statistics.median(times[name])
            row = {"group": group, "name": name, "secs": t,
                   "rate": units / t, "per": per,
                   "rss": max(rss[name]) / 1024,
                   "lo": units / max(times[name]),
                   "hi": units / min(times[name])}
            self.rows.append(row)
            rows[name] = row
            # The spread: the slowest and fastest of the runs (the
            # machine's speed drifts; ratios of medians side by side are
            # what to compare).
            print("  %-34s %8.3f s %10.1f %-8s (%.1f-%.1f) peak RSS %6.1f"
                  " MiB" % (name, t, row["rate"], per, row["lo"],
                            row["hi"], row["rss"]), flush=True)
        return rows

    def engine(self, state, *args, parallel=None):
        argv = [self.a.drive, "-s", state]
        if parallel:
            argv += ["-p", str(parallel)]
        return argv + list(args)

    def ratio(self, a, b, what):
        print("  ratio %-40s %.2f" % (what, a["rate"] / b["rate"]),
              flush=True)

    def http(self, web, src):
        print("1 GiB over HTTP (%d MiB)" % self.a.big_mib, flush=True)
        big = os.path.join(src, "big.bin")
        dst = os.path.join(self.work, "dst-big")
        state = os.path.join(self.work, "state")
        mib = self.a.big_mib

        def eng():
            fresh(state)
            return self.engine(state, "get", web.url("big.bin"),
                               os.path.join(dst, "big.bin"))
        r = self.measure_all("http", [
            ("cp (disk floor)", lambda: [
                "cp", big, os.path.join(dst, "big.bin")], None),
            ("curl -o", lambda: [
                "curl", "-s", "-f", "-o", os.path.join(dst, "big.bin"),
                web.url("big.bin")], None),
            # curl made as durable as the engine: the bytes, then fsync.
            ("curl -o, then sync FILE", lambda: [
                "sh", "-c", 'curl -s -f -o "$1" "$2" && sync "$1"', "sh",
                os.path.join(dst, "big.bin"), web.url("big.bin")], None),
            ("engine (durable commit)", eng, None)], mib, "MiB/s", dst)
        e = r["engine (durable commit)"]
        self.ratio(e, r["curl -o"], "engine / curl (target >= 0.9)")
        self.ratio(e, r["curl -o, then sync FILE"], "engine / curl+sync")
        self.ratio(e, r["cp (disk floor)"], "engine / cp")

    def small(self, web, src):
        n = self.a.small
        print("%d x 64 KiB over HTTP" % n, flush=True)
        names = ["s%05d.bin" % i for i in range(n)]
        dst = os.path.join(self.work, "dst-small")
        state = os.path.join(self.work, "state")
        cfg = os.path.join(self.work, "curl.cfg")
        with open(cfg, "w") as f:
            for s in names:
                f.write('url = "%s"\noutput = "%s"\n' % (
                    web.url("small/" + s), os.path.join(dst, s)))
        alist = os.path.join(self.work, "aria2.list")
        with open(alist, "w") as f:
            for s in names:
                f.write("%s\n  out=%s\n" % (web.url("small/" + s), s))

        def eng():
            fresh(state)
            args = []
            for s in names:
                args += [web.url("small/" + s), os.path.join(dst, s)]
            return self.engine(state, "get", *args, parallel=8)
        r = self.measure_all("small", [
            ("cp -r (disk floor)", lambda: [
                "cp", "-r", os.path.join(src, "small"),
                os.path.join(dst, "x")], None),
            ("curl -Z --parallel-max 8", lambda: [
                "curl", "-s", "-f", "-Z", "--parallel-max", "8", "-K", cfg],
             None),
            ("aria2c -j 8", lambda: [
                "aria2c", "-q", "-j", "8", "--allow-overwrite=true",
                "--auto-file-renaming=false", "--file-allocation=none",
                "-d", dst, "-i", alist], None),
            ("engine, 1 job, max_parallel 8", eng, None)], n, "files/s",
            dst)
        e = r["engine, 1 job, max_parallel 8"]
        self.ratio(e, r["curl -Z --parallel-max 8"],
                   "engine / curl -Z8 (target >= 0.8)")
        self.ratio(e, r["aria2c -j 8"], "engine / aria2c -j8")
        self.ratio(e, r["cp -r (disk floor)"], "engine / cp")

    def smb(self, smbd, src):
        print("1 GiB over SMB (%d MiB)" % self.a.big_mib, flush=True)
        mib = self.a.big_mib
        dst = os.path.join(self.work, "dst-smb")
        state = os.path.join(self.work, "state")
        env = dict(os.environ, RCLONE_CONFIG_X_TYPE="smb",
                   RCLONE_CONFIG_X_HOST="127.0.0.1",
                   RCLONE_CONFIG_X_PORT=str(smbd.port),
                   RCLONE_CONFIG_X_USER="guest", RCLONE_CONFIG_X_PASS="")

        def eng():
            fresh(state)
            return self.engine(state, "-P", str(smbd.port), "get", "-a",
                               smbd.unc("pub", "big.bin"),
                               os.path.join(dst, "big.bin"))
        r = self.measure_all("smb", [
            ("smbclient get", lambda: [
                "smbclient", "//127.0.0.1/pub", "-p", str(smbd.port), "-N",
                "-c", "get big.bin %s" % os.path.join(dst, "big.bin")],
             None),
            ("rclone copy (smb backend)", lambda: [
                "rclone", "copy", "--config", "/dev/null", "x:pub/big.bin",
                dst], env),
            ("smbclient get, then sync FILE", lambda: [
                "sh", "-c", 'smbclient //127.0.0.1/pub -p "$1" -N -c "get'
                ' big.bin $2" >/dev/null && sync "$2"', "sh",
                str(smbd.port), os.path.join(dst, "big.bin")], None),
            ("engine (durable commit)", eng, None)], mib, "MiB/s", dst)
        e = r["engine (durable commit)"]
        best = max(r["smbclient get"], r["rclone copy (smb backend)"],
                   key=lambda x: x["rate"])
        self.ratio(e, best, "engine / faster of smbclient, rclone (>= 1)")
        self.ratio(e, r["smbclient get, then sync FILE"],
                   "engine / smbclient+sync (durable both)")

    def apply_argv(self, name, url, files, ca=None, parallel=4):
        """bitsync apply --wait in-process (the whole agent: manifest,
        plan, engine, sha256 verify, durable Complete) for files, each a
        (remote name, sha256 or None); a fresh state and destination."""
        d = os.path.join(self.work, "apply-" + name)
        state = os.path.join(d, "state")
        fresh(d)
        os.makedirs(state, mode=0o700)
        os.chmod(d, 0o755)
        dst = os.path.join(self.work, "dst-" + name)
        man = os.path.join(d, "manifest.yaml")
        with open(man, "w") as f:
            f.write("version: 1\nsources:\n  s:\n    url: %s\n"
                    "    proxy: {usage: no_proxy}\nsets:\n  - name: b\n"
                    "    source: s\n    destination: %s\n    files:\n"
                    % (url, dst))
            for n, h in files:
                f.write("      - path: %s\n" % n)
                if h:
                    f.write("        sha256: %s\n" % h)
        cfg = os.path.join(d, "bitsync.ini")
        with open(cfg, "w") as f:
            f.write("[agent]\nmanifest = %s\nmanifest_dir =\nstate_dir = %s"
                    "\n[engine]\nmax_parallel = %d\n" % (man, state,
                                                          parallel))
            if ca:
                f.write("ca_file = %s\n" % ca)
        for p in (man, cfg):
            os.chmod(p, 0o644)
        return [self.a.bitsync, "-c", cfg, "apply", "--wait", "--timeout",
                "30m"]

    def https(self, web, src, ca):
        mib = self.a.big_mib
        print("%d MiB over HTTPS (TLS 1.3, verified)" % mib, flush=True)
        big = os.path.join(src, "big.bin")
        dst = os.path.join(self.work, "dst-https")
        h = sha256_of(big)
        r = self.measure_all("https", [
            ("curl --cacert -o", lambda: [
                "curl", "-s", "-f", "--tlsv1.3", "--cacert", ca, "-o",
                os.path.join(dst, "big.bin"), web.url("big.bin")], None),
            # As durable as the engine's commit: the bytes, then fsync
            # (the disk's write speed is the floor of both).
            ("curl --cacert -o, then sync FILE", lambda: [
                "sh", "-c", 'curl -s -f --tlsv1.3 --cacert "$3" -o "$1" "$2"'
                ' && sync "$1"', "sh", os.path.join(dst, "big.bin"),
                web.url("big.bin"), ca], None),
            ("bitsync apply, sha256, durable", lambda: self.apply_argv(
                "https", web.url("/"), [("big.bin", h)], ca), None),
            ("bitsync apply, no sha256, durable", lambda: self.apply_argv(
                "https", web.url("/"), [("big.bin", None)], ca), None)],
            mib, "MiB/s", dst)
        e = r["bitsync apply, sha256, durable"]
        self.ratio(e, r["curl --cacert -o"],
                   "engine+sha256 / curl --cacert (target >= 0.9)")
        self.ratio(e, r["curl --cacert -o, then sync FILE"],
                   "engine+sha256 / curl+sync (durable both)")
        self.ratio(r["bitsync apply, no sha256, durable"],
                   r["curl --cacert -o"], "engine (no sha256) / curl")

    def https_small(self, web, src, ca):
        n = self.a.small
        print("%d x 64 KiB over HTTPS (TLS 1.3, verified)" % n, flush=True)
        names = ["s%05d.bin" % i for i in range(n)]
        dst = os.path.join(self.work, "dst-https-small")
        state = os.path.join(self.work, "state")
        cfg = os.path.join(self.work, "curl-tls.cfg")
        with open(cfg, "w") as f:
            for s in names:
                f.write('url = "%s"\noutput = "%s"\n' % (
                    web.url("small/" + s), os.path.join(dst, s)))

        def eng():
            fresh(state)
            args = []
            for s in names:
                args += [web.url("small/" + s), os.path.join(dst, s)]
            return [self.a.drive, "-s", state, "-p", "8", "-A", ca,
                    "get"] + args
        r = self.measure_all("https-small", [
            ("curl -Z --parallel-max 8 --cacert", lambda: [
                "curl", "-s", "-f", "--tlsv1.3", "--cacert", ca, "-Z",
                "--parallel-max", "8", "-K", cfg], None),
            ("engine, 1 job, max_parallel 8", eng, None)], n, "files/s",
            dst)
        self.ratio(r["engine, 1 job, max_parallel 8"],
                   r["curl -Z --parallel-max 8 --cacert"],
                   "engine / curl -Z8 over TLS (target >= 0.8)")

    def smb_small(self, smbd, src):
        n = self.a.small
        print("%d x 64 KiB over SMB" % n, flush=True)
        names = ["s%05d.bin" % i for i in range(n)]
        dst = os.path.join(self.work, "dst-smb-small")
        state = os.path.join(self.work, "state")
        env = dict(os.environ, RCLONE_CONFIG_X_TYPE="smb",
                   RCLONE_CONFIG_X_HOST="127.0.0.1",
                   RCLONE_CONFIG_X_PORT=str(smbd.port),
                   RCLONE_CONFIG_X_USER="guest", RCLONE_CONFIG_X_PASS="")

        def eng():
            fresh(state)
            args = []
            for s in names:
                args += [smbd.unc("pub", "small", s), os.path.join(dst, s)]
            return [self.a.drive, "-s", state, "-p", "8", "-P",
                    str(smbd.port), "get", "-a"] + args
        tools = [
            ("smbclient mget", lambda: [
                "smbclient", "//127.0.0.1/pub", "-p", str(smbd.port), "-N",
                "-c", "prompt OFF; lcd %s; cd small; mget *" % dst], None),
            ("rclone copy (smb backend)", lambda: [
                "rclone", "copy", "--config", "/dev/null", "x:pub/small",
                dst], env),
            ("engine, max_parallel 8", eng, None),
            ("engine, max_parallel 8, one SMB lock", eng,
             dict(os.environ, BITSYNC_SMB_SERIAL="1"))]
        r = self.measure_all("smb-small", tools, n, "files/s", dst)
        best = max(r["smbclient mget"], r["rclone copy (smb backend)"],
                   key=lambda x: x["rate"])
        self.ratio(r["engine, max_parallel 8"], best,
                   "engine / faster of smbclient, rclone (>= 1)")
        self.ratio(r["engine, max_parallel 8, one SMB lock"], best,
                   "engine with one lock (before) / faster")

    def run(self):
        src = os.path.join(self.work, "src")
        os.makedirs(os.path.join(src, "small"), exist_ok=True)
        os.chmod(self.work, 0o755)
        big = os.path.join(src, "big.bin")
        if not os.path.exists(big) or \
                os.path.getsize(big) != self.a.big_mib * MiB:
            subprocess.run(["openssl", "rand", "-out", big,
                            str(self.a.big_mib * MiB)], check=True)
        for i in range(self.a.small):
            p = os.path.join(src, "small", "s%05d.bin" % i)
            if not os.path.exists(p):
                with open(p, "wb") as f:
                    f.write(os.urandom(65536))
        subprocess.run(["chmod", "-R", "a+rX", src], check=True)
        with open("/proc/loadavg") as f:
            print("load average before: %s" % " ".join(f.read().split()[:3]))
        only = set(self.a.only.split(","))
        if only & {"http", "small"}:
            with servers.Nginx(self.work, src) as web:
                if "http" in only:
                    self.http(web, src)
                if "small" in only:
                    self.small(web, src)
        if only & {"https", "https-small"}:
            tls = servers.make_cert(self.work)
            with servers.Nginx(self.work, src, tls=tls,
                               extra_server="ssl_protocols TLSv1.3;") as web:
                if "https" in only:
                    self.https(web, src, tls[0])
                if "https-small" in only:
                    self.https_small(web, src, tls[0])
        if only & {"smb", "smb-small"}:
            with servers.Smbd(self.work,
                              {"pub": servers.Share(src, guest=True)}) as s:
                if "smb" in only:
                    self.smb(s, src)
                if "smb-small" in only:
                    self.smb_small(s, src)
        with open("/proc/loadavg") as f:
            print("load average after: %s" % " ".join(f.read().split()[:3]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--drive", default=os.path.join(
        HERE, "..", "..", "build", "tests", "engine", "engine_drive"))
    ap.add_argument("--work", default="/var/tmp/bitsync-engine-bench")
    ap.add_argument("--bitsync", default=os.path.join(
        HERE, "..", "..", "build", "bitsync"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--only", default="https,https-small,smb,smb-small")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    Bench(a).run()


if __name__ == "__main__":
    main()
