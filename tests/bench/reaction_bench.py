#!/usr/bin/python3
"""Reaction benchmark (issue 4): from a drop-in file written to its job
created by a running `bitsync run`, median over 20 edits.

    BITSYNC=build/bitsync /usr/bin/python3 tests/bench/reaction_bench.py [N]

Each edit writes a new drop-in (temporary file + rename, as config
management tools do) declaring one more set; the time is taken when the
daemon logs "set=NAME job=... created" on stderr.  nginx on 127.0.0.1
serves the file so every job also completes.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
import servers  # noqa: E402

BITSYNC = os.environ.get("BITSYNC", os.path.join(HERE, "..", "..", "build",
                                                 "bitsync"))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    d = tempfile.mkdtemp(prefix="bitsync-reaction-")
    os.chmod(d, 0o755)
    www, mdir, state = (os.path.join(d, x) for x in ("www", "m.d", "state"))
    for x in (www, mdir, state):
        os.makedirs(x)
    os.chmod(www, 0o755)
    with open(os.path.join(www, "f.bin"), "wb") as f:
        f.write(os.urandom(4096))
    os.chmod(os.path.join(www, "f.bin"), 0o644)
    web = servers.Nginx(d, www)
    web.start()
    cfg = os.path.join(d, "bitsync.ini")
    with open(cfg, "w") as f:
        f.write("[agent]\nmanifest_dir = %s\nstate_dir = %s\n"
                "status_file = %s/status.json\n" % (mdir, state, state))
    with open(os.path.join(mdir, "00-src.yaml"), "w") as f:
        f.write("version: 1\nsources:\n  web:\n    url: %s\n    proxy:\n"
                "      usage: no_proxy\n" % web.url("/"))
    seen = {}
    cond = threading.Condition()
    p = subprocess.Popen([BITSYNC, "-c", cfg, "run"],
                         stderr=subprocess.PIPE, text=True)

    def reader():
        for line in p.stderr:
            # "level=info set=NAME job={...} created ..." (log.c)
            if " created " in line and " set=" in line:
                name = line.split(" set=", 1)[1].split()[0]
                with cond:
                    seen[name] = time.monotonic()
                    cond.notify_all()
    threading.Thread(target=reader, daemon=True).start()
    while not os.path.exists(os.path.join(state, "status.json")):
        time.sleep(0.05)
    times = []
    try:
        for i in range(n):
            name = "s%03d" % i
            path = os.path.join(mdir, "10-%s.yaml" % name)
            with open(path + ".tmp", "w") as f:
                f.write("version: 1\nsets:\n  - name: %s\n    source: web\n"
                        "    destination: %s/dst/%s\n    files:\n"
                        "      - f.bin\n" % (name, d, name))
            os.chmod(path + ".tmp", 0o644)
            t0 = time.monotonic()
            os.rename(path + ".tmp", path)
            with cond:
                if not cond.wait_for(lambda: name in seen, timeout=30):
                    raise SystemExit("no job for %s" % name)
            times.append((seen[name] - t0) * 1000)
            time.sleep(0.3)
    finally:
        p.terminate()
        p.wait(30)
        web.stop()
        shutil.rmtree(d, ignore_errors=True)
    print("reaction over %d edits: median %.1f ms, min %.1f, max %.1f" %
          (n, statistics.median(times), min(times), max(times)))


if __name__ == "__main__":
    main()
