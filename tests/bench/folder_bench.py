"""Folder-set benchmark (issue 13; not a ctest test): a folder of N small
files on a real smbd on 127.0.0.1.

  cold:     bitsync apply into an empty destination and state, beside
            `smbclient mget` and `rclone copy` of the same tree;
  in sync:  bitsync apply with nothing changed (a listing, no transfer),
            beside `rclone check`;
  one file: one file changed on the share; bitsync apply: time, and files
            and bytes read from the share (atime: what was opened).

Medians of ROUNDS rounds, each tool in a block of its own (facts.md: never
interleave binaries).  Prints one table and the ratios.

  /usr/bin/python3 tests/bench/folder_bench.py [--files 10000] [--rounds 5]
      [--bitsync build/bitsync]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
import servers  # noqa: E402

OLD = time.time() - 3600


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)


def timed(argv, env=None, cwd=None):
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, env=env,
                       cwd=cwd)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (argv[0], p.returncode,
                                         (p.stderr or p.stdout)[-2000:]))
    return dt


def count(root):
    n = 0
    for _, _, fs in os.walk(root):
        n += len(fs)
    return n


def read_since(root, stamp):
    files = size = 0
    for dp, _, fs in os.walk(root):
        for f in fs:
            st = os.lstat(os.path.join(dp, f))
            if st.st_atime > stamp:
                files += 1
                size += st.st_size
    return files, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--bitsync", default=os.path.join(
        HERE, "..", "..", "build", "bitsync"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bitsync-folder-bench-")
    os.chmod(work, 0o755)
    pub = os.path.join(work, "pub")
    for i in range(a.files):
        p = os.path.join(pub, "d%02d" % (i % 50), "f%05d.bin" % i)
        if i < 50:
            os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
        with open(p, "wb") as f:
            f.write(os.urandom(a.size))
        os.utime(p, (OLD - 100, OLD))
    smbd = servers.Smbd(work, {"pub": servers.Share(pub, guest=True)})
    smbd.start()
    try:
        run(a, work, pub, smbd)
    finally:
        smbd.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(a, work, pub, smbd):
    dst = os.path.join(work, "dst")
    state = os.path.join(work, "state")
    mdir = os.path.join(work, "m")
    os.makedirs(mdir)
    cfg = os.path.join(work, "bitsync.ini")
    with open(cfg, "w") as f:
        f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                "max_set_files = %d\n[engine]\nmax_parallel = 8\n"
                "smb_port = %d\n" % (mdir, state, a.files + 10, smbd.port))
    with open(os.path.join(mdir, "10.yaml"), "w") as f:
        f.write("version: 1\nsources:\n  dist:\n    url: \\\\127.0.0.1\\pub\n"
                "    auth: computer\nsets:\n  - name: tree\n"
                "    source: dist\n    destination: %s\n"
                "    include: ['**/*.bin']\n" % dst)
    env = dict(os.environ, RCLONE_CONFIG_X_TYPE="smb",
               RCLONE_CONFIG_X_HOST="127.0.0.1",
               RCLONE_CONFIG_X_PORT=str(smbd.port),
               RCLONE_CONFIG_X_USER="guest", RCLONE_CONFIG_X_PASS="")
    bs = [a.bitsync, "-c", cfg, "apply"]
    res = {}

    def block(name, prep, argv, env=None, check=None):
        ts = []
        for _ in range(a.rounds):
            prep()
            ts.append(timed(argv, env=env))
            if check:
                check()
        res[name] = statistics.median(ts)
        print("  %-34s %8.2f s  (%s)" % (name, res[name],
              ", ".join("%.2f" % t for t in ts)), flush=True)

    def cold():
        fresh(dst)
        fresh(state)
        os.chmod(state, 0o700)

    def all_there():
        n = count(dst)
        if n != a.files:
            sys.exit("%d files in the destination, not %d" % (n, a.files))

    print("%d files of %d bytes over SMB, %d rounds" % (a.files, a.size,
          a.rounds), flush=True)
    print("cold", flush=True)
    block("bitsync apply (cold)", cold, bs, check=all_there)
    block("smbclient mget", lambda: fresh(dst),
          ["smbclient", "//127.0.0.1/pub", "-p", str(smbd.port), "-N",
           "-c", "recurse ON; prompt OFF; lcd %s; mget *" % dst],
          check=all_there)
    block("rclone copy", lambda: fresh(dst),
          ["rclone", "copy", "--config", "/dev/null", "x:pub", dst], env,
          check=all_there)
    print("in sync: re-check", flush=True)
    cold()
    timed(bs)
    block("bitsync apply (in sync)", lambda: None, bs)
    block("rclone check", lambda: None,
          ["rclone", "check", "--config", "/dev/null", "--size-only",
           "x:pub", dst], env)
    print("one changed file", flush=True)
    reads = []
    n = [0]

    def change():
        n[0] += 1
        p = os.path.join(pub, "d07", "f%05d.bin" % 7)
        with open(p, "wb") as f:
            f.write(os.urandom(a.size))
        os.utime(p, (OLD - 100, OLD + n[0]))
        reads.append(time.time())
        time.sleep(0.02)

    def after():
        reads[-1] = read_since(pub, reads[-1])
    block("bitsync apply (1 changed)", change, bs, check=after)
    print("    read from the share per round: %s" % ", ".join(
        "%d file(s), %d bytes" % r for r in reads), flush=True)
    print("ratios (< 1: bitsync faster)")
    print("  cold:    bitsync / smbclient mget = %.2f" %
          (res["bitsync apply (cold)"] / res["smbclient mget"]))
    print("  cold:    bitsync / rclone copy    = %.2f" %
          (res["bitsync apply (cold)"] / res["rclone copy"]))
    print("  in sync: bitsync / rclone check   = %.2f" %
          (res["bitsync apply (in sync)"] / res["rclone check"]))
    print("  1 file:  bitsync (1 changed) / bitsync (in sync) = %.2f" %
          (res["bitsync apply (1 changed)"] / res["bitsync apply (in sync)"]))


if __name__ == "__main__":
    main()
