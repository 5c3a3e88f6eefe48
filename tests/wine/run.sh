#!/usr/bin/env bash
# tests/wine/run.sh - the Windows side under Wine: cross-builds bitsync.exe
# and the backend driver with packaging/windows/build.sh, starts a private
# Wine prefix and an nginx on 127.0.0.1, and runs
#   - tests/wine/bits_drive.exe: the bits backend against Wine's BITS
#     (lifecycle, cancel, enumerate and tags, 404, unsupported settings,
#     probe, notify);
#   - tests/wine/win_drive.exe: the registry config, platform and DACL
#     checks (agent/win/config_win.c, platform_win.c, perm_win.c);
#   - tests/wine/svc_drive.exe: service install / start / stop / uninstall
#     and the Event Log source under Wine's service manager (service.c);
#   - bitsync.exe version and validate on the samples (exit codes as on
#     Linux);
#   - bitsync.msi: its tables (msiinfo), then msiexec /i, an upgrade to a
#     newer version and msiexec /x (files, service, Event Log source,
#     products registered);
#   - bitsync.exe plan / apply / status against Wine's BITS (the reconciler
#     driving the bits backend): plan's exit codes, apply --wait end to end,
#     a 404's error in status, a foreign job named like bitsync's left
#     alone, and an agent killed mid-transfer whose job the next apply
#     adopts (tests/wine/job_drive.exe lists the jobs as BITS has them).
# Prints one line per check and a final "N passed, N failed"; exits 0 only
# when nothing failed.  Installs nothing: the packages come from
# packaging/apt-packages.txt through packaging/deps.sh.
#
# Environment: BITSYNC_WINE_BUILD  build directory (default: a temp dir;
#              the ctest registration passes one inside the build tree)
#              BITSYNC_WIN_DEPS    cache of the cross-built libraries
#              (default: ~/.cache/bitsync/mingw-deps)
#              BITSYNC_NATIVE      the native bitsync to compare validate
#              with (default: build/bitsync)
#              KEEP=1               keep the temp directory for a post-mortem
set -uo pipefail

# --only backend: the backend driver only (no bitsync.exe);
# --only exe: bitsync.exe version and validate;
# --only reconcile: bitsync.exe plan / apply / status / run / service;
# --only msi: bitsync.msi only (its tables, then install, upgrade and
# uninstall under Wine's msiexec);
# --only secure: tests/wine/sec_drive.exe, the promises of design §7 under
# LocalSystem (issue 11: folder walks and judges, private files, status
# temps, deletes, the bits backend's path check before Resume and
# Complete), against links planted from this side.  Default: all.
ONLY=all
if [ "${1:-}" = "--only" ] && [ -n "${2:-}" ]; then
	ONLY=$2
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/wine
TMP=$(mktemp -d /tmp/bitsync-wine.XXXXXX)
chmod 755 "$TMP"	# nginx's workers (nobody) read the served files
BUILD=${BITSYNC_WINE_BUILD:-$TMP/build}
# The cross-built libyaml, jansson and SQLite are kept per machine (they
# take minutes to build and change only with Debian's source packages).
if [ -z "${BITSYNC_WIN_DEPS:-}" ] && [ -n "${HOME:-}" ]; then
	export BITSYNC_WIN_DEPS=${XDG_CACHE_HOME:-$HOME/.cache}/bitsync/mingw-deps
fi
PASS=0
FAIL=0
NGINX_PID=
export WINEPREFIX=$TMP/prefix
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="	# no Mono/Gecko prompts
export DISPLAY=

pass() { echo "PASS $*"; PASS=$((PASS + 1)); }
fail() { echo "FAIL $*"; FAIL=$((FAIL + 1)); }

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
	if [ -d "$WINEPREFIX" ]; then
		wineserver -k 2>/dev/null
		wineserver -w 2>/dev/null
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

for t in wine wineserver x86_64-w64-mingw32-gcc nginx; do
	if ! command -v "$t" >/dev/null; then
		fail "prerequisite: $t not found (run packaging/deps.sh)"
		finish
	fi
done

# --- build -----------------------------------------------------------------
t0=$(date +%s)
if [ "$ONLY" = backend ] || [ "$ONLY" = secure ]; then
	if "$ROOT/packaging/windows/build.sh" --modules-only "$BUILD" >"$TMP/build.log" 2>&1; then
		pass "cross build of the libraries and Windows modules ($(($(date +%s) - t0)) s)"
	else
		fail "cross build of the libraries and Windows modules (log follows)"
		tail -n 40 "$TMP/build.log"
	fi
	rm -f "$BUILD/bitsync.exe"
elif "$ROOT/packaging/windows/build.sh" "$BUILD" >"$TMP/build.log" 2>&1; then
	pass "cross build of bitsync.exe ($(($(date +%s) - t0)) s)"
else
	fail "cross build of bitsync.exe (log follows)"
	grep -E 'error|build.sh' "$TMP/build.log" | tail -n 40
	rm -f "$BUILD/bitsync.exe"
fi

# --- secure: sec_drive.exe alone (no nginx, no bitsync.exe) -------------------
if [ "$ONLY" = secure ]; then
	mapfile -t CFLAGS < <(grep -v '^$' "$BUILD/cflags.txt" 2>/dev/null)
	mapfile -t LIBS < <(grep -v '^$' "$BUILD/libs.txt" 2>/dev/null)
	XDRIVER=$BUILD/sec_drive.exe
	if [ ${#CFLAGS[@]} -gt 0 ] && x86_64-w64-mingw32-gcc "${CFLAGS[@]}" \
		-static -o "$XDRIVER" "$HERE/sec_drive.c" \
		"$ROOT/agent/win/platform_win.c" "$ROOT/agent/win/perm_win.c" \
		"$ROOT/agent/win/wincheck.c" "$ROOT/agent/win/winutil.c" \
		"$ROOT/agent/bits/bits.c" "$ROOT/agent/bits/bits_folder.c" \
	"$ROOT/agent/bits/bits_http.c" \
		"$ROOT/agent/win/sha256_win.c" \
		"$ROOT/agent/backend.c" "$ROOT/agent/diag.c" \
		"$ROOT/agent/util.c" "${LIBS[@]}" >"$TMP/xdriver.log" 2>&1; then
		pass "cross build of sec_drive.exe"
	else
		fail "cross build of sec_drive.exe"
		cat "$TMP/xdriver.log"
		finish
	fi
	t0=$(date +%s)
	if wine wineboot -i >"$TMP/wineboot.log" 2>&1 </dev/null && wineserver -w; then
		wineserver -p 2>/dev/null
		pass "wine prefix ($(($(date +%s) - t0)) s)"
	else
		fail "wine prefix (wineboot -i failed)"
		finish
	fi
	# The links a local user would plant (Wine cannot make a junction:
	# a unix symlink is what its file system shows as a reparse point).
	X=$TMP/xwork
	mkdir -p "$X/u1/elsewhere" "$X/u20" "$X/u13/elsewhere" "$X/rm/real" \
		"$X/bj/elsewhere"
	ln -s "$X/u1/elsewhere" "$X/u1/jn"
	printf 'another file' > "$X/u20/victim2.dat"
	ln -s "$X/u20/victim2.dat" "$X/u20/link.dat"
	ln -s "$X/u13/elsewhere" "$X/u13/jn"
	ln -s "$X/rm/real" "$X/rm/jn"
	head -c 4096 /dev/urandom > "$X/bj/src.bin"
	run_driver() {
		local tag=$1 exe=$2 line out
		out=$TMP/$tag.out
		shift 2
		timeout 120 wine "$exe" "$@" >"$out" 2>"$TMP/$tag.err" </dev/null
		while IFS= read -r line; do
			line=${line%$'\r'}
			case "$line" in
			"PASS "*) pass "$tag: ${line#PASS }" ;;
			"FAIL "*) fail "$tag: ${line#FAIL }" ;;
			"  # "*) echo "$line" ;;
			esac
		done < "$out"
		if ! tr -d '\r' < "$out" | grep -q '^[0-9]* passed, [0-9]* failed$'; then
			fail "$tag: $(basename "$exe") did not finish"
			tail -n 20 "$TMP/$tag.err"
		fi
	}
	# The driver asks for the BITS destination's swaps (want.N: "swap"
	# or "back") and waits for done.N: only this side can plant a link.
	(
		n=1
		while [ ! -f "$TMP/secure.over" ]; do
			if [ -f "$X/bj/want.$n" ]; then
				case $(cat "$X/bj/want.$n") in
				swap) mv "$X/bj/d" "$X/bj/d.old" &&
					ln -s "$X/bj/elsewhere" "$X/bj/d" ;;
				back) rm -f "$X/bj/d" && mv "$X/bj/d.old" "$X/bj/d" ;;
				esac
				: > "$X/bj/done.$n"
				n=$((n + 1))
			fi
			sleep 0.1
		done
	) &
	SWAPPER=$!
	run_driver secure "$XDRIVER" "$(winepath -w "$X")"
	: > "$TMP/secure.over"
	wait "$SWAPPER"
	finish
fi

# The driver links the Windows modules and the few core ones it needs.
mapfile -t CFLAGS < <(grep -v '^$' "$BUILD/cflags.txt" 2>/dev/null)
mapfile -t LIBS < <(grep -v '^$' "$BUILD/libs.txt" 2>/dev/null)
DRIVER=$BUILD/bits_drive.exe
if [ "$ONLY" = exe ] || [ "$ONLY" = msi ] || [ "$ONLY" = reconcile ]; then
	DRIVER=
elif [ ${#CFLAGS[@]} -gt 0 ] && x86_64-w64-mingw32-gcc "${CFLAGS[@]}" -static \
	-o "$DRIVER" "$HERE/bits_drive.c" "$ROOT/agent/bits/bits.c" \
	"$ROOT/agent/bits/bits_folder.c" "$ROOT/agent/bits/bits_http.c" \
	"$ROOT/agent/win/wincheck.c" \
	"$ROOT/agent/win/winutil.c" "$ROOT/agent/win/sha256_win.c" \
	"$ROOT/agent/backend.c" "$ROOT/agent/util.c" "${LIBS[@]}" \
	>"$TMP/driver.log" 2>&1; then
	pass "cross build of bits_drive.exe"
else
	fail "cross build of bits_drive.exe"
	cat "$TMP/driver.log"
	DRIVER=
fi

WDRIVER=$BUILD/win_drive.exe
if [ "$ONLY" = exe ] || [ "$ONLY" = msi ] || [ "$ONLY" = reconcile ]; then
	WDRIVER=
elif [ ${#CFLAGS[@]} -gt 0 ] && x86_64-w64-mingw32-gcc "${CFLAGS[@]}" -static \
	-o "$WDRIVER" "$HERE/win_drive.c" "$ROOT/agent/win/config_win.c" \
	"$ROOT/agent/config_keys.c" "$ROOT/agent/rsched.c" \
	"$ROOT/agent/win/platform_win.c" "$ROOT/agent/win/perm_win.c" \
	"$ROOT/agent/win/wincheck.c" "$ROOT/agent/win/winutil.c" \
	"$ROOT/agent/diag.c" "$ROOT/agent/util.c" \
	"${LIBS[@]}" >"$TMP/wdriver.log" 2>&1; then
	pass "cross build of win_drive.exe"
else
	fail "cross build of win_drive.exe"
	cat "$TMP/wdriver.log"
	WDRIVER=
fi

SDRIVER=$BUILD/svc_drive.exe
if [ "$ONLY" = exe ] || [ "$ONLY" = msi ]; then
	SDRIVER=
elif [ ${#CFLAGS[@]} -gt 0 ] && x86_64-w64-mingw32-gcc "${CFLAGS[@]}" -static \
	-o "$SDRIVER" "$HERE/svc_drive.c" "$ROOT/agent/win/service.c" \
	"$ROOT/agent/win/winutil.c" "$ROOT/agent/util.c" \
	"$BUILD/gen/bitsync_msg.o" "${LIBS[@]}" >"$TMP/sdriver.log" 2>&1; then
	pass "cross build of svc_drive.exe"
else
	fail "cross build of svc_drive.exe"
	cat "$TMP/sdriver.log"
	SDRIVER=
fi

# cmd_drive.exe: the on_change runner's Windows half (issue 13).
CDRIVER=$BUILD/cmd_drive.exe
if [ "$ONLY" != all ] && [ "$ONLY" != reconcile ]; then
	CDRIVER=
elif [ ${#CFLAGS[@]} -gt 0 ] && x86_64-w64-mingw32-gcc "${CFLAGS[@]}" -static \
	-o "$CDRIVER" "$HERE/cmd_drive.c" "$ROOT/agent/win/command_proc_win.c" \
	"$ROOT/agent/win/winutil.c" "$ROOT/agent/util.c" \
	"$BUILD/gen/bitsync_msg.o" "${LIBS[@]}" -lshell32 >"$TMP/cdriver.log" 2>&1; then
	pass "cross build of cmd_drive.exe"
else
	fail "cross build of cmd_drive.exe"
	cat "$TMP/cdriver.log"
	CDRIVER=
fi

# job_drive.exe: another program's view of the BITS jobs (reconcile checks).
JDRIVER=$BUILD/job_drive.exe
if [ "$ONLY" != all ] && [ "$ONLY" != reconcile ]; then
	JDRIVER=
elif [ ${#CFLAGS[@]} -gt 0 ] && x86_64-w64-mingw32-gcc "${CFLAGS[@]}" -static \
	-o "$JDRIVER" "$HERE/job_drive.c" "$ROOT/agent/bits/bits.c" "$ROOT/agent/bits/bits_folder.c" \
	"$ROOT/agent/bits/bits_http.c" \
	"$ROOT/agent/win/wincheck.c" \
	"$ROOT/agent/win/winutil.c" "$ROOT/agent/win/sha256_win.c" \
	"$ROOT/agent/backend.c" "$ROOT/agent/util.c" "${LIBS[@]}" \
	>"$TMP/jdriver.log" 2>&1; then
	pass "cross build of job_drive.exe"
else
	fail "cross build of job_drive.exe"
	cat "$TMP/jdriver.log"
	JDRIVER=
fi

# --- nginx on a free 127.0.0.1 port ----------------------------------------
WWW=$TMP/www
mkdir -p "$WWW" "$TMP/nginx/logs" "$TMP/nginx/tmp"
head -c 65536 /dev/urandom > "$WWW/a.bin"
printf 'bitsync under wine\r\n' > "$WWW/b.txt"
head -c $((8 * 1024 * 1024)) /dev/urandom > "$WWW/big.bin"
SHA_A=$(sha256sum "$WWW/a.bin" | cut -d' ' -f1)
SHA_B=$(sha256sum "$WWW/b.txt" | cut -d' ' -f1)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $TMP/nginx/logs/error.log;
pid $TMP/nginx/nginx.pid;
events { worker_connections 64; }
http {
	access_log $TMP/nginx/logs/access.log;
	client_body_temp_path $TMP/nginx/tmp/body;
	proxy_temp_path $TMP/nginx/tmp/proxy;
	fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
	uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
	scgi_temp_path $TMP/nginx/tmp/scgi;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$PORT;
		root $WWW;
		limit_rate_after 1m;
		limit_rate 4m;
		# the same files, slowly: an agent can be killed mid-transfer
		location /slow/ {
			alias $WWW/;
			limit_rate_after 0;
			limit_rate 512k;
		}
	}
}
CONF
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr" &
NGINX_PID=$!
for _ in $(seq 50); do
	curl -fsS -o /dev/null "http://127.0.0.1:$PORT/b.txt" 2>/dev/null && break
	sleep 0.1
done
BASE=http://127.0.0.1:$PORT

# --- a private Wine prefix --------------------------------------------------
t0=$(date +%s)
if wine wineboot -i >"$TMP/wineboot.log" 2>&1 </dev/null && wineserver -w; then
	wineserver -p 2>/dev/null	# keep one server (and its BITS jobs) for the run
	# start Wine's services now, with no pipe of ours to inherit; the
	# services it starts (bitsync's, --only reconcile) print their Event
	# Log records on the eventlog channel into services.log
	WINEDEBUG=-all,+eventlog wine cmd /c exit >"$TMP/services.log" 2>&1 </dev/null
	pass "wine prefix ($(($(date +%s) - t0)) s)"
else
	fail "wine prefix (wineboot -i failed)"
	tail -n 20 "$TMP/wineboot.log"
	finish
fi

# run_driver PREFIX EXE ARGS...: runs a test program under wine and folds
# its PASS/FAIL lines into this run's count.
run_driver() {
	local tag=$1 exe=$2 rc line out
	out=$TMP/$tag.out
	shift 2
	timeout 300 wine "$exe" "$@" >"$out" 2>"$TMP/$tag.err"
	rc=$?
	while IFS= read -r line; do
		line=${line%$'\r'}
		case "$line" in
		"PASS "*) pass "$tag: ${line#PASS }" ;;
		"FAIL "*) fail "$tag: ${line#FAIL }" ;;
		"  # "*) echo "$line" ;;
		esac
	done < "$out"
	if ! tr -d '\r' < "$out" | grep -q '^[0-9]* passed, [0-9]* failed$'; then
		fail "$tag: $(basename "$exe") did not finish (exit $rc)"
		tail -n 20 "$TMP/$tag.err"
	fi
}

# --- the backend driver and the Windows modules -------------------------------
if [ -n "$DRIVER" ]; then
	WORK=$TMP/work
	mkdir -p "$WORK"
	run_driver bits "$DRIVER" "$BASE" "$(winepath -w "$WORK")" "$SHA_A" "$SHA_B"
	# an agent restart: a new process adopts the job the last one left
	run_driver bits-restart1 "$DRIVER" --leave "$BASE" "$(winepath -w "$WORK")"
	run_driver bits-restart2 "$DRIVER" --adopt "$(winepath -w "$WORK")" "$SHA_B"
fi
if [ -n "$WDRIVER" ]; then
	mkdir -p "$TMP/wwork"
	run_driver win "$WDRIVER" "$(winepath -w "$TMP/wwork")"
fi
if [ -n "$SDRIVER" ] && [ "$ONLY" != reconcile ]; then
	run_driver service "$SDRIVER" test
fi
if [ -n "$CDRIVER" ]; then
	mkdir -p "$TMP/cwork"
	run_driver on_change "$CDRIVER" test "$(winepath -w "$TMP/cwork")"
fi

# --- bitsync.exe --------------------------------------------------------------
# wexe ARGS...: runs bitsync.exe, output to a file (never a pipe: Wine's
# helper processes would inherit it and hold it open), sets out and rc.
wexe() {
	wine "$EXE" "$@" >"$TMP/wexe.out" 2>&1 </dev/null
	rc=$?
	out=$(tr -d '\r' < "$TMP/wexe.out")
}

EXE=$BUILD/bitsync.exe
if [ "$ONLY" != msi ] && [ "$ONLY" != reconcile ] && [ -f "$EXE" ]; then
	wexe version
	if [ $rc -eq 0 ] && echo "$out" | grep -q '[0-9]\.[0-9]'; then
		pass "bitsync.exe version: $out"
	else
		fail "bitsync.exe version: exit $rc: $out"
	fi
	# Each sample (and drop-in directory) gives the same verdict, exit code
	# and diagnostics under Windows as the native binary for the same
	# --platform (BITSYNC_NATIVE, default build/bitsync; without it, each
	# sample must at least be valid for one platform).
	NATIVE=${BITSYNC_NATIVE:-$ROOT/build/bitsync}
	# The native binary validates as a Linux host joined to a domain (the
	# rules fixtures' test keytab): rule anonymous-computer depends on
	# this machine's /etc/krb5.keytab, which bitsync.exe never reads.
	NCFG=$TMP/native.ini
	printf '[agent]\nmachine_keytab = %s\n' \
		"$ROOT/tests/rules/machine.keytab" >"$NCFG"
	chmod 0644 "$NCFG"
	# Both binaries read a copy in C:\samples: Windows has no sticky bit,
	# so under Wine a checkout below /tmp has an ancestor Everyone may
	# write, and bitsync.exe rightly warns where the native one does not.
	SAMPLES=$WINEPREFIX/drive_c/samples
	rm -rf "$SAMPLES"
	mkdir -p "$SAMPLES"
	cp -r "$ROOT"/samples/*.yaml "$ROOT"/samples/*.d "$SAMPLES"/
	chmod -R go-w "$SAMPLES"
	for f in "$SAMPLES"/*.yaml "$SAMPLES"/*.d; do
		[ -e "$f" ] || continue
		wf=$(winepath -w "$f")
		ok_any=0
		for plat in windows posix; do
			wexe validate --platform $plat "$wf"
			[ $rc -eq 0 ] && ok_any=1
			if [ -x "$NATIVE" ]; then
				nout=$("$NATIVE" -c "$NCFG" validate --platform $plat "$f" 2>&1)
				nrc=$?
				# paths differ (Z:\... vs /...): compare what follows them
				# shellcheck disable=SC2001  # one sed for every line
				# and so do the places the config is read from (a file
				# there, the registry here)
				a=$(echo "$out" | sed -e 's/^[^ ]*:[0-9]*:[0-9]*: //' \
					-e 's/agent config [^ ]* does/agent config CONFIG does/')
				b=$(echo "$nout" | sed -e 's/^[^ ]*:[0-9]*:[0-9]*: //' \
					-e 's/agent config [^ ]* does/agent config CONFIG does/')
				if [ $rc -eq $nrc ] && [ "$a" = "$b" ]; then
					pass "validate --platform $plat $(basename "$f"): exit $rc, as native"
				else
					fail "validate --platform $plat $(basename "$f"): exit $rc vs native $nrc"
					diff <(echo "$b") <(echo "$a") | head -n 10
				fi
			fi
		done
		if [ ! -x "$NATIVE" ]; then
			if [ $ok_any = 1 ]; then
				pass "validate $(basename "$f"): valid for its platform"
			else
				fail "validate $(basename "$f"): invalid for both platforms"
			fi
		fi
	done
	# The GPO sample runs its installer script through on_change, so
	# it is valid on a host whose owner allows commands (its "# config:"
	# line says so), as the native run's config does.
	wine reg add 'HKLM\Software\bitsync\agent' /v allow_commands \
		/t REG_DWORD /d 1 /f >/dev/null 2>&1 </dev/null
	wexe validate --format json --platform windows \
		"$(winepath -w "$SAMPLES/gpo-installers.yaml")"
	wine reg delete 'HKLM\Software\bitsync\agent' /v allow_commands \
		/f >/dev/null 2>&1 </dev/null
	if echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["valid"] is True and d["diagnostics"]==[] else 1)'; then
		pass "validate --format json"
	else
		fail "validate --format json: $out"
	fi
	wexe run extra-argument
	if [ $rc -eq 64 ] && echo "$out" | grep -q 'takes no arguments'; then
		pass "run with an argument is a usage error (64)"
	else
		fail "run extra-argument: exit $rc: $out"
	fi
	bad=$TMP/bad.yaml
	printf 'version: 2\nsources: {}\nsets: []\n' > "$bad"
	wexe validate "$(winepath -w "$bad")"
	if [ $rc -eq 1 ] && echo "$out" | grep -q '\[version\]'; then
		pass "validate of an invalid manifest exits 1 with [version]"
	else
		fail "validate of an invalid manifest: exit $rc: $out"
	fi
	wexe validate --no-such-flag
	if [ $rc -eq 64 ]; then
		pass "usage error exits 64"
	else
		fail "usage error: exit $rc: $out"
	fi
	# Design §3: a drive that allow_drives lists must also be a local
	# fixed volume on the host (GetDriveTypeW): C: is one under Wine, Q:
	# is not present.  Only validation for the host itself checks it.
	DKEY='HKCU\Software\bitsync-wine-drives'
	wine reg add "$DKEY\agent" /v allow_drives /d 'C,Q' /f \
		>/dev/null 2>&1 </dev/null
	drv=$WINEPREFIX/drive_c/samples/drives.yaml
	cat > "$drv" <<'YAML'
version: 1
sources:
  web:
    url: https://downloads.example.com/pkgs/
    proxy: {usage: no_proxy}
sets:
  - name: on-c
    source: web
    destination: C:\data\on-c
    files: [a.msi]
  - name: on-q
    source: web
    destination: Q:\data\on-q
    files: [a.msi]
YAML
	chmod go-w "$drv"
	wexe -c "$DKEY" validate "$(winepath -w "$drv")"
	if [ $rc -eq 1 ] && [ "$(echo "$out" | grep -c 'no-drive-letter')" = 1 ] &&
		echo "$out" | grep -q "drive Q: is not a local fixed volume on this host (not present)"; then
		pass "validate: an allowed drive that is not a fixed volume (Q:) is refused, C: is not"
	else
		fail "validate: drive check: exit $rc: $out"
	fi
	wexe -c "$DKEY" validate --platform posix "$(winepath -w "$drv")"
	if [ $rc -eq 1 ] && ! echo "$out" | grep -q "fixed volume"; then
		pass "validate --platform posix: no host drive check for another platform"
	else
		fail "validate --platform posix: drive check ran: exit $rc: $out"
	fi
	wine reg delete "$DKEY" /f >/dev/null 2>&1 </dev/null
fi


# --- bitsync.msi ---------------------------------------------------------------
# wreg KEY [ARGS...]: `reg query` under Wine, output in $TMP/wreg.out (a
# file, as for wexe), status in rc.
wreg() {
	wine reg query "$@" >"$TMP/wreg.out" 2>&1 </dev/null
	rc=$?
	out=$(tr -d '\r' < "$TMP/wreg.out")
}
# products: the Uninstall entries whose DisplayName is bitsync, one
# "ProductCode DisplayVersion" line each.
products() {
	local k
	wreg 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall'
	for k in $(echo "$out" | grep -o '{[0-9A-F-]*}$'); do
		wreg "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\$k"
		echo "$out" | grep -q 'DisplayName[[:space:]]*REG_SZ[[:space:]]*bitsync$' &&
			echo "$k $(echo "$out" | sed -n 's/.*DisplayVersion[[:space:]]*REG_SZ[[:space:]]*//p')"
	done
}
# msirow TABLE REGEX WHAT: a row of TABLE (msiinfo export, tab-separated)
# matches the extended REGEX.
msirow() {
	if msiinfo export "$MSI" "$1" 2>/dev/null | tr -d '\r' | grep -Eq "$2"; then
		pass "msi table $1: $3"
	else
		fail "msi table $1: $3 (no row matches $2)"
		msiinfo export "$MSI" "$1" 2>&1 | tail -n +4 | head -n 10
	fi
}

MSI=$BUILD/bitsync.msi
if { [ "$ONLY" = msi ] || [ "$ONLY" = all ]; } && [ ! -f "$MSI" ]; then
	fail "bitsync.msi was not built (see the cross build above)"
elif [ "$ONLY" = msi ] || [ "$ONLY" = all ]; then
	T=$'\t'
	tables=$(msiinfo tables "$MSI" 2>&1 | tr '\n' ' ')
	missing=
	for t in File Component Directory CreateFolder ServiceInstall \
		ServiceControl Registry Upgrade MsiLockPermissionsEx \
		MsiServiceConfigFailureActions CustomAction; do
		case " $tables " in *" $t "*) ;; *) missing="$missing $t" ;; esac
	done
	if [ -z "$missing" ]; then
		pass "msi tables: File, Directory, ServiceInstall, ServiceControl, Registry, Upgrade, MsiLockPermissionsEx, MsiServiceConfigFailureActions, CustomAction"
	else
		fail "msi tables: missing$missing (has: $tables)"
	fi
	msirow File "^bitsync\.exe${T}Agent${T}bitsync\.exe${T}[0-9]+${T}" \
		"bitsync.exe in component Agent"
	# the failure actions of `bitsync service install` (agent/win/service.h):
	# restart after 60 s twice, then nothing; the count resets after a day
	msirow MsiServiceConfigFailureActions "^AgentFailureActions${T}bitsync${T}5${T}86400${T}${T}${T}1\[~\]1\[~\]0${T}60000\[~\]60000\[~\]60000${T}Agent$" \
		"failure actions: restart, restart, none, 60 s apart, reset after 86400 s (as service install)"
	msirow InstallExecuteSequence "^MsiConfigureServices${T}VersionNT${T}5850$" \
		"MsiConfigureServices runs (after InstallServices 5800)"
	msirow CustomAction "^ConfigureAgentService${T}3090${T}bitsync\.exe${T}service configure${T}?$" \
		"custom action: the installed bitsync.exe service configure, deferred, as LocalSystem"
	msirow InstallExecuteSequence "^ConfigureAgentService${T}VersionNT AND NOT \(REMOVE~=\"ALL\"\)${T}5860$" \
		"service configure runs after InstallServices, not on removal"
	msirow File "^manifest\.schema\.json${T}Schema${T}manifest\.schema\.json${T}" \
		"the JSON Schema in component Schema"
	for ex in gpo-installers https-proxy helper-token-share; do
		msirow File "^${ex//-/_}\.yaml${T}Examples${T}${ex}\.yaml${T}" "example $ex.yaml"
	done
	msirow Directory "^SCHEMADIR${T}INSTALLDIR${T}schema$" "schema in Program Files\\bitsync\\schema"
	msirow Directory "^EXAMPLESDIR${T}INSTALLDIR${T}examples$" "examples in Program Files\\bitsync\\examples"
	msirow Component "^Agent${T}\{[0-9A-F-]+\}${T}INSTALLDIR${T}256${T}${T}bitsync\.exe$" \
		"Agent: 64-bit, in INSTALLDIR, keyed by bitsync.exe"
	msirow Directory "^INSTALLDIR${T}ProgramFiles64Folder${T}bitsync$" \
		"INSTALLDIR is Program Files\\bitsync"
	msirow Directory "^DATADIR${T}CommonAppDataFolder${T}bitsync$" \
		"DATADIR is %ProgramData%\\bitsync"
	msirow Directory "^MANIFESTDIR${T}DATADIR${T}manifest\.d$" \
		"MANIFESTDIR is DATADIR\\manifest.d"
	msirow CreateFolder "^MANIFESTDIR${T}ManifestDir$" "manifest.d is created"
	msirow ServiceInstall "^AgentService${T}bitsync${T}[^$T]*${T}16${T}2${T}1${T}${T}BITS\[~\]\[~\]${T}${T}${T}run --service${T}Agent${T}" \
		"service bitsync: own process, automatic, after BITS, LocalSystem, run --service"
	msirow ServiceControl "^AgentServiceControl${T}bitsync${T}162${T}" \
		"stopped on install and uninstall, deleted on uninstall"
	msirow Registry "^[^$T]+${T}2${T}SYSTEM\\\\CurrentControlSet\\\\Services\\\\EventLog\\\\Application\\\\bitsync\\\\?${T}EventMessageFile${T}\[#bitsync\.exe\]${T}Agent$" \
		"Event Log source: EventMessageFile is bitsync.exe"
	msirow Registry "${T}TypesSupported${T}#7${T}Agent$" "Event Log source: TypesSupported 7"
	msirow Upgrade "^\{C151503B-BBD5-4E94-B6DA-E945C4855B90\}${T}${T}[0-9.]+${T}" \
		"MajorUpgrade: older versions of the fixed UpgradeCode are removed"
	msirow MsiLockPermissionsEx "^LockDataDir${T}DATADIR${T}CreateFolder${T}D:PAI\(A;OICI;FA;;;SY\)\(A;OICI;FA;;;BA\)" \
		"%ProgramData%\\bitsync: protected DACL, SYSTEM and Administrators only"

	PF="$WINEPREFIX/drive_c/Program Files/bitsync"
	PD="$WINEPREFIX/drive_c/ProgramData/bitsync"
	t0=$(date +%s)
	wine msiexec /i "$(winepath -w "$MSI")" /qn /l*v "$(winepath -w "$TMP/msi-install.log")" \
		>"$TMP/msiexec.out" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "msiexec /i bitsync.msi /qn exits 0 ($(($(date +%s) - t0)) s)"
	else
		fail "msiexec /i bitsync.msi /qn: exit $rc"
		tr -d '\r' < "$TMP/msi-install.log" 2>/dev/null | grep -iE 'error|return value 3' | head -n 20
	fi
	EXE=$PF/bitsync.exe
	if [ -f "$EXE" ]; then
		wexe version
		if [ $rc -eq 0 ] && echo "$out" | grep -q '^bitsync [0-9]'; then
			pass "installed Program Files\\bitsync\\bitsync.exe runs: $out"
		else
			fail "installed bitsync.exe version: exit $rc: $out"
		fi
	else
		fail "Program Files\\bitsync\\bitsync.exe was not installed"
	fi
	if [ -d "$PD/manifest.d" ]; then
		pass "%ProgramData%\\bitsync\\manifest.d created"
	else
		fail "%ProgramData%\\bitsync\\manifest.d missing"
	fi
	wine sc query bitsync >"$TMP/sc.out" 2>&1 </dev/null
	rc=$?
	out=$(tr -d '\r' < "$TMP/sc.out")
	if [ $rc -eq 0 ] && echo "$out" | grep -q 'SERVICE_NAME: bitsync' &&
		echo "$out" | grep -q 'STOPPED'; then
		pass "the SCM knows service bitsync (sc query: registered, not started)"
	else
		fail "sc query bitsync: exit $rc: $out"
	fi
	wreg 'HKLM\SYSTEM\CurrentControlSet\Services\bitsync'
	# exactly: the path quoted (unquoted, "C:\Program Files\..." is the
	# unquoted-service-path hole), as `bitsync service install` writes it
	if echo "$out" | grep -qxE '    ImagePath    REG_(EXPAND_)?SZ    "C:\\Program Files\\bitsync\\bitsync\.exe" run --service' &&
		echo "$out" | grep -q 'Start[[:space:]]*REG_DWORD[[:space:]]*0x2$' &&
		echo "$out" | grep -q 'DependOnService[[:space:]]*REG_MULTI_SZ[[:space:]]*BITS$'; then
		pass "service config: ImagePath \"C:\\Program Files\\bitsync\\bitsync.exe\" run --service (quoted), automatic, after BITS"
	else
		fail "service config: $out"
	fi
	if cmp -s "$PF/schema/manifest.schema.json" "$ROOT/schema/manifest.schema.json" &&
		cmp -s "$PF/examples/gpo-installers.yaml" "$ROOT/samples/gpo-installers.yaml" &&
		[ -f "$PF/examples/https-proxy.yaml" ] && [ -f "$PF/examples/helper-token-share.yaml" ]; then
		pass "schema and examples installed: Program Files\\bitsync\\schema, examples (modeline ../schema/ finds it)"
	else
		fail "schema/examples not installed as shipped: $(find "$PF" 2>&1 | tr '\n' ' ')"
	fi
	wreg 'HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\bitsync'
	if [ $rc -eq 0 ] && echo "$out" | grep -q 'EventMessageFile.*\\bitsync\\bitsync\.exe$'; then
		pass "Event Log source registered (EventMessageFile is the installed bitsync.exe)"
	else
		fail "Event Log source: exit $rc: $out"
	fi
	p1=$(products)
	if [ "$(echo "$p1" | grep -c .)" -eq 1 ]; then
		pass "one product registered: $p1"
	else
		fail "products after install: '$p1'"
	fi

	# A newer version upgrades in place: the same exe, ProductVersion
	# one patch level up, built as build.sh builds the real one.
	cur=$(msiinfo export "$MSI" Property | tr -d '\r' | sed -n 's/^ProductVersion\t//p')
	newer=$(echo "$cur" | awk -F. '{ printf "%d.%d.%d", $1, $2, $3 + 1 }')
	mkdir -p "$TMP/msi-up"
	cp "$BUILD/bitsync.exe" "$TMP/msi-up/"
	echo 'version: 1' > "$PD/manifest.d/10-admin.yaml"	# the admin's, kept
	if "$ROOT/packaging/windows/msi/build-msi.sh" "$TMP/msi-up" "$newer" \
		>"$TMP/msi-up.log" 2>&1; then
		wine msiexec /i "$(winepath -w "$TMP/msi-up/bitsync.msi")" /qn \
			>"$TMP/msiexec.out" 2>&1 </dev/null
		rc=$?
		p2=$(products)
		if [ $rc -eq 0 ] && [ "$(echo "$p2" | grep -c .)" -eq 1 ] &&
			echo "$p2" | grep -q " $newer$" && [ "$p2" != "$p1" ] &&
			[ -f "$EXE" ] && [ -f "$PD/manifest.d/10-admin.yaml" ]; then
			pass "msiexec /i of $newer upgrades $cur in place: one product ($p2), manifests kept"
		else
			fail "upgrade to $newer: exit $rc, products '$p2' (before '$p1')"
		fi
	else
		fail "building the $newer MSI for the upgrade"
		cat "$TMP/msi-up.log"
	fi

	wine msiexec /x "$(winepath -w "$TMP/msi-up/bitsync.msi")" /qn \
		>"$TMP/msiexec.out" 2>&1 </dev/null
	rc=$?
	gone=1
	[ -e "$EXE" ] && gone=0
	wine sc query bitsync >"$TMP/sc.out" 2>&1 </dev/null && gone=0
	wreg 'HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\bitsync'
	[ $rc -eq 0 ] && gone=0
	[ -n "$(products)" ] && gone=0
	if [ $gone = 1 ] && [ -f "$PD/manifest.d/10-admin.yaml" ]; then
		pass "msiexec /x removes bitsync.exe, the service, the Event Log source and the product (the admin's manifests stay)"
	else
		fail "msiexec /x: exe $( [ -e "$EXE" ] && echo present || echo gone), products '$(products)'"
	fi
fi

# --- bitsync.exe plan / apply / status against Wine's BITS ----------------------
# The agent's settings in a registry key of the test's own (-c), its files
# under C:\bsr.  HTTP sources need a proxy decision on Windows, and Wine's
# BITS answers SetProxySettings with E_NOTIMPL: the test host tolerates
# that call by name (bits_tolerate_unimplemented, never for real Windows).
# No sha256 in these manifests: Wine has no IBackgroundCopyFile3, so a
# hash cannot be verified before Complete (checked below as a clear
# per-set error); the content is compared with Linux's sha256sum instead.
RKEY='HKCU\Software\bitsync-wine-reconcile'
RDIR=$WINEPREFIX/drive_c/bsr
wrc() { wexe -c "$RKEY" "$@"; }
# bjobs NAME: job_drive.exe's lines for bitsync:NAME into $jl
bjobs() {
	wine "$JDRIVER" list "$1" >"$TMP/jobs.out" 2>&1 </dev/null
	jl=$(tr -d '\r' < "$TMP/jobs.out")
}
# manifest FILE SOURCE URL SET DEST FILES...: one set from one source
manifest() {
	local f=$1 src=$2 url=$3 set=$4 dest=$5
	shift 5
	{
		echo "version: 1"
		echo "sources:"
		echo "  $src:"
		echo "    url: $url"
		echo "    proxy: {usage: no_proxy}"
		echo "sets:"
		echo "  - name: $set"
		echo "    source: $src"
		echo "    destination: '$dest'"
		echo "    files: [$(IFS=,; echo "$*")]"
	} > "$RDIR/manifests/$f"
}
sha_of() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

if [ -f "$EXE" ] && [ -n "$JDRIVER" ] && { [ "$ONLY" = all ] || [ "$ONLY" = reconcile ]; }; then
	mkdir -p "$RDIR/manifests" "$WWW/sub"
	cp "$WWW/b.txt" "$WWW/sub/b.txt"
	chmod 755 "$WWW/sub"
	for v in 'manifest_dir C:\bsr\manifests' 'state_dir C:\bsr\state' \
		'status_file C:\bsr\status.json' 'allow_drives C'; do
		wine reg add "$RKEY\\agent" /v "${v%% *}" /d "${v#* }" /f \
			>/dev/null 2>&1 </dev/null
	done
	wine reg add "$RKEY\\agent" /v bits_tolerate_unimplemented \
		/t REG_MULTI_SZ /d SetProxySettings /f >/dev/null 2>&1 </dev/null

	# a set never applied: plan says what it would do, exit 2
	manifest 10-app.yaml web1 "$BASE/" app 'C:\bsr\dest\app' a.bin sub/b.txt
	wrc plan --detailed-exitcode
	if [ $rc -eq 2 ] && echo "$out" | grep -q '+ app: create'; then
		pass "reconcile: plan --detailed-exitcode exits 2 before the first apply"
	else
		fail "reconcile: plan --detailed-exitcode: exit $rc: $out"
	fi
	t0=$(date +%s.%N)
	wrc apply --wait --timeout 120s
	t1=$(date +%s.%N)
	if [ $rc -eq 0 ] && echo "$out" | grep -q 'set=app job=.* completed files=2 result=in-sync'; then
		pass "reconcile: apply --wait exits 0, the job completed ($(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s)"
	else
		fail "reconcile: apply --wait: exit $rc: $out"
	fi
	if echo "$out" | grep -q 'SetProxySettings'; then
		pass "reconcile: the tolerated SetProxySettings E_NOTIMPL is logged for the set"
	else
		fail "reconcile: no warning about the tolerated SetProxySettings: $out"
	fi
	if [ "$(sha_of "$RDIR/dest/app/a.bin")" = "$SHA_A" ] &&
		[ "$(sha_of "$RDIR/dest/app/sub/b.txt")" = "$SHA_B" ]; then
		pass "reconcile: the destination files have the served content (sha256)"
	else
		# shellcheck disable=SC2012  # a listing for the reader
		fail "reconcile: destination content: $(ls -lR "$RDIR/dest" 2>&1 | head -n 10)"
	fi
	wrc plan --detailed-exitcode
	if [ $rc -eq 0 ] && echo "$out" | grep -q '1 in sync'; then
		pass "reconcile: plan --detailed-exitcode exits 0 after apply"
	else
		fail "reconcile: plan after apply: exit $rc: $out"
	fi
	# backends[] (agent/backends.c): bitsync.exe carries BITS only; a
	# config naming the engine is refused, not served by BITS silently.
	wine reg add "$RKEY\\agent" /v backend /d engine /f >/dev/null 2>&1 </dev/null
	wrc plan
	if [ $rc -eq 69 ] && echo "$out" | grep -q 'backend = engine is not available on Windows'; then
		pass "reconcile: backend = engine is refused on Windows (exit 69, a sentence)"
	else
		fail "reconcile: backend = engine: exit $rc: $out"
	fi
	wine reg delete "$RKEY\\agent" /v backend /f >/dev/null 2>&1 </dev/null
	wrc status --format json
	if [ $rc -eq 0 ] && echo "$out" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
s = {x["name"]: x for x in d["sets"]}
sys.exit(0 if d["summary"]["in_sync"] == d["summary"]["sets"] == 1 and
         s["app"]["state"] == "in-sync" and s["app"]["last_success"] > 0 and
         s["app"]["manifest_file"] == "C:\\bsr\\manifests\\10-app.yaml" else 1)'; then
		pass "reconcile: status --format json parses and shows the set in sync"
	else
		fail "reconcile: status --format json: exit $rc: $out"
	fi

	# a file that 404s, and a sha256 this host cannot verify: apply fails
	# and says why, status keeps the error with its context and code
	{
		echo "version: 1"
		echo "sources:"
		echo "  web2:"
		echo "    url: $BASE/"
		echo "    proxy: {usage: no_proxy}"
		echo "sets:"
		echo "  - name: missing"
		echo "    source: web2"
		printf '%s\n' "    destination: 'C:\\bsr\\dest\\missing'"
		echo "    files: [nope.bin]"
		echo "  - name: hashed"
		echo "    source: web2"
		printf '%s\n' "    destination: 'C:\\bsr\\dest\\hashed'"
		echo "    files: [{path: a.bin, sha256: $SHA_A}]"
	} > "$RDIR/manifests/20-bad.yaml"
	wrc apply --wait --timeout 60s
	if [ $rc -ne 0 ] && echo "$out" | grep -q 'set=missing job=.* error=".*404'; then
		pass "reconcile: a set whose file 404s: apply exits $rc and logs the 404"
	else
		fail "reconcile: 404 set: exit $rc: $out"
	fi
	if echo "$out" | grep -q 'set=hashed result=failed.*IBackgroundCopyFile3' &&
		[ ! -e "$RDIR/dest/hashed/a.bin" ]; then
		pass "reconcile: a sha256 Wine's BITS cannot verify is a clear per-set error, nothing placed"
	else
		fail "reconcile: sha256 set: $out"
	fi
	wrc status --format json
	if [ $rc -eq 1 ] && echo "$out" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
s = {x["name"]: x for x in d["sets"]}
m = s["missing"]
e = (m.get("job") or {}).get("error") or {}
sys.exit(0 if m["state"] == "waiting-to-retry" and m["attempts"] >= 1 and
         "404" in m["last_error"] and e.get("context") == "REMOTE_FILE" and
         e.get("code") == "0x80190194" and s["app"]["state"] == "in-sync"
         else 1)'; then
		pass "reconcile: status shows the 404 with context REMOTE_FILE and code 0x80190194, waiting to retry"
	else
		fail "reconcile: status after the 404: exit $rc: $out"
	fi
	rm -f "$RDIR/manifests/20-bad.yaml"
	wrc apply
	bjobs missing
	if [ $rc -eq 0 ] && echo "$jl" | grep -q '^COUNT 0$'; then
		pass "reconcile: the failed set's job is cancelled once the set is no longer declared"
	else
		fail "reconcile: orphan cancel: exit $rc: $out / $jl"
	fi

	# a foreign job named like one of ours is left alone
	wine "$JDRIVER" foreign "$BASE/b.txt" 'C:\bsr\foreign\b.txt' app2 \
		>"$TMP/foreign.out" 2>&1 </dev/null
	fguid=$(tr -d '\r' < "$TMP/foreign.out" | sed -n 's/^GUID //p')
	manifest 30-app2.yaml web3 "$BASE/" app2 'C:\bsr\dest\app2' b.txt
	wrc apply --wait --timeout 60s
	arc=$rc
	aout=$out
	bjobs app2
	if [ -n "$fguid" ] && [ $arc -eq 0 ] &&
		[ "$(sha_of "$RDIR/dest/app2/b.txt")" = "$SHA_B" ] &&
		echo "$jl" | grep -q "^JOB $fguid SUSPENDED foreign 0 " &&
		echo "$jl" | grep -q '^COUNT 1$' &&
		! echo "$aout" | grep -q "$fguid"; then
		pass "reconcile: a foreign job named bitsync:app2 is left alone (still SUSPENDED, never touched) while the set gets its own"
	else
		fail "reconcile: foreign job $fguid: apply exit $arc: $aout / $jl"
	fi

	# a set larger than BITS's MaxFilesPerJob (its Group Policy value,
	# set to 2 here; Wine's BITS enforces no limit, bitsync reads the
	# value as on Windows): five files on three jobs of one group,
	# bitsync:split, #2, #3, completed together and reported as one set
	BPOL='HKLM\SOFTWARE\Policies\Microsoft\Windows\BITS'
	wine reg add "$BPOL" /v MaxFilesPerJob /t REG_DWORD /d 2 /f \
		>/dev/null 2>&1 </dev/null
	for i in 1 2 3 4 5; do
		head -c $((1000 * i)) /dev/urandom > "$WWW/split$i.bin"
		chmod 644 "$WWW/split$i.bin"
	done
	manifest 35-split.yaml web4 "$BASE/" split 'C:\bsr\dest\split' \
		split1.bin split2.bin split3.bin split4.bin split5.bin
	wrc apply
	sjobs=""
	for n in split 'split#2' 'split#3' 'split#4'; do
		bjobs "$n"
		sjobs="$sjobs $n:$(echo "$jl" | sed -n 's/^COUNT //p')"
	done
	if [ "$sjobs" = " split:1 split#2:1 split#3:1 split#4:0" ]; then
		pass "reconcile: 5 files with MaxFilesPerJob 2 make three BITS jobs (bitsync:split, #2, #3)"
	else
		fail "reconcile: split jobs:$sjobs: $out"
	fi
	wrc apply --wait --timeout 60s
	arc=$rc
	aout=$out
	sok=1
	for i in 1 2 3 4 5; do
		[ "$(sha_of "$RDIR/dest/split/split$i.bin")" = "$(sha_of "$WWW/split$i.bin")" ] || sok=0
	done
	sjobs=""
	for n in split 'split#2' 'split#3'; do
		bjobs "$n"
		sjobs="$sjobs$(echo "$jl" | sed -n 's/^COUNT //p')"
	done
	if [ $arc -eq 0 ] && [ $sok -eq 1 ] && [ "$sjobs" = 000 ] &&
		echo "$aout" | grep -q 'set=split job=.* completed files=5 result=in-sync'; then
		pass "reconcile: the three jobs complete as one set of 5 files, every file right, no job left"
	else
		fail "reconcile: split set: exit $arc jobs $sjobs files $sok: $aout"
	fi
	wrc status --format json
	if echo "$out" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
s = [x for x in d["sets"] if x["name"].startswith("split")]
sys.exit(0 if len(s) == 1 and s[0]["state"] == "in-sync" else 1)'; then
		pass "reconcile: status shows one set split, in sync"
	else
		fail "reconcile: status of the split set: $out"
	fi
	rm -f "$RDIR/manifests/35-split.yaml"
	wine reg delete "$BPOL" /v MaxFilesPerJob /f >/dev/null 2>&1 </dev/null

	# the agent killed mid-transfer: the next apply adopts the job
	manifest 40-big.yaml slow "$BASE/slow/" big 'C:\bsr\dest\big' big.bin
	: > "$TMP/nginx/logs/access.log"
	wine "$EXE" -c "$RKEY" apply --wait --timeout 120s >"$TMP/apply1.out" 2>&1 </dev/null &
	apid=$!
	b1=0
	for _ in $(seq 120); do
		sleep 0.5
		bjobs big
		b1=$(echo "$jl" | awk '$1 == "JOB" && $3 == "TRANSFERRING" { print $5 }')
		[ -n "$b1" ] && [ "$b1" -gt 0 ] && break
	done
	guid1=$(echo "$jl" | awk '$1 == "JOB" { print $2 }')
	# SIGKILL, not a cancel: the job must outlive the agent (and
	# cancelling a job mid-transfer crashes Wine's BITS service)
	kill -9 "$apid" 2>/dev/null
	wait "$apid" 2>/dev/null
	sleep 1
	bjobs big
	b2=$(echo "$jl" | awk '$1 == "JOB" { print $5 }')
	if [ -n "$b1" ] && [ "$b1" -gt 0 ] && echo "$jl" | grep -q '^COUNT 1$' &&
		echo "$jl" | grep -q "^JOB $guid1 \(TRANSFERRING\|QUEUED\|CONNECTING\) own" &&
		[ "$b2" -ge "$b1" ] && [ "$b2" -lt 8388608 ]; then
		pass "reconcile: agent killed mid-transfer ($b1 bytes): its job goes on in BITS ($b2 bytes), one job"
	else
		fail "reconcile: after the kill: b1=$b1 b2=$b2: $jl / $(tr -d '\r' < "$TMP/apply1.out")"
	fi
	wrc apply --wait --timeout 120s
	arc=$rc
	aout=$out
	bjobs big
	gets=$(grep -c 'GET /slow/big.bin' "$TMP/nginx/logs/access.log")
	if [ $arc -eq 0 ] && echo "$aout" | grep -q "set=big job=$guid1 completed" &&
		! echo "$aout" | grep -q 'set=big job=.* created' &&
		[ "$(sha_of "$RDIR/dest/big/big.bin")" = "$(sha_of "$WWW/big.bin")" ]; then
		pass "reconcile: the restarted agent adopts job $guid1 (no new job) and completes it with the right content"
	else
		fail "reconcile: restart: exit $arc: $aout"
	fi
	if [ "$gets" -eq 1 ] && grep 'GET /slow/big.bin' "$TMP/nginx/logs/access.log" |
		grep -q '" 200 8388608 '; then
		pass "reconcile: not restarted from zero: one GET of big.bin served the whole file across the restart"
	else
		fail "reconcile: big.bin requests: $(grep 'big.bin' "$TMP/nginx/logs/access.log")"
	fi

	# run in the console: a manifest dropped into the folder is applied.
	# Its Event Log records: Wine's ReportEventW keeps none (ReadEventLog
	# is a stub) but prints each record's string on the eventlog channel
	# (err: an error record, warn: a warning, trace: information), and
	# the record's id on advapi's fixme line just before.
	rm -f "$RDIR/status.json"
	WINEDEBUG=-all,+eventlog,fixme+advapi \
		wine "$EXE" -c "$RKEY" run >"$TMP/run.out" 2>&1 </dev/null &
	rpid=$!
	for _ in $(seq 100); do
		[ -f "$RDIR/status.json" ] && break
		sleep 0.1
	done
	if [ -f "$RDIR/status.json" ] && kill -0 "$rpid" 2>/dev/null; then
		pass "run: the console run starts and writes status_file"
	else
		fail "run: no status_file: $(tr -d '\r' < "$TMP/run.out")"
	fi
	# apply beside it asks the agent over its control pipe: a set added
	# just before is in sync when apply --wait returns
	manifest 45-beside.yaml web4 "$BASE/" beside 'C:\bsr\dest\beside' sub/b.txt
	t0=$(date +%s.%N)
	wrc apply --wait --timeout 60s
	t1=$(date +%s.%N)
	if [ $rc -eq 0 ] && echo "$out" | grep -q 'by the daemon' &&
		[ "$(sha_of "$RDIR/dest/beside/sub/b.txt")" = "$SHA_B" ]; then
		pass "run: apply --wait beside it asks the agent over the control pipe: exit 0, the new set in sync ($(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s)"
	else
		fail "run: apply beside run: exit $rc: $out"
	fi
	wrc plan --detailed-exitcode
	if [ $rc -eq 0 ]; then
		pass "run: plan beside it: nothing to do (exit 0)"
	else
		fail "run: plan beside run: exit $rc: $out"
	fi
	wrc status --format json
	if [ $rc -eq 0 ] && echo "$out" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["summary"]["sets"] == d["summary"]["in_sync"] == 4 else 1)'; then
		pass "run: status reads the running agent's document: 4 sets in sync"
	else
		fail "run: status beside run: exit $rc: $out"
	fi
	manifest 50-drop.yaml.tmp web5 "$BASE/" drop 'C:\bsr\dest\drop' a.bin
	t0=$(date +%s.%N)
	mv "$RDIR/manifests/50-drop.yaml.tmp" "$RDIR/manifests/50-drop.yaml"
	for _ in $(seq 300); do
		[ "$(sha_of "$RDIR/dest/drop/a.bin")" = "$SHA_A" ] && break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	if [ "$(sha_of "$RDIR/dest/drop/a.bin")" = "$SHA_A" ]; then
		pass "run: a manifest dropped into the folder is applied ($(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s from rename to file)"
	else
		fail "run: the dropped manifest was not applied: $(tr -d '\r' < "$TMP/run.out")"
	fi
	# evrec ID CLASS PATTERN: an Event Log record ID (bitsync_msg.h) of
	# type CLASS (err, warn, trace) whose text matches PATTERN was written
	evrec() {
		tr -d '\r' < "$TMP/run.out" | grep -A1 "ReportEventW (.*,$1," |
			grep -q "$2:eventlog:ReportEventW L\"$3"
	}
	# (the records may reach the output a little after the file: wait)
	for _ in $(seq 100); do
		evrec 0x410003ed trace 'set=drop job=.* completed' && break
		sleep 0.1
	done
	if evrec 0x410003f1 trace 'set=drop job={[-0-9A-F]*} created files=1' &&
		evrec 0x410003ed trace 'set=drop job={[-0-9A-F]*} completed files=1 result=in-sync'; then
		pass "run: event records 1009 (job created) and 1005 (set in sync, information) for the drop-in"
	else
		fail "run: no job-created / completed records: $(tr -d '\r' < "$TMP/run.out" | grep eventlog)"
	fi
	manifest 60-gone.yaml web6 "$BASE/" gone 'C:\bsr\dest\gone' nope.bin
	for _ in $(seq 300); do
		evrec 0xc10003ec err 'set=gone job=.* error=.*' && break
		sleep 0.1
	done
	if evrec 0xc10003ec err 'set=gone job={[-0-9A-F]*} error=\\".*(context [A-Z_]*, 0x80190194)'; then
		pass "run: a set whose file 404s is an error record 1004 with BITS's context, code and text"
	else
		fail "run: no job-error record for the 404 set: $(tr -d '\r' < "$TMP/run.out" | grep 'eventlog.*gone')"
	fi
	# an invalid drop-in (never valid: held), and a valid file made
	# invalid (its last-known-good copy stays in force)
	printf 'version: 1\nsets:\n  - name: broken\n    files: [x]\n' \
		> "$RDIR/manifests/70-broken.yaml"
	printf 'version: 1\nsets: 7\n' > "$RDIR/manifests/50-drop.yaml.tmp"
	mv "$RDIR/manifests/50-drop.yaml.tmp" "$RDIR/manifests/50-drop.yaml"
	for _ in $(seq 300); do
		evrec 0xc10003f2 err '.*70-broken.yaml: ' &&
			evrec 0xc10003ea err '.*50-drop.yaml: ' && break
		sleep 0.1
	done
	if evrec 0xc10003f2 err '.*manifests.*70-broken.yaml: [0-9]* error(s); [0-9]*:[0-9]* [a-z_-]*: ' &&
		evrec 0xc10003ea err '.*manifests.*50-drop.yaml: [0-9]* error(s); [0-9]*:[0-9]* [a-z_-]*: ' &&
		[ "$(tr -d '\r' < "$TMP/run.out" | grep -c 'eventlog:ReportEventW L".*70-broken.yaml: ')" -eq 1 ]; then
		pass "run: validation error records: 1010 for a new invalid file (held), 1002 for a file kept at its last valid version; file, line, rule; once"
	else
		fail "run: no validation records: $(tr -d '\r' < "$TMP/run.out" | grep 'eventlog')"
	fi
	rm -f "$RDIR/manifests/60-gone.yaml" "$RDIR/manifests/70-broken.yaml"
	manifest 50-drop.yaml web5 "$BASE/" drop 'C:\bsr\dest\drop' a.bin
	# Ctrl+C (Wine turns SIGINT into CTRL_C_EVENT): a clean stop
	kill -INT "$rpid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$rpid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$rpid" 2>/dev/null; then
		kill -9 "$rpid" 2>/dev/null
		fail "run: still running 10 s after Ctrl+C"
	else
		wait "$rpid"
		rrc=$?
		if [ $rrc -eq 0 ]; then
			pass "run: Ctrl+C stops it cleanly (exit 0)"
		else
			fail "run: exit $rrc after Ctrl+C: $(tr -d '\r' < "$TMP/run.out")"
		fi
	fi

	# log_level in the console (issue 12): at error, only error records
	# on the console and only error records in the Event Log; at debug,
	# debug records too.  lvlrun LEVEL OUT: the console agent at LEVEL,
	# its output in OUT, running (pid in lpid) with status_file written.
	lvlrun() {
		wine reg add "$RKEY\\agent" /v log_level /d "$1" /f \
			>/dev/null 2>&1 </dev/null
		rm -f "$RDIR/status.json"
		WINEDEBUG=-all,+eventlog,fixme+advapi \
			wine "$EXE" -c "$RKEY" run >"$2" 2>&1 </dev/null &
		lpid=$!
		for _ in $(seq 100); do
			[ -f "$RDIR/status.json" ] && break
			sleep 0.1
		done
	}
	# lvlstop: Ctrl+C, then wait for it (kill -9 after 10 s)
	lvlstop() {
		kill -INT "$lpid" 2>/dev/null
		for _ in $(seq 100); do
			kill -0 "$lpid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$lpid" 2>/dev/null
		wait "$lpid" 2>/dev/null
	}
	lvlrun error "$TMP/lvl-error.out"
	manifest 80-lvlok.yaml web8 "$BASE/" lvlok 'C:\bsr\dest\lvlok' a.bin
	manifest 81-lvlgone.yaml web9 "$BASE/" lvlgone 'C:\bsr\dest\lvlgone' nope.bin
	for _ in $(seq 300); do
		[ "$(sha_of "$RDIR/dest/lvlok/a.bin")" = "$SHA_A" ] &&
			tr -d '\r' < "$TMP/lvl-error.out" |
			grep -q 'err:eventlog:ReportEventW L"set=lvlgone' && break
		sleep 0.1
	done
	sleep 1
	lvlstop
	lout=$(tr -d '\r' < "$TMP/lvl-error.out")
	if [ "$(sha_of "$RDIR/dest/lvlok/a.bin")" = "$SHA_A" ] &&
		echo "$lout" | grep -q '^level=error .*set=lvlgone' &&
		! echo "$lout" | grep -q '^level=\(warning\|info\|debug\) ' &&
		echo "$lout" | grep -q 'err:eventlog:ReportEventW L"set=lvlgone' &&
		! echo "$lout" | grep -q ':eventlog:ReportEventW L"set=lvlok' &&
		! echo "$lout" | grep -q 'trace:eventlog:ReportEventW'; then
		pass "run: log_level = error: the console has error records only (the 404 of lvlgone), the Event Log too (no information record for lvlok, applied)"
	else
		fail "run: log_level = error: $(echo "$lout" | grep -E '^level=|eventlog' | head -n 20)"
	fi
	lvlrun debug "$TMP/lvl-debug.out"
	manifest 82-lvldbg.yaml web10 "$BASE/" lvldbg 'C:\bsr\dest\lvldbg' a.bin
	for _ in $(seq 300); do
		[ "$(sha_of "$RDIR/dest/lvldbg/a.bin")" = "$SHA_A" ] && break
		sleep 0.1
	done
	sleep 1
	lvlstop
	lout=$(tr -d '\r' < "$TMP/lvl-debug.out")
	if [ "$(sha_of "$RDIR/dest/lvldbg/a.bin")" = "$SHA_A" ] &&
		echo "$lout" | grep -q '^level=debug ' &&
		echo "$lout" | grep -q '^level=info .*set=lvldbg .*created' &&
		echo "$lout" | grep -q 'trace:eventlog:ReportEventW L"set=lvldbg job={[-0-9A-F]*} created'; then
		pass "run: log_level = debug: debug records on the console, the information records of lvldbg on the console and in the Event Log"
	else
		fail "run: log_level = debug: $(echo "$lout" | grep -E '^level=|eventlog' | head -n 20)"
	fi
	rm -f "$RDIR/manifests/80-lvlok.yaml" "$RDIR/manifests/81-lvlgone.yaml" \
		"$RDIR/manifests/82-lvldbg.yaml"
	wine reg delete "$RKEY\\agent" /v log_level /f >/dev/null 2>&1 </dev/null

	# the same under the service manager: bitsync.exe service install,
	# sc start, a drop-in, PARAMCHANGE reloads the settings, sc stop,
	# uninstall.  The service reads HKLM\SOFTWARE\bitsync.
	SKEY='HKLM\Software\bitsync'
	SDIR=$WINEPREFIX/drive_c/bss
	mkdir -p "$SDIR/manifests"
	# log_level = error: the service writes no information record
	for v in 'manifest_dir C:\bss\manifests' 'state_dir C:\bss\state' \
		'status_file C:\bss\status.json' 'allow_drives C' \
		'log_level error'; do
		wine reg add "$SKEY\\agent" /v "${v%% *}" /d "${v#* }" /f \
			>/dev/null 2>&1 </dev/null
	done
	wine reg add "$SKEY\\agent" /v bits_tolerate_unimplemented \
		/t REG_MULTI_SZ /d SetProxySettings /f >/dev/null 2>&1 </dev/null
	# on_change (issue 13): the service runs the set's command itself
	# (BITS never runs notify programs of service accounts).
	wine reg add "$SKEY\\agent" /v allow_commands /t REG_DWORD /d 1 /f \
		>/dev/null 2>&1 </dev/null
	wexe service install
	irc=$rc
	# the same service command line as the MSI's (--only msi): the path
	# quoted, then "run --service"
	wreg 'HKLM\SYSTEM\CurrentControlSet\Services\bitsync'
	if echo "$out" | grep -qxE '    ImagePath    REG_(EXPAND_)?SZ    "[A-Z]:\\[^"]*\\bitsync\.exe" run --service'; then
		pass "service: service install writes ImagePath quoted: $(echo "$out" | sed -n 's/^ *ImagePath *REG_[A-Z_]* *//p')"
	else
		fail "service: service install ImagePath: $out"
	fi
	wine sc start bitsync >"$TMP/sc.out" 2>&1 </dev/null
	src=$?
	for _ in $(seq 100); do
		[ -f "$SDIR/status.json" ] && break
		sleep 0.1
	done
	if [ $irc -eq 0 ] && [ $src -eq 0 ] && [ -f "$SDIR/status.json" ]; then
		pass "service: bitsync.exe service install, sc start: the service runs and writes status_file"
	else
		fail "service: install exit $irc ($out), sc start exit $src: $(tr -d '\r' < "$TMP/sc.out")"
	fi
	{
		echo "version: 1"
		echo "sources:"
		echo "  websvc:"
		echo "    url: $BASE/"
		echo "    proxy: {usage: no_proxy}"
		echo "sets:"
		echo "  - name: svc"
		echo "    source: websvc"
		printf '%s\n' "    destination: 'C:\\bss\\dest\\svc'"
		echo "    files: [a.bin, sub/b.txt]"
		# cmd.exe only as a program that writes what it sees: its
		# environment, its working folder, the list of changed files
		echo "    on_change:"
		printf '%s\n' "      run: ['%SystemRoot%\\System32\\cmd.exe', /c, set, '>', 'C:\\bss\\oc.txt', '&', cd, '>>', 'C:\\bss\\oc.txt', '&', type, '%BITSYNC_CHANGED%', '>>', 'C:\\bss\\oc.txt']"
	} > "$SDIR/manifests/10-svc.yaml.tmp"
	t0=$(date +%s.%N)
	mv "$SDIR/manifests/10-svc.yaml.tmp" "$SDIR/manifests/10-svc.yaml"
	for _ in $(seq 300); do
		[ "$(sha_of "$SDIR/dest/svc/sub/b.txt")" = "$SHA_B" ] && break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	if [ "$(sha_of "$SDIR/dest/svc/a.bin")" = "$SHA_A" ] &&
		[ "$(sha_of "$SDIR/dest/svc/sub/b.txt")" = "$SHA_B" ]; then
		pass "service: a manifest dropped into the folder is applied by the service ($(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s)"
	else
		# shellcheck disable=SC2012  # a listing for the reader
		fail "service: the dropped manifest was not applied: $(ls -lR "$SDIR" 2>&1 | head -n 20)"
	fi
	for _ in $(seq 100); do
		grep -q 'b.txt' "$SDIR/oc.txt" 2>/dev/null && break
		sleep 0.1
	done
	oc=$(tr -d '\r' < "$SDIR/oc.txt" 2>/dev/null)
	if echo "$oc" | grep -qx 'BITSYNC_SET=svc' &&
		echo "$oc" | grep -qix 'BITSYNC_DESTINATION=C:\\bss\\dest\\svc' &&
		echo "$oc" | grep -qix 'C:\\bss\\dest\\svc' &&
		echo "$oc" | grep -qix 'C:\\bss\\dest\\svc\\a.bin' &&
		echo "$oc" | grep -qix 'C:\\bss\\dest\\svc\\sub\\b.txt' &&
		echo "$oc" | grep -qi '^BITSYNC_CHANGED=C:\\bss\\state\\commands\\svc.changed$' &&
		echo "$oc" | grep -qi '^PATH=C:\\windows\\system32;' &&
		! echo "$oc" | grep -qi '^USERPROFILE='; then
		pass "service: on_change runs once the files are committed (CreateProcessW, cleared environment, cwd the destination, the changed list)"
	else
		fail "service: on_change output: $oc"
	fi
	svclog=$(tr -d '\r' < "$TMP/services.log")
	if echo "$svclog" | grep -q 'eventlog:ServiceMain' &&
		! echo "$svclog" | grep -q 'trace:eventlog:ReportEventW'; then
		pass "service: log_level = error: no information record in the Event Log (neither the set applied nor the service's start)"
	else
		fail "service: log_level = error: $(echo "$svclog" | grep eventlog | head -n 10)"
	fi
	# PARAMCHANGE (as a GPO refresh would send): the settings are read
	# again; the new status_file shows it, and log_level = info brings
	# the information records back
	wine reg add "$SKEY\\agent" /v status_file /d 'C:\bss\status2.json' /f \
		>/dev/null 2>&1 </dev/null
	wine reg add "$SKEY\\agent" /v log_level /d info /f \
		>/dev/null 2>&1 </dev/null
	wine "$SDRIVER" paramchange bitsync >"$TMP/pc.out" 2>&1 </dev/null
	prc=$?
	for _ in $(seq 100); do
		[ -f "$SDIR/status2.json" ] && break
		sleep 0.1
	done
	if [ $prc -eq 0 ] && [ -f "$SDIR/status2.json" ]; then
		pass "service: SERVICE_CONTROL_PARAMCHANGE reloads the settings (the new status_file is written)"
	else
		fail "service: paramchange exit $prc: $(tr -d '\r' < "$TMP/pc.out")"
	fi
	sed 's/name: svc$/name: svc2/; s/websvc/websvc2/g; s/dest\\svc/dest\\svc2/' \
		"$SDIR/manifests/10-svc.yaml" > "$SDIR/manifests/20-svc2.yaml.tmp"
	mv "$SDIR/manifests/20-svc2.yaml.tmp" "$SDIR/manifests/20-svc2.yaml"
	for _ in $(seq 300); do
		tr -d '\r' < "$TMP/services.log" |
			grep -q 'trace:eventlog:ReportEventW L"set=svc2 job=.* completed' && break
		sleep 0.1
	done
	svclog=$(tr -d '\r' < "$TMP/services.log")
	if [ "$(sha_of "$SDIR/dest/svc2/a.bin")" = "$SHA_A" ] &&
		echo "$svclog" | grep -q 'trace:eventlog:ReportEventW L"set=svc2 job={[-0-9A-F]*} created' &&
		echo "$svclog" | grep -q 'trace:eventlog:ReportEventW L"settings read again' &&
		! echo "$svclog" | grep -q 'trace:eventlog:ReportEventW L"set=svc '; then
		pass "service: log_level = info after PARAMCHANGE: information records (job created, completed) for the next set"
	else
		fail "service: log_level = info: $(echo "$svclog" | grep eventlog | head -n 10)"
	fi
	wine sc stop bitsync >"$TMP/sc.out" 2>&1 </dev/null
	for _ in $(seq 100); do
		wine sc query bitsync </dev/null 2>&1 | tr -d '\r' |
			grep -q 'STATE.*STOPPED' && break
		sleep 0.2
	done
	squery=$(wine sc query bitsync </dev/null 2>&1 | tr -d '\r')
	if echo "$squery" | grep -q 'STATE.*STOPPED' &&
		echo "$squery" | grep -q 'WIN32_EXIT_CODE *: 0 '; then
		pass "service: sc stop stops it cleanly (STOPPED, exit code 0)"
	else
		fail "service: after sc stop: $squery"
	fi
	wexe service uninstall
	if [ $rc -eq 0 ] && ! wine sc query bitsync </dev/null 2>&1 | tr -d '\r' |
		grep -q 'SERVICE_NAME: bitsync'; then
		pass "service: bitsync.exe service uninstall removes it"
	else
		fail "service: uninstall exit $rc: $out"
	fi
fi

finish
