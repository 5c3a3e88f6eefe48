"""Kerberos-authenticated SMB beside anonymous (guest) SMB (issue 14): one
1 GiB file from the same Samba AD DC's smbd, through `bitsync apply` with
`auth: computer`, once with the computer's keytab (share comp: Kerberos,
session signing as the DC asks) and once without (share open: guest).

    /usr/bin/python3 tests/bench/krb_bench.py [--runs N] [--mib N]

Root only: the domain runs in a network namespace (tests/ad/test_ad.py's
Domain).  The two take turns, each run into an empty destination and a
fresh state directory, so a change in the machine's load hits both alike;
medians and spread are printed, then the ratio (target: Kerberos within
10% of guest, ratio <= 1.10).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ad"))
import test_ad  # noqa: E402

MiB = 1 << 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--only", help="krb (engine_bench.sh's selector)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("krb_bench: needs root (ip netns)")
    d = test_ad.Domain()
    try:
        d.start()
        for share in ("comp", "open"):
            p = os.path.join(d.dir, "share-" + share, "big.bin")
            if share == "comp":
                with open(p, "wb") as f:
                    for _ in range(a.mib):
                        f.write(os.urandom(MiB))
                os.chmod(p, 0o644)
                src = p
            else:
                os.link(src, p)
        # mtime settles (smb.c waits for a file modified within 2 s)
        time.sleep(2.5)
        work = os.path.join(d.dir, "bench")
        keytab = os.path.join(work, "krb5.keytab")
        os.makedirs(work)
        os.chmod(work, 0o755)
        shutil.copy(d.ws1_keytab, keytab)
        os.chmod(keytab, 0o600)
        times = {"kerberos": [], "guest": []}
        for r in range(a.runs):
            for mode in ("kerberos", "guest"):
                base = os.path.join(work, "%s-%d" % (mode, r))
                mdir, state, dst = (os.path.join(base, x) for x in
                                    ("m", "state", "dst"))
                for x in (mdir, state, dst):
                    os.makedirs(x)
                os.chmod(state, 0o700)
                os.chmod(base, 0o755)
                cfg = os.path.join(base, "bitsync.ini")
                with open(cfg, "w") as f:
                    f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                            "machine_keytab = %s\n" % (
                                mdir, state,
                                keytab if mode == "kerberos" else ""))
                share = "comp" if mode == "kerberos" else "open"
                with open(os.path.join(mdir, "m.yaml"), "w") as f:
                    f.write("version: 1\nsources:\n  s:\n"
                            "    url: \\\\dc1.bitsync.test\\%s\n"
                            "    auth: computer\nsets:\n  - name: big\n"
                            "    source: s\n    destination: %s\n"
                            "    files: [big.bin]\n" % (share, dst))
                os.chmod(os.path.join(mdir, "m.yaml"), 0o644)
                os.chmod(cfg, 0o644)
                t0 = time.monotonic()
                p = subprocess.run(d.x(test_ad.BITSYNC, "-c", cfg, "apply",
                                       "--wait", "--timeout", "10m"),
                                   capture_output=True, text=True,
                                   env=d.env)
                dt = time.monotonic() - t0
                if p.returncode != 0 or os.path.getsize(
                        os.path.join(dst, "big.bin")) != a.mib * MiB:
                    raise RuntimeError("%s run failed: %s" % (mode,
                                                              p.stderr[-2000:]))
                times[mode].append(dt)
                shutil.rmtree(base)
        print("SMB %d MiB through bitsync apply, %d runs (median, min-max):"
              % (a.mib, a.runs))
        for mode, ts in times.items():
            print("  %-9s %6.2f s  %7.0f MiB/s  (%.2f-%.2f s)" % (
                mode, statistics.median(ts), a.mib / statistics.median(ts),
                min(ts), max(ts)))
        ratio = statistics.median(times["kerberos"]) / \
            statistics.median(times["guest"])
        print("  kerberos / guest time: %.3f (target <= 1.10)" % ratio)
    finally:
        d.stop()


if __name__ == "__main__":
    main()
