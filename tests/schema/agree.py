#!/usr/bin/python3
"""Keeps schema/manifest.schema.json in agreement with `bitsync validate`.

    agree.py agree   --bitsync BIN --schema FILE --samples DIR [--fixtures DIR]
    agree.py samples --bitsync BIN --schema FILE --samples DIR

agree:   for every sample (samples/*.yaml|yml and samples/*.d/*, and each drop-in directory
         as a whole) and every fixture under tests/rules/fixtures, run
         `BIN validate --format json --platform P [-c CONFIG] PATH` and check
         the same file(s) against the JSON Schema:
           (a) bitsync valid                           -> schema valid
           (b) bitsync invalid, every error expressible -> schema invalid
           (c) schema invalid                          -> bitsync invalid
         Files with yaml-syntax / yaml-feature diagnostics are skipped (never
         handed to PyYAML: aliases would be expanded), as are files PyYAML
         cannot read.
samples: the schema is a valid Draft 2020-12 schema, every sample file and
         drop-in directory validates with it, and `BIN validate --platform P`
         exits 0 on every lone sample file and drop-in directory.

Platform, agent config and expectations come from comment lines in a file:
    # platform: windows|posix        (default posix)
    # config: [section.]key = value  (section defaults to agent)
    # expect: LINE:COL severity rule (read by tests/rules; ignored here)

Run with Debian's /usr/bin/python3 (python3-yaml, python3-jsonschema).
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml

# Rules whose every instance the JSON Schema can express.  A "schema" error
# is expressible unless it is the drop-in rule "a lone file needs both
# sources and sets", which the schema (seeing one file) cannot know.
EXPRESSIBLE = {
    "schema", "version", "unc-only", "user-profile-path", "network-identity",
    "path-traversal", "inline-secret",
}
SKIP_RULES = {"yaml-syntax", "yaml-feature"}


# ---- YAML 1.2 core schema, as agent/ytree.c resolves plain scalars --------
# PyYAML's SafeLoader is YAML 1.1 (yes/no/on/off are booleans, 010 is octal,
# dates are timestamps); bitsync and yaml-language-server read YAML 1.2.

class CoreLoader(yaml.SafeLoader):
    pass


CoreLoader.yaml_implicit_resolvers = {}
CoreLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
    ["~", "n", "N", ""])
CoreLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
CoreLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"))
CoreLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))


class BlindInt(int):
    """An integer not written the canonical way (00, +1, 0x1, 0o1): JSON
    Schema sees only its value, bitsync also sees its spelling."""


def _int(loader, node):
    v = loader.construct_scalar(node)
    if v.startswith("0o"):
        n = int(v[2:], 8)
    elif v.startswith("0x"):
        n = int(v[2:], 16)
    else:
        n = int(v, 10)
    return n if v == str(n) else BlindInt(n)


def _float(loader, node):
    v = loader.construct_scalar(node).lower()
    if v.endswith(".inf"):
        return -math.inf if v.startswith("-") else math.inf
    if v.endswith(".nan"):
        return math.nan
    return float(v)


def _bool(loader, node):
    return loader.construct_scalar(node).lower() == "true"


CoreLoader.add_constructor("tag:yaml.org,2002:int", _int)
CoreLoader.add_constructor("tag:yaml.org,2002:float", _float)
CoreLoader.add_constructor("tag:yaml.org,2002:bool", _bool)


# ---- inputs ----------------------------------------------------------------

def yaml_files(d):
    """A drop-in directory's manifest files as bitsync lists them: *.yaml and
    *.yml regular files, not starting with '.', in byte order of names."""
    names = sorted((n for n in os.listdir(d) if n.endswith((".yaml", ".yml"))
                    and not n.startswith(".")), key=lambda n: n.encode())
    return [os.path.join(d, n) for n in names
            if os.path.isfile(os.path.join(d, n))]


def is_dropin(d):
    return d.endswith(".d")


def read_meta(path):
    """platform and config lines from a file's comments."""
    meta = {"platform": None, "config": []}
    try:
        with open(path, "rb") as f:
            text = f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return meta
    for line in text.splitlines():
        m = re.match(r"^\s*#\s*platform:\s*(\S+)", line)
        if m and meta["platform"] is None:
            meta["platform"] = m.group(1)
        m = re.match(r"^\s*#\s*config:\s*(.+?)\s*$", line)
        if m:
            meta["config"].append(m.group(1))
    return meta


def collect(samples, fixtures):
    """[(kind, path, [files])]: every sample file and each sample drop-in
    directory whole; every fixture file and fixture drop-in directory (a
    fixture NAME.d is one fixture, as tests/rules runs it)."""
    cases = []
    for root_dir, kind in ((samples, "sample"), (fixtures, "fixture")):
        if not root_dir or not os.path.isdir(root_dir):
            continue
        for dirpath, dirnames, filenames in os.walk(root_dir):
            dirnames.sort(key=lambda n: n.encode())
            # Sample manifests are samples/*.yaml and samples/*.d/; other
            # folders there (ansible/, prometheus/, ...) hold other YAML.
            if kind == "sample":
                dirnames[:] = [d for d in dirnames if d.endswith(".d")]
            dropin = dirpath != root_dir and is_dropin(dirpath)
            if dropin:
                cases.append((kind, dirpath, yaml_files(dirpath)))
                if kind == "fixture":
                    dirnames[:] = []
                    continue
            for n in sorted(filenames, key=lambda n: n.encode()):
                if n.endswith((".yaml", ".yml")):
                    p = os.path.join(dirpath, n)
                    cases.append((kind, p, [p]))
    return cases


def read_meta_all(files):
    """read_meta over several files (a drop-in directory): the first
    platform line wins, config lines add up."""
    meta = {"platform": None, "config": []}
    for f in files:
        m = read_meta(f)
        if meta["platform"] is None:
            meta["platform"] = m["platform"]
        meta["config"] += m["config"]
    return meta


MACHINE_KEYTAB = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "..", "rules", "machine.keytab")


def write_config(lines, tmpdir):
    """An agent config from '# config:' lines; always one, so the host's
    /etc/bitsync/bitsync.ini never leaks into a test."""
    sections = {"agent": []}
    # auth: computer warns (anonymous-computer) on a Linux host without a
    # machine keytab: a test host's own keys must not decide what a
    # sample or fixture yields, so a fixed test keytab stands in for a
    # joined host unless the case names its own.
    if not any(ln.split("=", 1)[0].strip() == "machine_keytab"
               for ln in lines):
        sections["agent"].append("machine_keytab = " + MACHINE_KEYTAB)
    for ln in lines:
        m = re.match(r"^\[([^\]]+)\]\s*(.*)$", ln)
        if m:
            sec, kv = m.group(1), m.group(2)
        else:
            key = ln.split("=", 1)[0].strip()
            if "." in key:
                sec, rest = ln.split(".", 1)
                sec, kv = sec.strip(), rest
            else:
                sec, kv = "agent", ln
        sections.setdefault(sec, []).append(kv.strip())
    fd, path = tempfile.mkstemp(suffix=".ini", dir=tmpdir)
    with os.fdopen(fd, "w") as f:
        for sec, kvs in sections.items():
            f.write("[%s]\n" % sec)
            for kv in kvs:
                f.write(kv + "\n")
    os.chmod(path, 0o600)
    return path


def run_bitsync(binary, path, platform, config, fmt="json"):
    cmd = [binary]
    if config:
        cmd += ["-c", config]
    cmd += ["validate", "--format", fmt, "--platform", platform, path]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def integral_floats(node):
    """Does the document hold a number JSON Schema cannot tell apart from
    another: a float with an integral value (1.0 is the integer 1 in JSON),
    or an integer spelled other than canonically (00, 0x0)?  bitsync tells
    `version: 1.0` from `version: 1`; JSON Schema cannot."""
    if isinstance(node, BlindInt):
        return True
    if isinstance(node, float):
        return node.is_integer()
    if isinstance(node, dict):
        return any(integral_floats(k) or integral_floats(v)
                   for k, v in node.items())
    if isinstance(node, list):
        return any(integral_floats(x) for x in node)
    return False


def draft7_of(schema):
    """The same schema evaluated with draft-07 rules: what editors do
    (yaml-language-server validates with draft-07 semantics).  The schema
    uses only keywords draft-07 also has; $defs is only a $ref target."""
    s = dict(schema)
    s["$schema"] = "http://json-schema.org/draft-07/schema#"
    return jsonschema.Draft7Validator(s)


def schema_check(validator, files, editor=None):
    """(errors, note, blind): errors is a list of 'file: where: message', or
    None when a file could not be loaded (note says why); blind is true
    when a document holds what JSON Schema cannot see (integral floats)."""
    errors = []
    blind = False
    for f in files:
        try:
            with open(f, "rb") as fh:
                doc = yaml.load(fh, Loader=CoreLoader)
        except Exception as e:  # noqa: BLE001 - any loader failure is a skip
            return None, "PyYAML cannot load %s: %s" % (
                os.path.basename(f), str(e).splitlines()[0]), False
        blind = blind or integral_floats(doc)
        if editor is not None and editor.is_valid(doc) != validator.is_valid(doc):
            errors.append("%s: draft-07 (editors) and 2020-12 disagree"
                          % os.path.basename(f))
        for e in validator.iter_errors(doc):
            where = "/".join(str(x) for x in e.absolute_path) or "(root)"
            errors.append("%s: %s: %s" % (os.path.basename(f), where,
                                          e.message[:160]))
    return errors, None, blind


def short(path, base):
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return path


# ---- modes -----------------------------------------------------------------

def cmd_agree(a, validator):
    cases = collect(a.samples, a.fixtures)
    base = os.path.dirname(os.path.abspath(a.samples.rstrip("/")))
    rows, failed, passed, skipped = [], 0, 0, 0
    editor = draft7_of(validator.schema)
    details = []
    with tempfile.TemporaryDirectory(prefix="bitsync-agree-") as tmp:
        for kind, path, files in cases:
            name = short(path, base)
            if not files:
                rows.append((name, "-", "-", "-", "skip: no manifest files"))
                skipped += 1
                continue
            meta = read_meta_all(files)
            platform = meta["platform"] or "posix"
            config = write_config(meta["config"], tmp)
            rc, out, err = run_bitsync(a.bitsync, path, platform, config)
            try:
                res = json.loads(out)
                valid = bool(res["valid"])
                diags = res["diagnostics"]
            except (ValueError, KeyError, TypeError):
                rows.append((name, platform, "rc=%d" % rc, "-", "FAIL: no JSON"))
                details.append("%s: bitsync exit %d, output not JSON:\n%s%s"
                               % (name, rc, out[:500], err[:500]))
                failed += 1
                continue
            rules = sorted({d["rule"] for d in diags if d["severity"] == "error"})
            if (valid and rc != 0) or (not valid and rc == 0):
                details.append("%s: valid=%s but exit %d" % (name, valid, rc))
            if SKIP_RULES & set(rules):
                rows.append((name, platform, "invalid", "-",
                             "skip: %s (not loaded with PyYAML)"
                             % ",".join(sorted(SKIP_RULES & set(rules)))))
                skipped += 1
                continue
            serrs, note, blind = schema_check(validator, files, editor)
            if serrs is None:
                rows.append((name, platform, "valid" if valid else "invalid",
                             "-", "skip: " + note))
                skipped += 1
                continue
            svalid = not serrs
            inexpressible = sorted(
                {d["rule"] for d in diags if d["severity"] == "error" and (
                    d["rule"] not in EXPRESSIBLE or
                    (d["rule"] == "schema" and "needs both" in d["message"]))})
            if blind:
                inexpressible.append("number spelling")
            verdict = "ok"
            why = ""
            if valid and not svalid:
                # (a), and its contrapositive (c)
                verdict, why = "FAIL", "(a/c) bitsync valid, schema invalid"
            elif not valid and svalid and not inexpressible:
                verdict, why = "FAIL", "(b) bitsync invalid (%s), schema valid" \
                    % ",".join(rules)
            if verdict == "ok":
                passed += 1
                if not valid and svalid:
                    verdict = "ok (inexpressible: %s)" % ",".join(inexpressible)
            else:
                failed += 1
                msg = ["%s: %s" % (name, why)]
                for d in diags:
                    msg.append("    bitsync: %s:%s:%s %s %s: %s" % (
                        os.path.basename(d["file"]), d["line"], d["column"],
                        d["severity"], d["rule"], d["message"]))
                for e in serrs:
                    msg.append("    schema:  " + e)
                details.append("\n".join(msg))
            rows.append((name, platform, "valid" if valid else
                         "invalid(%s)" % ",".join(rules),
                         "valid" if svalid else "invalid(%d)" % len(serrs),
                         verdict))

    w = [max(len(r[i]) for r in rows + [("case", "platform", "bitsync", "schema", "")])
         for i in range(4)]
    hdr = ("case", "platform", "bitsync", "schema", "result")
    print("  ".join(h.ljust(w[i]) if i < 4 else h for i, h in enumerate(hdr)))
    for r in rows:
        print("  ".join(c.ljust(w[i]) if i < 4 else c for i, c in enumerate(r)))
    if details:
        print()
        print("\n".join(details))
    print()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


def cmd_samples(a, validator):
    passed = failed = 0
    base = os.path.dirname(os.path.abspath(a.samples.rstrip("/")))
    try:
        jsonschema.Draft202012Validator.check_schema(validator.schema)
        print("ok    schema is a valid Draft 2020-12 schema")
        passed += 1
    except jsonschema.SchemaError as e:
        print("FAIL  schema is not a valid Draft 2020-12 schema: %s" % e.message)
        failed += 1
    editor = draft7_of(validator.schema)
    cases = collect(a.samples, None)
    in_dropin = {f for _, p, files in cases if os.path.isdir(p) for f in files}
    with tempfile.TemporaryDirectory(prefix="bitsync-samples-") as tmp:
        for _, path, files in cases:
            name = short(path, base)
            meta = read_meta(files[0]) if files else {"platform": None, "config": []}
            if meta["platform"] not in ("windows", "posix"):
                print("FAIL  %s: first line must be '# platform: windows|posix'" % name)
                failed += 1
                continue
            serrs, note, _ = schema_check(validator, files, editor)
            if serrs:
                print("FAIL  %s: schema: %s" % (name, "; ".join(serrs)))
                failed += 1
                continue
            if serrs is None:
                print("FAIL  %s: %s" % (name, note))
                failed += 1
                continue
            if path in in_dropin:
                # one drop-in file alone need not be a whole manifest
                print("ok    %s (schema)" % name)
                passed += 1
                continue
            config = write_config(meta["config"], tmp)
            rc, out, err = run_bitsync(a.bitsync, path, meta["platform"],
                                       config)
            try:
                diags = json.loads(out)["diagnostics"]
            except (ValueError, KeyError, TypeError):
                diags = None
            if rc != 0 or diags is None or diags:
                # samples are what admins copy: no errors, and no warnings
                print("FAIL  %s: bitsync validate --platform %s exit %d\n%s%s"
                      % (name, meta["platform"], rc, out, err))
                failed += 1
            else:
                print("ok    %s (schema, bitsync --platform %s)"
                      % (name, meta["platform"]))
                passed += 1
    print()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("agree", "samples"))
    ap.add_argument("--bitsync", required=True, help="the bitsync binary")
    ap.add_argument("--schema", required=True, help="schema/manifest.schema.json")
    ap.add_argument("--samples", required=True, help="the samples directory")
    ap.add_argument("--fixtures", help="tests/rules/fixtures")
    a = ap.parse_args()
    with open(a.schema, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    if a.mode == "agree":
        return cmd_agree(a, validator)
    return cmd_samples(a, validator)


if __name__ == "__main__":
    sys.exit(main())
