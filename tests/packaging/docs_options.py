#!/usr/bin/python3
"""docs_options.py SRC_DIR - every long option and command the binary
accepts appears in bitsync(8) and in the bash completion, and nothing the
two document is unknown to the binary.

Reads the getopt_long tables (struct option ... { "name", ... }) of
agent/*.c and agent/posix/*.c (the Linux binary's sources) and the command table of agent/main.c, so a new option that
lands without documentation fails here rather than in front of an admin."""
import glob
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "."
binary = sys.argv[2] if len(sys.argv) > 2 else None
problems = []

opts = set()
for path in sorted(glob.glob(f"{src}/agent/*.c") + glob.glob(f"{src}/agent/posix/*.c")):
    text = open(path, encoding="utf-8").read()
    for block in re.findall(r"struct option\s+\w+\[\]\s*=\s*\{(.*?)\};", text, re.S):
        opts.update(re.findall(r'\{\s*"([a-z][a-z0-9-]*)"\s*,', block))
main = open(f"{src}/agent/main.c", encoding="utf-8").read()
# Commands under #ifdef _WIN32 (service) are not in the Linux binary, and
# bitsync(8) and the completion ship in the Debian package: README's
# Windows section documents them.
main = re.sub(r"#ifdef _WIN32\n.*?#endif\n", "", main, flags=re.S)
m = re.search(r"commands\[\]\s*=\s*\{(.*?)\};", main, re.S)
commands = set(re.findall(r'\{\s*"([a-z]+)"\s*,\s*cmd_', m.group(1))) if m else set()
# Options a command's synopsis in main.c promises (commands not built yet
# have no getopt table) are known too; so are other programs' options that
# the man page's examples use.
known = opts | set(re.findall(r"--([a-z][a-z0-9-]*)", m.group(1) if m else "")) | {"now", "name"}  # systemctl enable --now, systemd-creds --name
if not opts or not commands:
    print("docs_options: found no option or command tables in agent/*.c")
    sys.exit(1)

man = open(f"{src}/packaging/man/bitsync.8", encoding="utf-8").read()
man_plain = man.replace("\\-", "-")
comp = open(f"{src}/packaging/bash-completion/bitsync", encoding="utf-8").read()

man_opts = set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", man_plain))
comp_opts = set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", comp))
m = re.search(r'commands="([^"]*)"', comp)
comp_cmds = set(m.group(1).split()) if m else set()

for o in sorted(opts - man_opts):
    problems.append(f"packaging/man/bitsync.8: option --{o} (agent/*.c) is not documented")
for o in sorted(opts - comp_opts):
    problems.append(f"packaging/bash-completion/bitsync: option --{o} (agent/*.c) is not completed")
for o in sorted(man_opts - known):
    problems.append(f"packaging/man/bitsync.8: documents --{o}, which the binary does not accept")
for o in sorted(comp_opts - known):
    problems.append(f"packaging/bash-completion/bitsync: completes --{o}, which the binary does not accept")
for c in sorted(commands):
    if not re.search(rf"^\.(B|BR|BI|TP)\s+{c}\b", man, re.M) and f"\n.B {c}\n" not in man:
        problems.append(f"packaging/man/bitsync.8: command {c} is not documented")
if comp_cmds != commands:
    problems.append(f"packaging/bash-completion/bitsync: commands {sorted(comp_cmds)} != agent/main.c {sorted(commands)}")

# The binary itself: --version, help, and COMMAND --help exit 0 on stdout,
# and each command's help names every option of its getopt table.
if binary:
    import subprocess

    def run(*args):
        return subprocess.run([binary, *args], capture_output=True, text=True)

    for args in (["--version"], ["-V"], ["version"], ["--help"], ["help"]):
        r = run(*args)
        if r.returncode != 0 or not r.stdout or r.stderr:
            problems.append(f"bitsync {' '.join(args)}: exit {r.returncode}, stdout {r.stdout[:60]!r}, stderr {r.stderr[:60]!r}")
    if run("--version").stdout != run("version").stdout:
        problems.append("bitsync --version and bitsync version differ")
    r = run("help", "no-such-command")
    if r.returncode != 64 or "no-such-command" not in r.stderr:
        problems.append(f"bitsync help no-such-command: exit {r.returncode} (want 64 and the name in the message)")
    cmd_opts = {}
    for path in sorted(glob.glob(f"{src}/agent/*.c") + glob.glob(f"{src}/agent/posix/*.c")):
        text = open(path, encoding="utf-8").read()
        fn = re.search(r"^cmd_(\w+)\(", text, re.M)
        for block in re.findall(r"struct option\s+\w+\[\]\s*=\s*\{(.*?)\};", text, re.S):
            # main.c's table is the global options (-c, --version)
            if fn and fn.group(1) in commands and not path.endswith("/main.c"):
                cmd_opts.setdefault(fn.group(1), set()).update(
                    re.findall(r'\{\s*"([a-z][a-z0-9-]*)"\s*,', block))
    for c in sorted(commands):
        for form in (["help", c], [c, "--help"], [c, "-h"]):
            r = run(*form)
            if r.returncode != 0 or f"bitsync [-c CONFIG] {c}" not in r.stdout:
                problems.append(f"bitsync {' '.join(form)}: exit {r.returncode}, want 0 and the usage of {c}")
                continue
            for o in sorted(cmd_opts.get(c, ())):
                if f"--{o}" not in r.stdout:
                    problems.append(f"bitsync {' '.join(form)}: option --{o} is not described")

# The completion itself, as bash runs it: every command and option that
# `bitsync --help` and `bitsync COMMAND --help` print is offered after
# that command, and nothing else (bash-completion is in
# packaging/apt-packages.txt; the .deb installs the script, deb_test.sh).
BC = "/usr/share/bash-completion/bash_completion"
if binary and os.path.exists(BC):
    import subprocess

    def complete(*words):
        """What the completion offers for the last of words."""
        script = ('source "$1"; source "$2"; shift 2; '
                  'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
                  'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; '
                  '_bitsync bitsync "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        r = subprocess.run(["bash", "-c", script, "_", BC,
                            f"{src}/packaging/bash-completion/bitsync",
                            "bitsync", *words],
                           capture_output=True, text=True, timeout=30)
        return set(x for x in r.stdout.split("\n") if x)

    def help_options(*args):
        out = subprocess.run([binary, *args], capture_output=True,
                             text=True).stdout
        return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b",
                              out))

    top = subprocess.run([binary, "--help"], capture_output=True,
                         text=True).stdout
    help_cmds = set(re.findall(r"bitsync \[-c CONFIG\] ([a-z]+)", top))
    offered = complete("")
    if help_cmds != offered:
        problems.append(f"completion: `bitsync <TAB>` offers {sorted(offered)}, `bitsync --help` lists {sorted(help_cmds)}")
    # global options: -c/--config, --help, --version and their short forms
    want = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b",
                          top.split("\n\n")[0])) | {"-c", "--config", "-h", "--help"}
    got = complete("-")
    if not want <= got:
        problems.append(f"completion: `bitsync -<TAB>` lacks {sorted(want - got)}")
    for c in sorted(help_cmds):
        want = help_options(c, "--help") - {"-c", "-h"}
        got = complete(c, "--")
        if want != got:
            problems.append(f"completion: `bitsync {c} --<TAB>` offers {sorted(got)}, `bitsync {c} --help` describes {sorted(want)}")
        # after a global -c CONFIG too
        if complete("-c", "x.ini", c, "--") != got:
            problems.append(f"completion: `bitsync -c x.ini {c} --<TAB>` differs from `bitsync {c} --<TAB>`")
    if complete("help", "") != help_cmds:
        problems.append("completion: `bitsync help <TAB>` does not offer every command")
    checked_completion = True
else:
    checked_completion = False

for p in problems:
    print(p)
if problems:
    sys.exit(1)
print(f"docs_options: ok ({len(commands)} commands, {len(opts)} long options"
      f"{', completion checked in bash' if checked_completion else ', completion not run: no bash-completion'})")
