#!/bin/sh
# Engine benchmarks (issue 3): the engine beside curl, aria2c, smbclient,
# rclone and cp on loopback, ratios printed.  Needs a release build:
#   cmake -S . -B build && cmake --build build
#   tests/bench/engine_bench.sh [--runs N] [--only http,small,smb] ...
# Measure on a quiet machine: the load average is printed before and after.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# Kerberos-authenticated SMB beside guest SMB (issue 14; root, a Samba AD DC
# in a network namespace): tests/bench/engine_bench.sh --only krb [--runs N]
case " $* " in
*" --only krb "*)
	exec /usr/bin/python3 "$here/krb_bench.py" "$@" ;;
esac
exec /usr/bin/python3 "$here/engine_bench.py" "$@"
