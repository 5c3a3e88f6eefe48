#!/usr/bin/python3
"""admx_check.py ADMX_DIR [--ini BITSYNC_INI] [--reader CONFIG_KEYS_C] - the Group Policy template is well-formed and
consistent (issue 6).

  * bitsync.admx and en-US/bitsync.adml parse as XML, in the
    PolicyDefinitions namespace;
  * every $(string.X) and $(presentation.X) of the ADMX resolves in the
    ADML; every ADML string and presentation is used; every presentation
    control refers to an element of its own policy and every element has a
    control of the right kind;
  * every category, supportedOn and parentCategory reference resolves;
  * the registry values the ADMX writes (key, value name, type) are exactly
    those of registry-values.txt, in both directions, under
    Software\\Policies\\bitsync\\<subkey>, all machine policies;
  * with --ini: registry-values.txt names exactly the [section] keys of the
    sample bitsync.ini (which lists every key), except those that Windows
    does not read (WINDOWS_SKIPS);
  * with --reader: registry-values.txt names exactly the keys of the table
    in agent/config_keys.c (what the agent reads, from bitsync.ini and from
    the registry through agent/win/config_win.c alike), and each
    listed type is one that key's kind accepts (READER_TYPES).

Prints one line per problem and exits 1 when there is any."""
import re
import sys
import xml.etree.ElementTree as ET

NS = "{http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions}"
BASE_KEY = "Software\\Policies\\bitsync"
# INI keys with no registry value or policy: the machine keytab of a Linux
# host joined to AD (auth: computer as Kerberos, agent/posix/krb_posix.c); on Windows
# BITS itself is the computer account, so no policy names a keytab.
# (credential_dir serves the engine backend on Windows and has one.)
WINDOWS_SKIPS = {("agent", "machine_keytab"), ("agent", "machine_principal")}
# Keys the agent reads but that are deliberately not Group Policies: a
# setting for test hosts has no place in a template an administrator pushes
# to a fleet.  bits_tolerate_unimplemented turns a BITS call the host lacks
# (Wine's SetProxySettings) into a warning and a transfer without that
# setting, a downgrade that must never reach real Windows; so it has no
# policy and no line in registry-values.txt, and the agent refuses it under
# Software\Policies\bitsync (it reads it from the local
# HKLM\SOFTWARE\bitsync\agent only).  The key table marks such keys
# CF_LOCAL_ONLY; with --reader, that flag and this set must agree.
NOT_POLICIES = {("agent", "bits_tolerate_unimplemented")}
# Registry types agent/win/config_win.c accepts per key kind (its header:
# strings everywhere, REG_DWORD for numbers and durations, REG_MULTI_SZ for
# the two lists).
_SZ = {"REG_SZ", "REG_EXPAND_SZ"}
READER_TYPES = {
    "CK_PATH": _SZ, "CK_BACKEND": _SZ, "CK_LOG_LEVEL": _SZ, "CK_LOG_FORMAT": _SZ,
    "CK_DURATION": _SZ | {"REG_DWORD"},
    "CK_UINT": _SZ | {"REG_DWORD"}, "CK_RATE": _SZ | {"REG_DWORD"},
    "CK_PRINCIPAL": _SZ,
    "CK_DRIVES": _SZ | {"REG_MULTI_SZ"}, "CK_ROOTS": _SZ | {"REG_MULTI_SZ"},
    "CK_CALLS": _SZ | {"REG_MULTI_SZ"},
    "CK_BOOL": _SZ | {"REG_DWORD"},
}
problems = []


def bad(msg):
    problems.append(msg)


def local(tag):
    return tag[len(NS):] if tag.startswith(NS) else tag


def parse(path):
    try:
        return ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        print(f"{path}: not well-formed XML: {e}")
        sys.exit(1)


def main():
    args = sys.argv[1:]
    ini = reader = None
    if "--ini" in args:
        i = args.index("--ini")
        ini = args[i + 1]
        del args[i:i + 2]
    if "--reader" in args:
        i = args.index("--reader")
        reader = args[i + 1]
        del args[i:i + 2]
    d = args[0] if args else "packaging/windows/admx"
    admx_path = f"{d}/bitsync.admx"
    adml_path = f"{d}/en-US/bitsync.adml"
    admx = parse(admx_path)
    adml = parse(adml_path)
    if admx.tag != NS + "policyDefinitions":
        bad(f"{admx_path}: root is {admx.tag}, not policyDefinitions in the GroupPolicy namespace")
    if adml.tag != NS + "policyDefinitionResources":
        bad(f"{adml_path}: root is {adml.tag}, not policyDefinitionResources in the GroupPolicy namespace")
    for root, p in ((admx, admx_path), (adml, adml_path)):
        for a in ("revision", "schemaVersion"):
            if not root.get(a):
                bad(f"{p}: root lacks {a}")

    # --- the ADML tables -------------------------------------------------
    strings = {}
    for s in adml.iter(NS + "string"):
        sid = s.get("id")
        if sid in strings:
            bad(f"{adml_path}: string {sid} defined twice")
        strings[sid] = (s.text or "")
        if not (s.text or "").strip():
            bad(f"{adml_path}: string {sid} is empty")
    presentations = {}
    for pr in adml.iter(NS + "presentation"):
        pid = pr.get("id")
        if pid in presentations:
            bad(f"{adml_path}: presentation {pid} defined twice")
        presentations[pid] = pr

    # --- every $(string.X)/$(presentation.X) in the ADMX resolves --------
    used_strings, used_pres = set(), set()
    ref = re.compile(r"^\$\((string|presentation)\.([^)]+)\)$")
    for el in admx.iter():
        for attr, val in el.attrib.items():
            if "$(" not in val:
                continue
            m = ref.match(val)
            if not m:
                bad(f"{admx_path}: <{local(el.tag)} {attr}=\"{val}\"> is not a $(string.X) or $(presentation.X) reference")
                continue
            kind, name = m.groups()
            if kind == "string":
                used_strings.add(name)
                if name not in strings:
                    bad(f"{admx_path}: <{local(el.tag)} {attr}> refers to string {name}, which {adml_path} does not define")
            else:
                used_pres.add(name)
                if name not in presentations:
                    bad(f"{admx_path}: <{local(el.tag)} {attr}> refers to presentation {name}, which {adml_path} does not define")
    for sid in sorted(set(strings) - used_strings):
        bad(f"{adml_path}: string {sid} is not used by the ADMX")
    for pid in sorted(set(presentations) - used_pres):
        bad(f"{adml_path}: presentation {pid} is not used by the ADMX")

    # --- categories and supportedOn -------------------------------------
    prefix = None
    for t in admx.iter(NS + "target"):
        prefix = t.get("prefix")
    categories = {c.get("name") for c in admx.iter(NS + "category")}
    supported = {s.get("name") for s in admx.iter(NS + "definition")}

    def own(name):
        if prefix and name.startswith(prefix + ":"):
            return name[len(prefix) + 1:]
        return name

    for pc in admx.iter(NS + "parentCategory"):
        if own(pc.get("ref")) not in categories:
            bad(f"{admx_path}: parentCategory {pc.get('ref')} is not a category of this file")
    for so in admx.iter(NS + "supportedOn"):
        r = so.get("ref")
        if r is not None and own(r) not in supported:
            bad(f"{admx_path}: supportedOn {r} is not defined in this file")

    # --- policies, elements, presentation controls, registry values ------
    control_for = {"text": {"textBox"}, "multiText": {"multiTextBox"},
                   "decimal": {"decimalTextBox"}, "longDecimal": {"longDecimalTextBox"},
                   "enum": {"dropdownList", "listBox"}, "boolean": {"checkBox"},
                   "list": {"listBox"}}
    written = {}   # (subkey, value) -> type
    names = set()
    for pol in admx.iter(NS + "policy"):
        name = pol.get("name")
        if name in names:
            bad(f"{admx_path}: policy {name} defined twice")
        names.add(name)
        if pol.get("class") != "Machine":
            bad(f"{admx_path}: policy {name} has class {pol.get('class')}; the agent reads HKLM only (class=\"Machine\")")
        if not pol.get("explainText"):
            bad(f"{admx_path}: policy {name} has no explainText")
        if pol.find(NS + "parentCategory") is None or pol.find(NS + "supportedOn") is None:
            bad(f"{admx_path}: policy {name} lacks parentCategory or supportedOn")
        pkey = pol.get("key")
        elements = pol.find(NS + "elements")
        elems = list(elements) if elements is not None else []
        if pol.get("valueName"):
            bad(f"{admx_path}: policy {name} writes a policy-level value {pol.get('valueName')}; bitsync's values all come from elements")
        if not elems:
            bad(f"{admx_path}: policy {name} sets no value")
        m = ref.match(pol.get("presentation") or "")
        pres = presentations.get(m.group(2)) if m else None
        controls = {}
        if pres is not None:
            for c in pres:
                rid = c.get("refId")
                if rid is not None:
                    controls[rid] = local(c.tag)
        ids = set()
        for e in elems:
            kind = local(e.tag)
            eid = e.get("id")
            ids.add(eid)
            key = e.get("key") or pkey
            if pres is None:
                bad(f"{admx_path}: policy {name} has elements but no presentation")
            elif controls.get(eid) not in control_for.get(kind, set()):
                bad(f"{adml_path}: presentation of policy {name} has no {'/'.join(sorted(control_for.get(kind, {'?'})))} for element {eid} (found {controls.get(eid)})")
            if kind == "text":
                typ = "REG_EXPAND_SZ" if e.get("expandable") == "true" else "REG_SZ"
            elif kind == "multiText":
                typ = "REG_MULTI_SZ"
            elif kind == "decimal":
                typ = "REG_SZ" if e.get("storeAsText") == "true" else "REG_DWORD"
            elif kind == "enum":
                kinds = {local(v.tag) for item in e.iter(NS + "item")
                         for val in item.iter(NS + "value") for v in val}
                if kinds == {"string"}:
                    typ = "REG_SZ"
                elif kinds == {"decimal"}:
                    typ = "REG_DWORD"
                else:
                    bad(f"{admx_path}: enum {eid} of policy {name} mixes value kinds {sorted(kinds)}")
                    continue
            else:
                bad(f"{admx_path}: element <{kind}> of policy {name} is not one bitsync uses")
                continue
            if not key or not key.startswith(BASE_KEY + "\\"):
                bad(f"{admx_path}: policy {name} writes under {key}, not under {BASE_KEY}\\<section>")
                continue
            subkey = key[len(BASE_KEY) + 1:]
            vn = e.get("valueName")
            if (subkey, vn) in written:
                bad(f"{admx_path}: {subkey}\\{vn} is written by more than one policy")
            written[(subkey, vn)] = typ
        for rid in sorted(set(controls) - ids):
            bad(f"{adml_path}: presentation of policy {name} has a control for {rid}, which is not an element of the policy")

    # --- registry-values.txt, both directions -----------------------------
    listed = {}
    with open(f"{d}/registry-values.txt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3 or parts[2] not in (
                    "REG_SZ", "REG_EXPAND_SZ", "REG_MULTI_SZ", "REG_DWORD"):
                bad(f"registry-values.txt:{n}: not SUBKEY<TAB>VALUE<TAB>REG_TYPE")
                continue
            if (parts[0], parts[1]) in listed:
                bad(f"registry-values.txt:{n}: {parts[0]}\\{parts[1]} listed twice")
            listed[(parts[0], parts[1])] = parts[2]
    for k in sorted(set(listed) - set(written)):
        bad(f"registry-values.txt: the agent reads {k[0]}\\{k[1]} ({listed[k]}) but no policy sets it")
    for k in sorted(set(written) - set(listed)):
        bad(f"{admx_path}: a policy writes {k[0]}\\{k[1]} ({written[k]}), which registry-values.txt does not list (the agent would not read it)")
    for k in sorted(set(written) & set(listed)):
        if written[k] != listed[k]:
            bad(f"{admx_path}: {k[0]}\\{k[1]} is written as {written[k]} but registry-values.txt says {listed[k]}")

    if ini:
        inikeys, section = set(), None
        with open(ini, encoding="utf-8") as f:
            for line in f:
                t = line.strip()
                if not t or t[0] in ";#":
                    continue
                m = re.match(r"^\[([^]]+)\]$", t)
                if m:
                    section = m.group(1)
                elif "=" in t and not line[0].isspace():
                    inikeys.add((section, t.split("=", 1)[0].strip()))
        want = inikeys - WINDOWS_SKIPS - NOT_POLICIES
        for k in sorted(NOT_POLICIES - inikeys):
            bad(f"{ini}: [{k[0]}] {k[1]} (NOT_POLICIES) is not in the sample; document it there as a test-host setting")
        for k in sorted(want - set(listed)):
            bad(f"{ini}: [{k[0]}] {k[1]} has no line in registry-values.txt (add it, with a policy, or to WINDOWS_SKIPS with the reason)")
        for k in sorted(set(listed) - want):
            bad(f"registry-values.txt: {k[0]}\\{k[1]} is not a key of {ini}")

    if reader:
        try:
            text = open(reader, encoding="utf-8").read()
        except OSError as e:
            text = None
            print(f"admx_check: {reader}: {e}; reader check skipped")
        if text is not None:
            rows = re.findall(
                r'\{\s*"(agent|engine)",\s*"([a-z_]+)",\s*(CK_[A-Z_]+),\s*([A-Z0-9_| ]+),', text)
            table = {(sec, key): kind for sec, key, kind, _ in rows}
            local_only = {(sec, key) for sec, key, _, flags in rows
                          if "CF_LOCAL_ONLY" in flags}
            if not table:
                bad(f"{reader}: no key table found")
            for k in sorted(local_only ^ NOT_POLICIES):
                bad(f"{reader}: {k[0]}\\{k[1]} is {'' if k in local_only else 'not '}CF_LOCAL_ONLY but {'not ' if k not in NOT_POLICIES else ''}in admx_check.py NOT_POLICIES; make them agree")
            for k in sorted(NOT_POLICIES & set(listed)):
                bad(f"registry-values.txt: {k[0]}\\{k[1]} is a test-host setting (NOT_POLICIES), never a Group Policy; remove its line and policy")
            for k in sorted(set(table) - set(listed) - NOT_POLICIES -
                            WINDOWS_SKIPS):
                bad(f"{reader}: the agent reads {k[0]}\\{k[1]}, which registry-values.txt (and so the ADMX) lacks")
            for k in sorted(set(listed) - set(table)):
                bad(f"registry-values.txt: {k[0]}\\{k[1]} is not read by {reader}")
            for k in sorted(set(listed) & set(table)):
                ok = READER_TYPES.get(table[k])
                if ok is None:
                    bad(f"{reader}: {k[0]}\\{k[1]} has kind {table[k]}, unknown to admx_check.py READER_TYPES")
                elif listed[k] not in ok:
                    bad(f"registry-values.txt: {k[0]}\\{k[1]} is {listed[k]}, which {reader} does not accept for {table[k]}")

    for p in problems:
        print(p)
    if problems:
        print(f"admx_check: {len(problems)} problem(s)")
        return 1
    print(f"admx_check: ok ({len(written)} registry values, {len(names)} policies, {len(strings)} strings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
