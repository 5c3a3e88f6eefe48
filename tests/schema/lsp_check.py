#!/usr/bin/python3
"""The schema as an editor shows it: a real yaml-language-server (npm, from
packaging/npm-packages.txt) over stdio, driven by tests/schema/lsp.py.

    lsp_check.py --schema FILE --samples DIR      (ctest schema-lsp)
    lsp_check.py --installed DIR                   (tests/packaging/deb_test.sh)

--samples: every sample manifest (samples/*.yaml|yml, samples/*.d/*.yaml,
           each with its own modeline) shows no diagnostic at all; each
           broken manifest below shows the expected human message on the
           expected line, and no message anywhere quotes a regular
           expression ("does not match the pattern"), says "Matches a
           schema that is not allowed" or runs past 300 characters; every
           key that completion offers in every mapping of a manifest
           inserts "key: " (or "key:" and a new line), never the bare key.
--installed: every example under DIR (the .deb's examples, whose modeline
           names /usr/share/bitsync/manifest.schema.json) shows no
           diagnostic: the schema loads ("Unable to load schema" otherwise).
"""

import argparse
import glob
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lsp  # noqa: E402

# (name, manifest body, [(line, substring of the message)])
BROKEN = [
    ("duration", """version: 1
sources:
  s: {url: https://x.example/, proxy: {usage: no_proxy}}
sets:
  - name: a
    source: s
    destination: /srv/a
    retry_delay: 10 minutes
    files: [f]
""", [(8, "a duration such as 10m")]),
    ("refresh", """version: 1
defaults:
  refresh: 600
sources:
  s: {url: https://x.example/, proxy: {usage: no_proxy}}
""", [(3, "a duration such as")]),
    ("names", """version: 1
sources:
  "bad name": {url: https://x.example/, proxy: {usage: no_proxy}}
  t:
    url: \\\\fs\\share
    helper_token: {credential: "no/slash"}
sets:
  - name: Upper
    source: t
    destination: /srv/a
    files: [{path: a, sha256: abc}]
""", [(3, "a source name"), (6, "a credential name"), (8, "a set name"),
      (11, "64 hexadecimal digits")]),
    ("unc-only", """version: 1
sources:
  s: {url: 'Z:\\dist', auth: computer}
""", [(3, "a UNC path")]),
    ("inline-secret", """version: 1
sources:
  a: {url: 'https://u:pw@x.example/', proxy: {usage: no_proxy}}
  b: {url: 'https://x.example/f?sig=abc', proxy: {usage: no_proxy}}
  c:
    url: https://x.example/
    proxy: {usage: no_proxy}
    headers: ["Authorization: Bearer x", "no colon"]
""", [(3, "no user name or password"), (4, "no secret"), (8, "secret-like header"),
      (8, "'Name: value'")]),
    ("network-identity", """version: 1
sources:
  web:
    url: https://x.example/
  share:
    url: \\\\fs\\share
  negotiate:
    url: https://x.example/
    auth: computer
  px:
    url: https://x.example/
    proxy: {usage: no_proxy, servers: ["p:8080"]}
""", [(3, "needs proxy"), (5, "auth: computer or a helper_token"),
      (7, "needs proxy"), (12, "go with usage: override only")]),
    ("paths", """version: 1
sources:
  s: {url: https://x.example/, proxy: {usage: no_proxy}}
sets:
  - name: a
    source: s
    path: /abs
    destination: '%APPDATA%\\x'
    files: ['../up', 'C:x']
  - name: b
    source: s
    destination: relative/dir
    files: [f]
""", [(7, "no leading /"), (8, "user's profile"), (9, "without '..'"), (9, "no drive letter"),
      (12, "an absolute destination")]),
]

# a manifest with every mapping, and the lines/columns where completion
# lists that mapping's keys (an empty line at the mapping's indentation)
COMPLETE = """version: 1
defaults:
  mode: enforce
  \n\
sources:
  s:
    url: https://x.example/
    proxy:
      usage: override
      servers: ["p:8080"]
      \n\
    helper_token:
      credential: c
      \n\
    \n\
sets:
  - name: a
    source: s
    destination: /srv/a
    files:
      - path: f
        \n\
    \n\
"""
COMPLETE_AT = [(3, 2, "defaults"), (10, 6, "proxy"), (13, 6, "helper_token"),
               (14, 4, "source"), (21, 8, "files[] long form"), (22, 4, "set")]
# keys that must be offered at those places (a sample, not all)
COMPLETE_WANT = {"defaults": {"priority", "refresh", "retry_delay", "max_download_time"},
                 "proxy": {"bypass"}, "helper_token": {"usage"},
                 "source": {"headers", "auth"}, "files[] long form": {"as", "sha256"},
                 "set": {"path", "priority", "refresh", "no_progress_timeout"}}


def modeline(schema):
    return f"# yaml-language-server: $schema={schema}\n"


def check_samples(c, samples, fails):
    files = sorted(glob.glob(os.path.join(samples, "*.y*ml")) +
                   glob.glob(os.path.join(samples, "*.d", "*.y*ml")))
    if not files:
        fails.append(f"no samples in {samples}")
    for f in files:
        if "yaml-language-server: $schema=" not in pathlib.Path(f).read_text():
            fails.append(f"{f}: no yaml-language-server modeline")
            continue
        uri, diags = c.open(f)
        for d in diags:
            fails.append(f"{f}:{d['range']['start']['line'] + 1}: {d['message']}")
        c.close(uri)
    return len(files)


def check_messages(c, schema, tmp, fails):
    n = 0
    for name, body, want in BROKEN:
        path = os.path.join(tmp, f"broken-{name}.yaml")
        text = modeline(schema) + body
        pathlib.Path(path).write_text(text)
        uri, diags = c.open(path)
        c.close(uri)
        got = [(d["range"]["start"]["line"], d["message"]) for d in diags]
        for line, sub in want:
            n += 1
            # +1: the modeline is line 1 of the document; LSP lines count from 0
            if not any(gl == line and sub in m for gl, m in got):
                fails.append(f"{name}: no message with '{sub}' on line {line} of the manifest; got "
                             + "; ".join(f"{gl}: {m}" for gl, m in got))
        for gl, m in got:
            if ("does not match the pattern" in m or len(m) > 300
                    or m.startswith("Matches a schema that is not allowed")):
                fails.append(f"{name}: line {gl}: an editor shows this: {m[:400]}")
    return n


def check_completion(c, schema, tmp, fails):
    path = os.path.join(tmp, "complete.yaml")
    pathlib.Path(path).write_text(modeline(schema) + COMPLETE)
    uri, diags = c.open(path)
    n = 0
    for line, col, where in COMPLETE_AT:
        items = c.completion(uri, line + 1, col)
        keys = {}
        for i in items:
            if i.get("kind") != 10:    # properties only (not snippets, values)
                continue
            text = (i.get("textEdit") or {}).get("newText") or i.get("insertText") or i["label"]
            keys[i["label"]] = text
            n += 1
            if not (text.startswith(i["label"] + ": ") or text.startswith(i["label"] + ":\n")):
                fails.append(f"completion in {where}: '{i['label']}' inserts {text!r}, not '{i['label']}: '")
        missing = COMPLETE_WANT[where] - set(keys)
        if missing:
            fails.append(f"completion in {where}: {sorted(missing)} not offered (offered {sorted(keys)})")
    c.close(uri)
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schema")
    ap.add_argument("--samples")
    ap.add_argument("--installed")
    a = ap.parse_args()
    fails = []
    try:
        c = lsp.Client()
    except FileNotFoundError as e:
        print(f"lsp_check: FAIL: {e}")
        return 1
    try:
        if a.installed:
            n = check_samples(c, a.installed, fails)
            print(f"lsp_check: {n} installed examples opened")
        else:
            schema = os.path.abspath(a.schema)
            n = check_samples(c, a.samples, fails)
            print(f"lsp_check: {n} samples opened")
            with tempfile.TemporaryDirectory() as tmp:
                n = check_messages(c, schema, tmp, fails)
                print(f"lsp_check: {n} expected messages in {len(BROKEN)} broken manifests")
                n = check_completion(c, schema, tmp, fails)
                print(f"lsp_check: {n} key completions in {len(COMPLETE_AT)} mappings")
    finally:
        c.shutdown()
    for f in fails:
        print(f"lsp_check: FAIL: {f}")
    print(f"lsp_check: {'ok' if not fails else str(len(fails)) + ' finding(s)'}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
