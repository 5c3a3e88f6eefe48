#!/usr/bin/python3
"""The bitsync demo: one HTTP set and one UNC set, kept in sync by the
`bitsync run` daemon, watched with `bitsync status` until both are in sync.

    BITSYNC=build/bitsync /usr/bin/python3 tests/demo/demo.py [--keep]

It serves a copy of samples/ on 127.0.0.1 twice: over HTTP (nginx) and as
the guest SMB share \\\\127.0.0.1\\samples (smbd), both on free ports and in
a folder of its own, writes an agent config and a manifest there, starts
the daemon, and prints the status every second.  Exit 0 when both sets are
in sync within --timeout seconds (default 90).  Needs nginx-light and
samba (packaging/apt-packages.txt); run as root on a Debian 12 machine.
"""

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))
import servers  # noqa: E402

BITSYNC = os.environ.get("BITSYNC", os.path.join(ROOT, "build", "bitsync"))


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def copy_samples(dst):
    shutil.copytree(os.path.join(ROOT, "samples"), dst)
    for d, dirs, files in os.walk(dst):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true",
                    help="leave the demo folder (printed) in place")
    ap.add_argument("--timeout", type=int, default=90)
    args = ap.parse_args()

    d = tempfile.mkdtemp(prefix="bitsync-demo-")
    os.chmod(d, 0o755)
    content = os.path.join(d, "samples")
    copy_samples(content)
    mdir = os.path.join(d, "manifest.d")
    state = os.path.join(d, "state")
    dest = os.path.join(d, "dest")
    for x in (mdir, dest):
        os.makedirs(x)
        os.chmod(x, 0o755)
    web = servers.Nginx(d, content)
    smb = servers.Smbd(d, {"samples": servers.Share(content, guest=True)})
    daemon = None
    rc = 1
    try:
        web.start()
        smb.start()
        cfg = os.path.join(d, "bitsync.ini")
        with open(cfg, "w") as f:
            f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                    "status_file = %s/status.json\ninterval = 15m\n"
                    "[engine]\nsmb_port = %d\n"
                    % (mdir, state, state, smb.port))
        http_files = ["https-proxy.yaml", "bitsync.ini"]
        unc_files = ["gpo-installers.yaml", "helper-token-share.yaml"]
        manifest = (
            "version: 1\n"
            "sources:\n"
            "  web:\n"
            "    url: %s\n"
            "    proxy:\n"
            "      usage: no_proxy\n"
            "  share:\n"
            "    url: '\\\\127.0.0.1\\samples'\n"
            "    auth: computer\n"
            "sets:\n"
            "  - name: demo-http\n"
            "    source: web\n"
            "    destination: %s/http\n"
            "    files:\n" % (web.url("/"), dest))
        for f in http_files:
            manifest += "      - path: %s\n        sha256: \"%s\"\n" % (
                f, sha(os.path.join(content, f)))
        manifest += ("  - name: demo-unc\n"
                     "    source: share\n"
                     "    destination: %s/unc\n"
                     "    files:\n" % dest)
        for f in unc_files:
            manifest += "      - path: %s\n        as: docs/%s\n" % (f, f)
        path = os.path.join(mdir, "demo.yaml")
        with open(path, "w") as f:
            f.write(manifest)
        os.chmod(path, 0o644)
        print("demo folder: %s\nmanifest %s:\n\n%s" % (d, path, manifest))
        subprocess.run([BITSYNC, "validate", path], check=False)
        log = open(os.path.join(d, "run.log"), "w")
        daemon = subprocess.Popen([BITSYNC, "-c", cfg, "run"],
                                  stdout=log, stderr=log)
        deadline = time.monotonic() + args.timeout
        tty = sys.stdout.isatty()
        while time.monotonic() < deadline:
            time.sleep(1)
            p = subprocess.run([BITSYNC, "-c", cfg, "status", "--format",
                                "json"], capture_output=True, text=True)
            if p.stdout.strip() == "":
                continue
            st = json.loads(p.stdout)
            t = subprocess.run([BITSYNC, "-c", cfg, "status"],
                               capture_output=True, text=True).stdout
            if tty:
                sys.stdout.write("\033[H\033[2J")
            print(t)
            s = st["summary"]
            if s["sets"] == 2 and s["in_sync"] == 2:
                rc = 0
                break
        for set_name, files in (("http", http_files),
                                ("unc/docs", unc_files)):
            for f in files:
                got = os.path.join(dest, set_name, f)
                ok = os.path.exists(got) and sha(got) == sha(
                    os.path.join(content, f))
                print("%-60s %s" % (got, "ok" if ok else "MISSING"))
                if not ok:
                    rc = 1
        print("\ndaemon log (one line per decision):")
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        daemon = None
        log.close()
        with open(os.path.join(d, "run.log")) as f:
            sys.stdout.write(f.read())
        print("\ndemo %s" % ("passed: both sets in sync" if rc == 0 else
                             "FAILED"))
    finally:
        if daemon is not None:
            daemon.kill()
            daemon.wait()
        smb.stop()
        web.stop()
        if args.keep:
            print("kept %s" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
