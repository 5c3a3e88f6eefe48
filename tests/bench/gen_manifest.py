#!/usr/bin/python3
"""Deterministic generator of large, valid bitsync manifests (design §2).

    gen_manifest.py --sets N [--seed S] > manifest.yaml
    gen_manifest.py --sets N [--seed S] --dropin DIR [--sets-per-file K]

The output is a realistic version-1 manifest: a defaults block, a few dozen
sources (UNC with `auth: computer`, https with a proxy override and bypass
list, a no_proxy mirror, sources with a helper_token, one plain-http mirror
whose files all carry a sha256), then N sets.  Each set has a unique name, a
source, a sub-path, a POSIX destination /srv/bitsync/<name> and 2-4 files in
short and long form (`as`, `sha256`); some sets override priority, refresh,
retry_delay, mode or on_remove.  About 300 bytes per set, so 10,000 sets make
about 3 MB.  Every file resolves to a distinct local path, so the manifest is
valid for `bitsync validate --platform posix`.

A manifest file may not exceed 16 MiB (design §2), so 100,000 sets (about
30 MB) do not fit in one file.  --dropin writes a drop-in directory instead:
00-sources.yaml (version + sources) and 10-sets-NNNN.yaml files of
--sets-per-file sets each (version + defaults + sets).  The sets are the same
as in single-file mode with the same seed; only the file boundaries differ.

Only example.com and .corp.example hosts are used.  Standard library only,
so Debian's /usr/bin/python3 runs it.
"""

import argparse
import os
import random
import re
import sys

FILE_LIMIT = 16 * 1024 * 1024

# Application families: (stem of the set name, remote file names).
FAMILIES = [
    ("vcredist", ["vc_redist.x64.exe", "vc_redist.x86.exe", "vc_redist.arm64.exe", "readme.txt"]),
    ("dotnet-runtime", ["dotnet-runtime.tar.gz", "dotnet-hosting.tar.gz", "checksums.txt", "license.txt"]),
    ("fonts", ["corporate-sans.ttf", "corporate-serif.ttf", "corporate-mono.ttf", "fonts.conf"]),
    ("printer.drivers", ["hp-universal.ppd", "xerox-c70.ppd", "ricoh-mp.ppd", "drivers.cab"]),
    ("agent_cfg", ["agent.ini", "logging.ini", "ca-bundle.pem", "policy.json"]),
    ("office-templates", ["letter.dotx", "memo.dotx", "slides.potx", "invoice.xltx"]),
    ("browser-policy", ["policies.json", "bookmarks.html", "extensions.list", "proxy.pac"]),
    ("av-signatures", ["main.cvd", "daily.cvd", "bytecode.cvd", "freshclam.conf"]),
    ("kiosk.media", ["welcome.mp4", "loop-a.webm", "loop-b.webm", "playlist.m3u"]),
    ("backup-tools", ["restic.bin", "rclone.bin", "backup.sh", "excludes.txt"]),
    ("gpo-scripts", ["logon.ps1", "logoff.ps1", "startup.cmd", "shutdown.cmd"]),
    ("labsoft", ["analyzer.msi", "analyzer.mst", "license.lic", "setup.iss"]),
    ("wallpaper", ["desktop-4k.jpg", "desktop-hd.jpg", "lockscreen.jpg", "logo.png"]),
    ("pos.firmware", ["terminal.fw", "terminal.sig", "pinpad.fw", "release-notes.txt"]),
    ("java-runtime", ["jre.tar.gz", "cacerts.jks", "security.policy", "java.conf"]),
    ("monitoring", ["node_exporter.bin", "textfile.sh", "alerts.yml", "targets.json"]),
]

TEAMS = ["workplace", "retail", "labs", "finance", "security", "facilities", "field-ops", "platform"]
PRIORITIES = ["foreground", "high", "low", "normal"]
REFRESH = ["30m", "1h", "2h", "12h", "1d", "0"]
RETRY = ["30s", "5m", "15m", "1h"]

# Under both YAML 1.2 core (bitsync) and YAML 1.1 (PyYAML) an unquoted scalar
# that looks like a number is not a string; a sha256 or name must never do so.
NUMERIC = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^0[bBxXoO]")


def make_sources(rng):
    """Returns (list of (name, kind, yaml text)), kind in unc/https/http."""
    out = []
    for i in range(1, 15):
        name = "dist%02d" % i
        text = ("  %s:\n"
                "    url: \\\\fs%02d.corp.example\\dist\n"
                "    auth: computer               # computer account; anonymous under LocalService\n") % (name, i)
        out.append((name, "unc", text))
    for i in range(1, 19):
        name = "cdn%02d" % i
        site = rng.choice(["downloads", "cdn", "mirror", "pkgs"])
        lines = ["  %s:\n" % name,
                 "    url: https://%s%d.example.com/pkgs/\n" % (site, i)]
        if i % 6 == 0:
            lines.append("    proxy:\n      usage: no_proxy            # direct, the CDN is on the allow-list\n")
        else:
            lines.append("    proxy:\n"
                         "      usage: override\n"
                         "      servers:\n"
                         "        - \"proxy%d.corp.example:8080\"\n" % (1 + i % 3))
            if i % 4 == 1:
                lines.append("        - \"proxy-fallback.corp.example:3128\"\n")
            lines.append("      bypass:\n"
                         "        - \"<local>\"\n"
                         "        - \"*.corp.example\"\n")
            if i % 5 == 2:
                lines.append("        - \"10.20.*\"\n")
        if i % 3 == 0:
            lines.append("    headers:\n"
                         "      - \"X-Fleet: contoso\"\n"
                         "      - \"X-Site: site-%02d\"\n" % i)
        out.append((name, "https", "".join(lines)))
    out.append(("restricted", "unc",
                "  restricted:\n"
                "    url: \\\\fs90.corp.example\\restricted\n"
                "    helper_token:\n"
                "      credential: dist-reader    # a name in the host's credential store, not a secret\n"
                "      usage:\n"
                "        - network\n"))
    out.append(("partner", "https",
                "  partner:\n"
                "    url: https://partner.example.com/drop/\n"
                "    helper_token:\n"
                "      credential: partner-drop\n"
                "      usage:\n"
                "        - network\n"
                "        - local_file\n"
                "    proxy:\n"
                "      usage: override\n"
                "      servers:\n"
                "        - \"proxy1.corp.example:8080\"\n"
                "      bypass:\n"
                "        - \"<local>\"\n"))
    out.append(("lan-mirror", "http",
                "  lan-mirror:\n"
                "    url: http://mirror.corp.example/pub/   # plain http: every file below carries a sha256\n"
                "    proxy:\n"
                "      usage: no_proxy\n"))
    return out


def sha256_hex(rng):
    while True:
        h = "%064x" % rng.getrandbits(256)
        if not NUMERIC.match(h):
            return h


def make_set(rng, i, sources, weights):
    stem, fnames = FAMILIES[i % len(FAMILIES)]
    name = "%s-%06d" % (stem, i)
    src_name, kind, _ = rng.choices(sources, weights=weights)[0]
    sep = "\\" if kind == "unc" else "/"
    out = []
    if i % 10 == 0:
        out.append("  # --- %s, batch %d ---\n" % (TEAMS[(i // 10) % len(TEAMS)], i // 10))
    out.append("  - name: %s\n" % name)
    out.append("    source: %s\n" % src_name)
    out.append("    path: %s%s%d\n" % (stem.replace(".", "-"), sep, 1 + i % 9))
    out.append("    destination: /srv/bitsync/%s\n" % name)
    out.append("    files:\n")
    nfiles = rng.choice((2, 2, 3, 3, 3, 4))
    picked = rng.sample(fnames, nfiles)
    locals_seen = set()
    for j, f in enumerate(picked):
        long_form = kind == "http" or j > 0 and rng.random() < 0.45
        if not long_form:
            local = f
            out.append("      - %s\n" % f)
        else:
            out.append("      - path: %s\n" % f)
            local = f
            if rng.random() < 0.5:
                sub = rng.choice(("x64", "cfg", "data", "current"))
                local = "%s%s%s" % (sub, "\\" if sep == "\\" and rng.random() < 0.5 else "/", f)
                out.append("        as: %s\n" % local)
            out.append("        sha256: %s\n" % sha256_hex(rng))
        key = local.replace("\\", "/").lower()
        assert key not in locals_seen, (name, key)
        locals_seen.add(key)
    r = rng.random()
    if r < 0.30:
        out.append("    priority: %s\n" % rng.choice(PRIORITIES))
    r = rng.random()
    if r < 0.20:
        out.append("    refresh: %s\n" % rng.choice(REFRESH))
    if rng.random() < 0.05:
        out.append("    retry_delay: %s\n" % rng.choice(RETRY))
    if rng.random() < 0.03:
        out.append("    mode: monitor                # report drift only\n")
    if rng.random() < 0.03:
        out.append("    on_remove: delete\n")
    return "".join(out)


HEADER = ("# bitsync benchmark manifest: %d sets, seed %d.\n"
          "# Generated by tests/bench/gen_manifest.py; do not edit.\n")

DEFAULTS = ("defaults:                          # every set inherits these\n"
            "  priority: normal\n"
            "  refresh: 6h\n"
            "  retry_delay: 10m\n"
            "  no_progress_timeout: 14d\n"
            "  max_download_time: 90d\n"
            "  on_remove: keep\n"
            "  mode: enforce\n")


def source_block(sources):
    return "sources:\n" + "".join(s[2] for s in sources)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", type=int, required=True, help="number of sets")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--dropin", metavar="DIR", help="write a drop-in directory instead of stdout")
    ap.add_argument("--sets-per-file", type=int, default=10000, help="with --dropin (default 10000)")
    a = ap.parse_args()
    if a.sets < 1 or a.sets_per_file < 1:
        ap.error("--sets and --sets-per-file must be positive")

    rng = random.Random(a.seed)
    sources = make_sources(rng)
    # A few big shares and CDNs carry most sets; the http mirror and the
    # helper-token sources carry a few.
    weights = [6 if k == "unc" else 5 for (_, k, _) in sources]
    weights[-3:] = [2, 2, 1]

    if not a.dropin:
        w = sys.stdout
        head = HEADER % (a.sets, a.seed)
        head += "version: 1\n\n" + DEFAULTS + "\n" + source_block(sources) + "\nsets:\n"
        w.write(head)
        size = len(head)
        for i in range(a.sets):
            text = make_set(rng, i, sources, weights)
            size += len(text)
            w.write(text)
        if size > FILE_LIMIT:
            sys.stderr.write("gen_manifest.py: warning: %d bytes is over the 16 MiB per-file limit; "
                             "use --dropin DIR\n" % size)
        return

    os.makedirs(a.dropin, exist_ok=True)
    with open(os.path.join(a.dropin, "00-sources.yaml"), "w") as w:
        w.write(HEADER % (a.sets, a.seed))
        w.write("version: 1\n\n" + source_block(sources))
    i, part = 0, 1
    while i < a.sets:
        path = os.path.join(a.dropin, "10-sets-%04d.yaml" % part)
        n = min(a.sets_per_file, a.sets - i)
        with open(path, "w") as w:
            w.write(HEADER % (a.sets, a.seed))
            w.write("# part %d: sets %d to %d\n" % (part, i, i + n - 1))
            w.write("version: 1\n\n" + DEFAULTS + "\nsets:\n")
            for _ in range(n):
                w.write(make_set(rng, i, sources, weights))
                i += 1
        if os.path.getsize(path) > FILE_LIMIT:
            sys.exit("gen_manifest.py: %s is over 16 MiB; lower --sets-per-file" % path)
        part += 1


if __name__ == "__main__":
    main()
