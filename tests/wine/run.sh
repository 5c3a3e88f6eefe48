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
#     Linux).
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
# --only exe: bitsync.exe only.  Default: both.
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
if [ "$ONLY" = backend ]; then
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

# The driver links the Windows modules and the few core ones it needs.
mapfile -t CFLAGS < <(grep -v '^$' "$BUILD/cflags.txt" 2>/dev/null)
mapfile -t LIBS < <(grep -v '^$' "$BUILD/libs.txt" 2>/dev/null)
DRIVER=$BUILD/bits_drive.exe
if [ "$ONLY" = exe ]; then
	DRIVER=
elif [ ${#CFLAGS[@]} -gt 0 ] && x86_64-w64-mingw32-gcc "${CFLAGS[@]}" -static \
	-o "$DRIVER" "$HERE/bits_drive.c" "$ROOT/agent/bits/bits.c" \
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
if [ "$ONLY" = exe ]; then
	WDRIVER=
elif [ ${#CFLAGS[@]} -gt 0 ] && x86_64-w64-mingw32-gcc "${CFLAGS[@]}" -static \
	-o "$WDRIVER" "$HERE/win_drive.c" "$ROOT/agent/win/config_win.c" \
	"$ROOT/agent/config_keys.c" \
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
if [ "$ONLY" = exe ]; then
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
	# start Wine's services now, with no pipe of ours to inherit
	wine cmd /c exit >"$TMP/services.log" 2>&1 </dev/null
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
if [ -n "$SDRIVER" ]; then
	run_driver service "$SDRIVER" test
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
if [ -f "$EXE" ]; then
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
				nout=$("$NATIVE" validate --platform $plat "$f" 2>&1)
				nrc=$?
				# paths differ (Z:\... vs /...): compare what follows them
				a=$(echo "$out" | sed 's/^[^ ]*:[0-9]*:[0-9]*: //')
				b=$(echo "$nout" | sed 's/^[^ ]*:[0-9]*:[0-9]*: //')
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
	wexe validate --format json --platform windows \
		"$(winepath -w "$SAMPLES/gpo-installers.yaml")"
	if echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["valid"] is True and d["diagnostics"]==[] else 1)'; then
		pass "validate --format json"
	else
		fail "validate --format json: $out"
	fi
	wexe apply
	if [ $rc -eq 69 ] && echo "$out" | grep -q 'not available in the Windows build'; then
		pass "apply answers 69 with a clear message until the reconciler is ported"
	else
		fail "apply: exit $rc: $out"
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
fi

finish
