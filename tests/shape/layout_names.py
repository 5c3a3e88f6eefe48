#!/usr/bin/env python3
"""Fails when a module of agent/ (a .c file) is not named in README's
Layout section as `name`, so the map of the code stays whole (issue 12).

usage: layout_names.py SRC_DIR
"""
import glob
import os
import re
import sys


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "."
    text = open(os.path.join(src, "README.md"), encoding="utf-8").read()
    m = re.search(r"^## Layout\n(.*?)^## ", text, re.M | re.S)
    if not m:
        print("README.md has no '## Layout' section")
        return 1
    named = set(re.findall(r"`([a-z0-9_]+)`", m.group(1)))
    missing = []
    for path in sorted(glob.glob(os.path.join(src, "agent", "**", "*.c"),
                                 recursive=True)):
        mod = os.path.splitext(os.path.basename(path))[0]
        if mod not in named:
            missing.append(os.path.relpath(path, src))
    if missing:
        for p in missing:
            print("README.md Layout does not name `%s` (%s)" %
                  (os.path.splitext(os.path.basename(p))[0], p))
        return 1
    print("README.md Layout names all %d modules" %
          len(glob.glob(os.path.join(src, "agent", "**", "*.c"),
                        recursive=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
