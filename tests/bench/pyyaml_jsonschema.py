#!/usr/bin/python3
"""What a pipeline would run instead of `bitsync validate`: PyYAML's C loader
plus jsonschema with the project's JSON Schema.

    pyyaml_jsonschema.py [--loader-only] [--schema FILE] PATH...

Each PATH is a manifest file or a drop-in directory (its *.yaml and *.yml
files in byte order of their names).  Every file is loaded with
yaml.load(f, Loader=yaml.CSafeLoader) and, unless --loader-only or the schema
file does not exist yet, validated with
jsonschema.Draft202012Validator(schema).validate(doc).  The schema defaults to
schema/manifest.schema.json in this checkout.

Prints one line: "schema" or "loader only", files and sets; exits 1 when a
document fails the schema, 2 when the C loader is missing.  Run it with
Debian's /usr/bin/python3 (python3-yaml, python3-jsonschema).
"""

import argparse
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.normpath(os.path.join(HERE, "..", "..", "schema", "manifest.schema.json"))


def expand(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            names = sorted((n for n in os.listdir(p) if n.endswith((".yaml", ".yml"))),
                           key=lambda n: n.encode())
            out.extend(os.path.join(p, n) for n in names)
        else:
            out.append(p)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loader-only", action="store_true", help="skip jsonschema")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA, help="JSON Schema file")
    ap.add_argument("paths", nargs="+", metavar="PATH")
    a = ap.parse_args()

    if not getattr(yaml, "__with_libyaml__", False) or not hasattr(yaml, "CSafeLoader"):
        print("pyyaml_jsonschema: PyYAML has no C loader (libyaml)", file=sys.stderr)
        return 2

    validator = None
    if not a.loader_only and os.path.exists(a.schema):
        import json
        import jsonschema
        with open(a.schema, encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)

    files = expand(a.paths)
    nsets = 0
    for path in files:
        with open(path, "rb") as f:
            doc = yaml.load(f, Loader=yaml.CSafeLoader)
        if validator is not None:
            try:
                validator.validate(doc)
            except jsonschema.ValidationError as e:
                loc = "/".join(str(p) for p in e.absolute_path)
                print("pyyaml_jsonschema: %s: /%s: %s" % (path, loc, e.message), file=sys.stderr)
                return 1
        if isinstance(doc, dict) and isinstance(doc.get("sets"), list):
            nsets += len(doc["sets"])
    print("%s: %d file%s, %d sets" % ("schema" if validator is not None else "loader only",
                                       len(files), "" if len(files) == 1 else "s", nsets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
