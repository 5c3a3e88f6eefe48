#!/usr/bin/env python3
"""Fails when agent/ has an include cycle between modules.

A module is a .c file and its header of the same name (manifest.c and
manifest.h).  Module A depends on module B when A.c or A.h has
#include "B.h".  Quoted includes resolve as the compiler does: beside the
including file first, then from agent/ (the include root).  A cycle
(manifest -> rules -> manifest) means neither can be understood, tested or
linked without the other; this test keeps agent/ free of them (issue 12).

usage: include_cycles.py AGENT_DIR
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def modules(root):
    """module name -> set of module names it includes."""
    files = []
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith((".c", ".h")):
                files.append(os.path.join(d, n))
    deps = {}
    for f in files:
        mod = os.path.relpath(os.path.splitext(f)[0], root)
        deps.setdefault(mod, set())
        with open(f, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for inc in INCLUDE.findall(text):
            for base in (os.path.dirname(f), root):
                p = os.path.normpath(os.path.join(base, inc))
                if os.path.isfile(p):
                    dep = os.path.relpath(os.path.splitext(p)[0], root)
                    if dep != mod:
                        deps[mod].add(dep)
                    break
            # Unresolved (generated headers such as bitsync_msg.h,
            # system headers in quotes): not a module of agent/.
    return deps


def find_cycle(deps):
    """A cycle as a list of modules, or None (iterative DFS)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {m: WHITE for m in deps}
    for start in sorted(deps):
        if colour[start] != WHITE:
            continue
        stack = [(start, iter(sorted(deps[start])))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = BLACK
                stack.pop()
                path.pop()
                continue
            if colour.get(nxt, BLACK) == GREY:
                return path[path.index(nxt):] + [nxt]
            if colour.get(nxt) == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                stack.append((nxt, iter(sorted(deps[nxt]))))
    return None


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.stderr.write("usage: include_cycles.py AGENT_DIR\n")
        return 2
    deps = modules(sys.argv[1])
    cycle = find_cycle(deps)
    if cycle:
        print("include cycle in %s: %s" % (sys.argv[1], " -> ".join(cycle)))
        print("move what both sides need into a module of its own "
              "that includes neither")
        return 1
    print("no include cycle among %d modules" % len(deps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
