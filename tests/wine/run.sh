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
#     products registered).
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
# --only exe: bitsync.exe only;
# --only msi: bitsync.msi only (its tables, then install, upgrade and
# uninstall under Wine's msiexec).  Default: all three.
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
if [ "$ONLY" = exe ] || [ "$ONLY" = msi ]; then
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
if [ "$ONLY" = exe ] || [ "$ONLY" = msi ]; then
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
if [ "$ONLY" != msi ] && [ -f "$EXE" ]; then
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
		ServiceControl Registry Upgrade MsiLockPermissionsEx; do
		case " $tables " in *" $t "*) ;; *) missing="$missing $t" ;; esac
	done
	if [ -z "$missing" ]; then
		pass "msi tables: File, Directory, ServiceInstall, ServiceControl, Registry, Upgrade, MsiLockPermissionsEx"
	else
		fail "msi tables: missing$missing (has: $tables)"
	fi
	msirow File "^bitsync\.exe${T}Agent${T}bitsync\.exe${T}[0-9]+${T}" \
		"bitsync.exe in component Agent"
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
	if echo "$out" | grep -q 'ImagePath.*\\bitsync\\bitsync\.exe.* run --service$' &&
		echo "$out" | grep -q 'Start[[:space:]]*REG_DWORD[[:space:]]*0x2$' &&
		echo "$out" | grep -q 'DependOnService[[:space:]]*REG_MULTI_SZ[[:space:]]*BITS$'; then
		pass "service config: Program Files\\bitsync\\bitsync.exe run --service, automatic, after BITS"
	else
		fail "service config: $out"
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

finish
