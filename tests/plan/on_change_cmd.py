"""The program test_on_change.py has bitsync run as an on_change command.

    on_change_cmd.py LOG MODE [ARG]

Appends one JSON line to LOG saying what it saw (pid, cwd, environment,
the BITSYNC_CHANGED file's lines and its mode and owner, stdin), then
behaves as MODE says:
    ok          exit 0
    fail-once   exit 1 unless ARG (a flag file) exists, then create it
    hang-fork   fork a child that sleeps, write its pid to ARG, sleep
    spew        write ARG bytes of output, exit 0
    hang-once   sleep unless ARG (a flag file) exists, then create it
"""
import json
import os
import sys
import time

log, mode = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else None
# The environment as exec'd: Python itself adds LC_CTYPE to os.environ
# (PEP 538) when the locale is C.
with open("/proc/self/environ", "rb") as f:
    env = dict(x.decode().split("=", 1) for x in f.read().split(b"\0") if x)
rec = {"pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
       "cwd": os.getcwd(), "env": env, "mode": mode,
       "stdin": os.readlink("/proc/self/fd/0"), "time": time.time()}
ch = os.environ.get("BITSYNC_CHANGED")
if ch:
    st = os.stat(ch)
    rec["changed_mode"] = st.st_mode & 0o7777
    rec["changed_uid"] = st.st_uid
    with open(ch) as f:
        rec["changed"] = f.read().splitlines()
with open(log, "a") as f:
    f.write(json.dumps(rec) + "\n")
if mode == "ok":
    sys.exit(0)
if mode == "fail-once":
    if os.path.exists(arg):
        sys.exit(0)
    open(arg, "w").close()
    print("failing on purpose", flush=True)
    sys.exit(1)
if mode == "hang-fork":
    pid = os.fork()
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    with open(arg, "w") as f:
        f.write(str(pid))
    time.sleep(600)
if mode == "spew":
    n = int(arg)
    line = b"x" * 1023 + b"\n"
    out = sys.stdout.buffer
    # A line that tries to forge a record and to drive a terminal.
    first = b'evil "q" \x1b[2J\rlevel=error event=forged\r\n'
    out.write(first)
    n -= len(first)
    while n > 0:
        out.write(line[:n])
        n -= len(line)
    out.flush()
    sys.exit(0)
if mode == "hang-once":
    if os.path.exists(arg):
        sys.exit(0)
    open(arg, "w").close()
    time.sleep(600)
sys.exit(2)
