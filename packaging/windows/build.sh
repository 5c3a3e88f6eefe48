#!/usr/bin/env bash
# packaging/windows/build.sh OUTDIR
#
# Cross-builds a static OUTDIR/bitsync.exe with Debian's mingw-w64
# (x86_64-w64-mingw32-gcc).  Debian has no Windows builds of libyaml or
# jansson, so this script fetches their Debian source packages with
# `apt-get source`, through a private apt configuration whose deb-src
# entries are derived from this machine's own configured Debian sources,
# and builds them as static mingw libraries.  Those libraries are cached
# under $BITSYNC_WIN_DEPS (default OUTDIR/deps), so a second run only
# compiles bitsync itself.  Nothing third-party is written into the repo.
#
# The Windows build does without inih: agent/win/config_win.c reads the
# registry (design §6).  POSIX-only modules live in agent/posix/, which this
# build does not read; agent/win/ holds their counterparts.
#
# Needs (packaging/apt-packages.txt): gcc-mingw-w64-x86-64,
# mingw-w64-x86-64-dev, dpkg-dev (dpkg-source for apt-get source), cmake.
set -euo pipefail

MODULES_ONLY=0
if [ "${1:-}" = "--modules-only" ]; then
	# Only the libraries and the Windows modules (agent/win, agent/bits),
	# not bitsync.exe: what tests/wine/run.sh --only backend needs.
	MODULES_ONLY=1
	shift
fi
if [ $# -ne 1 ]; then
	echo "usage: $0 [--modules-only] OUTDIR" >&2
	exit 64
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEPS=${BITSYNC_WIN_DEPS:-$OUT/deps}
HOST=x86_64-w64-mingw32
CC=${HOST}-gcc
AR=${HOST}-ar
JOBS=$(nproc 2>/dev/null || echo 2)
mkdir -p "$DEPS"
DEPS=$(cd "$DEPS" && pwd)
PREFIX=$DEPS/prefix

say() { echo "build.sh: $*" >&2; }
die() { say "$*"; exit 1; }

command -v "$CC" >/dev/null || die "$CC not found; run packaging/deps.sh (gcc-mingw-w64-x86-64)"

# ---------------------------------------------------------------------------
# A private apt configuration with deb-src twins of the machine's sources.
# ---------------------------------------------------------------------------
APTDIR=$DEPS/apt
apt_opts=()
setup_apt() {
	[ ${#apt_opts[@]} -gt 0 ] && return 0
	command -v dpkg-source >/dev/null || die "dpkg-source not found; run packaging/deps.sh (dpkg-dev)"
	mkdir -p "$APTDIR/sources.list.d" "$APTDIR/lists/partial" \
		"$APTDIR/cache/archives/partial"
	: > "$APTDIR/sources.list"
	rm -f "$APTDIR"/sources.list.d/*
	# one-line format: every "deb" line gets a "deb-src" twin
	if [ -f /etc/apt/sources.list ]; then
		sed -n 's/^[[:space:]]*deb[[:space:]]\+/deb-src /p' /etc/apt/sources.list \
			>> "$APTDIR/sources.list"
	fi
	local f n=0
	for f in /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n 's/^[[:space:]]*deb[[:space:]]\+/deb-src /p' "$f" >> "$APTDIR/sources.list"
	done
	# deb822 format (Debian 12): each stanza whose Types has "deb" is
	# copied with "Types: deb-src"; disabled stanzas (Enabled: no) stay off.
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		awk '
			function flush() {
				if (st != "" && isdeb && !off) printf "%s\n", st
				st = ""; isdeb = 0; off = 0
			}
			/^[[:space:]]*#/ { next }
			/^[[:space:]]*$/ { flush(); next }
			tolower($1) == "types:" {
				for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1
				st = st "Types: deb-src\n"; next
			}
			tolower($1) == "enabled:" && tolower($2) == "no" { off = 1 }
			{ st = st $0 "\n" }
			END { flush() }
		' "$f" > "$APTDIR/sources.list.d/src$n.sources"
	done
	if ! grep -q . "$APTDIR/sources.list" "$APTDIR"/sources.list.d/* 2>/dev/null; then
		die "no Debian sources configured in /etc/apt; cannot fetch source packages"
	fi
	apt_opts=(
		-o "Dir::Etc::SourceList=$APTDIR/sources.list"
		-o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
		-o "Dir::State::Lists=$APTDIR/lists"
		-o "Dir::Cache=$APTDIR/cache"
		-o "APT::Sandbox::User=root"
		-o "Debug::NoLocking=1"
	)
	say "apt-get update (private deb-src configuration; log in $APTDIR/apt.log)"
	apt-get "${apt_opts[@]}" update >"$APTDIR/apt.log" 2>&1 ||
		die "apt-get update of the private source lists failed; see $APTDIR/apt.log"
}

# fetch_source PKG -> prints the unpacked source directory
fetch_source() {
	local pkg=$1 dir
	dir=$(find "$DEPS/src/$pkg" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -n1 || true)
	if [ -z "$dir" ]; then
		setup_apt
		mkdir -p "$DEPS/src/$pkg"
		say "apt-get source $pkg"
		(cd "$DEPS/src/$pkg" && apt-get "${apt_opts[@]}" source "$pkg") \
			>>"$APTDIR/apt.log" 2>&1 ||
			die "apt-get source $pkg failed; see $APTDIR/apt.log"
		dir=$(find "$DEPS/src/$pkg" -mindepth 1 -maxdepth 1 -type d | head -n1)
	fi
	[ -n "$dir" ] || die "no source directory for $pkg"
	echo "$dir"
}

# ---------------------------------------------------------------------------
# libyaml: compiled straight from its sources (no configure step needed).
# ---------------------------------------------------------------------------
build_libyaml() {
	[ -f "$PREFIX/lib/libyaml.a" ] && return 0
	local src ver maj min pat obj f
	src=$(fetch_source libyaml)
	ver=$(sed -n 's/^AC_INIT(\[yaml\], *\[\([0-9.]*\)\].*/\1/p; s/^m4_define(\[YAML_[A-Z]*\], *\([0-9]*\)).*//p' "$src/configure.ac" | head -n1)
	maj=$(sed -n 's/^m4_define(\[YAML_MAJOR\], *\([0-9]*\)).*/\1/p' "$src/configure.ac")
	min=$(sed -n 's/^m4_define(\[YAML_MINOR\], *\([0-9]*\)).*/\1/p' "$src/configure.ac")
	pat=$(sed -n 's/^m4_define(\[YAML_PATCH\], *\([0-9]*\)).*/\1/p' "$src/configure.ac")
	if [ -z "$maj" ] || [ -z "$min" ] || [ -z "$pat" ]; then
		die "cannot read libyaml's version from $src/configure.ac"
	fi
	ver=$maj.$min.$pat
	say "building libyaml $ver for $HOST"
	obj=$DEPS/obj/libyaml
	rm -rf "$obj"; mkdir -p "$obj" "$PREFIX/lib" "$PREFIX/include"
	for f in "$src"/src/*.c; do
		"$CC" -O2 -DYAML_DECLARE_STATIC -DYAML_VERSION_MAJOR="$maj" \
			-DYAML_VERSION_MINOR="$min" -DYAML_VERSION_PATCH="$pat" \
			-DYAML_VERSION_STRING="\"$ver\"" -I"$src/include" \
			-c "$f" -o "$obj/$(basename "$f" .c).o" &
	done
	wait
	"$AR" rcs "$PREFIX/lib/libyaml.a" "$obj"/*.o
	cp "$src/include/yaml.h" "$PREFIX/include/"
}

# ---------------------------------------------------------------------------
# jansson: its own CMake build, cross-compiled, static.
# ---------------------------------------------------------------------------
build_jansson() {
	[ -f "$PREFIX/lib/libjansson.a" ] && return 0
	local src bld
	src=$(fetch_source jansson)
	say "building jansson ($(basename "$src")) for $HOST"
	bld=$DEPS/obj/jansson
	rm -rf "$bld"
	cmake -S "$src" -B "$bld" -DCMAKE_SYSTEM_NAME=Windows \
		-DCMAKE_C_COMPILER="$CC" -DCMAKE_RC_COMPILER=${HOST}-windres \
		-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
		-DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_BUILD_DOCS=OFF \
		-DJANSSON_WITHOUT_TESTS=ON -DJANSSON_EXAMPLES=OFF \
		-DJANSSON_COVERAGE=OFF >"$DEPS/jansson-cmake.log" 2>&1 ||
		die "jansson configure failed; see $DEPS/jansson-cmake.log"
	if ! cmake --build "$bld" -j "$JOBS" >>"$DEPS/jansson-cmake.log" 2>&1 ||
		! cmake --install "$bld" >>"$DEPS/jansson-cmake.log" 2>&1; then
		die "jansson build failed; see $DEPS/jansson-cmake.log"
	fi
	# some versions install to lib64 or name the archive differently
	if [ ! -f "$PREFIX/lib/libjansson.a" ]; then
		f=$(find "$PREFIX" -name 'libjansson*.a' | head -n1)
		[ -n "$f" ] || die "jansson built no static library"
		cp "$f" "$PREFIX/lib/libjansson.a"
	fi
}

# ---------------------------------------------------------------------------
# SQLite (the state store): Debian's source tree generates the amalgamation
# with its own native tools (and tclsh), which is then cross-compiled.
# ---------------------------------------------------------------------------
build_sqlite() {
	[ -f "$PREFIX/lib/libsqlite3.a" ] && return 0
	local src bld
	src=$(fetch_source sqlite3)
	command -v tclsh >/dev/null || die "tclsh not found; run packaging/deps.sh (tcl)"
	say "building sqlite ($(basename "$src")) for $HOST"
	bld=$DEPS/obj/sqlite3
	rm -rf "$bld"; mkdir -p "$bld" "$PREFIX/lib" "$PREFIX/include"
	(cd "$bld" && "$src/configure" --disable-tcl --disable-readline &&
		make -j "$JOBS" sqlite3.c) >"$DEPS/sqlite3.log" 2>&1 ||
		die "sqlite amalgamation failed; see $DEPS/sqlite3.log"
	"$CC" -O2 -DSQLITE_THREADSAFE=1 -DSQLITE_OMIT_LOAD_EXTENSION \
		-DSQLITE_DEFAULT_FOREIGN_KEYS=1 -c "$bld/sqlite3.c" \
		-o "$bld/sqlite3.o" >>"$DEPS/sqlite3.log" 2>&1 ||
		die "sqlite cross-compile failed; see $DEPS/sqlite3.log"
	"$AR" rcs "$PREFIX/lib/libsqlite3.a" "$bld/sqlite3.o"
	cp "$bld/sqlite3.h" "$PREFIX/include/"
}

build_libyaml
build_jansson
build_sqlite

# ---------------------------------------------------------------------------
# bitsync.exe
# ---------------------------------------------------------------------------
# The core is agent/*.c; the platform is a folder: agent/posix/ in the
# native build, agent/win/ here (with agent/bits/, the BITS backend).
VERSION=$(sed -n 's/^project(bitsync VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")

srcs=()
for f in "$ROOT"/agent/*.c; do
	[ "$MODULES_ONLY" = 1 ] && break
	srcs+=("$f")
done
for f in "$ROOT"/agent/win/*.c "$ROOT"/agent/bits/*.c; do
	[ -f "$f" ] && srcs+=("$f")
done

CFLAGS=(-std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla
	-Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wundef
	-Wno-format-nonliteral
	# diag.h and util.h declare format(printf, ...), which mingw GCC reads as
	# the MSVCRT dialect (no %zu) although __USE_MINGW_ANSI_STDIO gives C99
	# printf at run time; the native build checks the formats.
	-Wno-format
	-D_WIN32_WINNT=0x0601 -DWINVER=0x0601 -DUNICODE -D_UNICODE
	-D__USE_MINGW_ANSI_STDIO=1 -D_POSIX_THREAD_SAFE_FUNCTIONS
	-DYAML_DECLARE_STATIC
	-DBITSYNC_VERSION="\"${VERSION:-0}\""
	# backends.c's table: bitsync.exe carries the BITS backend
	-DBITSYNC_HAVE_BITS=1
	-iquote "$ROOT/agent/bits" -iquote "$ROOT/agent/engine"
	-I"$ROOT/agent" -I"$ROOT/packaging/windows/compat" -I"$PREFIX/include")
LIBS=(-L"$PREFIX/lib" -ljansson -lyaml -lsqlite3 -lwinhttp -lole32 -loleaut32 -luuid
	-ladvapi32 -lbcrypt -lcredui -lshlwapi -luserenv
	# clock_gettime (CLOCK_MONOTONIC) comes from winpthreads
	-lpthread)

OBJ=$OUT/obj
GEN=$OUT/gen
# The Event Log message table: bitsync_msg.h for the sources, a resource
# object for the executable (its EventMessageFile).
mkdir -p "$GEN"
${HOST}-windmc -h "$GEN" -r "$GEN" "$ROOT/packaging/windows/bitsync_msg.mc" ||
	die "windmc failed"
${HOST}-windres -I "$GEN" "$GEN/bitsync_msg.rc" -o "$GEN/bitsync_msg.o" ||
	die "windres failed"
CFLAGS+=(-I"$GEN")
printf '%s\n' "${CFLAGS[@]}" > "$OUT/cflags.txt"
printf '%s\n' "${LIBS[@]}" > "$OUT/libs.txt"
mkdir -p "$OBJ"
say "compiling ${#srcs[@]} sources"
objs=()
pids=()
for f in "${srcs[@]}"; do
	rel=${f#"$ROOT"/}
	o=$OBJ/${rel//\//_}
	o=${o%.c}.o
	objs+=("$o")
	"$CC" "${CFLAGS[@]}" -c "$f" -o "$o" &
	pids+=($!)
	if [ ${#pids[@]} -ge "$JOBS" ]; then
		wait "${pids[0]}" || fail=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ -z "${fail:-}" ] || die "compilation failed"
if [ "$MODULES_ONLY" = 1 ]; then
	say "compiled the Windows modules (no bitsync.exe: --modules-only)"
	exit 0
fi

"$CC" -static -o "$OUT/bitsync.exe" "${objs[@]}" "$GEN/bitsync_msg.o" "${LIBS[@]}" ||
	die "link failed"
say "built $OUT/bitsync.exe"


# The Windows Installer package (issue 6): OUTDIR/bitsync.msi.
"$ROOT/packaging/windows/msi/build-msi.sh" "$OUT" || die "building the MSI failed"
