#!/usr/bin/env bash
# tools.sh TOOL ARGS... - the packaging as its ecosystems' own tools judge it
# (issue 16).  Each TOOL is one ctest test (tests/packaging/CMakeLists.txt,
# label "packaging"); every finding fails it.  The tools come from
# packaging/deps.sh (apt-packages.txt, npm-packages.txt); a missing tool
# fails the test with the command that installs it.
#
#   tools.sh deb BUILD        the .deb (cpack into a private folder): lintian
#                             --pedantic with no E/W/I/P tag (overrides in
#                             packaging/debian/lintian-overrides only), DEP-5
#                             copyright, changelog.Debian.gz, the schema in
#                             /usr/share/bitsync and the examples' modeline
#                             pointing there, the binary's hardening (readelf:
#                             PIE, RELRO, BIND_NOW, __stack_chk_fail, _chk)
#   tools.sh unit SRC         systemd-analyze security --offline=yes of the
#                             unit: exposure 2.0 at most
#   tools.sh mandoc SRC       mandoc -T lint on every man page: nothing
#   tools.sh shellcheck SRC   shellcheck on every shell script of the repo
#   tools.sh ansible SRC      ansible-lint on samples/ansible
#   tools.sh promtool SRC     promtool check rules on samples/prometheus
set -uo pipefail
tool=${1:?usage: tools.sh TOOL DIR}
dir=$(cd "${2:?usage: tools.sh TOOL DIR}" && pwd)
fails=0
say() { echo "$tool: $*"; }
fail() { echo "$tool: FAIL: $*"; fails=$((fails + 1)); }
need() {
	command -v "$1" >/dev/null || { echo "$tool: FAIL: $1 not found; run packaging/deps.sh (Debian package $2)"; exit 1; }
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

case $tool in
deb)
	need lintian lintian; need readelf binutils; need cpack cmake
	# a private package: never the BUILD/*.deb that deb_test.sh rebuilds
	if ! cpack --config "$dir/CPackConfig.cmake" -B "$TMP/pkg" >"$TMP/cpack.log" 2>&1; then
		cat "$TMP/cpack.log"; fail "cpack failed (build BUILD first: cmake --build $dir)"; exit 1
	fi
	deb=$(find "$TMP/pkg" -maxdepth 1 -name 'bitsync_*.deb' | head -1)
	[ -n "$deb" ] || { cat "$TMP/cpack.log"; fail "cpack made no .deb"; exit 1; }
	say "$(basename "$deb")"
	# lintian refuses nothing as root but says so on stderr; keep only tags
	lintian --pedantic -I --no-tag-display-limit "$deb" >"$TMP/lintian.log" 2>"$TMP/lintian.err"
	rc=$?
	if grep -E '^[EWIPX]: ' "$TMP/lintian.log"; then
		fail "lintian: $(grep -cE '^[EWIPX]: ' "$TMP/lintian.log") tag(s) (fix them, or override a deliberate choice with its reason in packaging/debian/lintian-overrides)"
	elif [ $rc -ne 0 ]; then
		cat "$TMP/lintian.log" "$TMP/lintian.err"; fail "lintian exited $rc"
	else
		say "lintian --pedantic: clean ($(lintian --pedantic -I --show-overrides "$deb" 2>/dev/null | grep -c '^O: ') override(s), each explained)"
	fi
	dpkg-deb -x "$deb" "$TMP/x"
	cr=$TMP/x/usr/share/doc/bitsync/copyright
	if [ -f "$cr" ]; then
		[ "$(sed -n 1p "$cr")" = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' ] ||
			fail "copyright is not DEP-5 (Format: line)"
	else
		fail "no /usr/share/doc/bitsync/copyright"
	fi
	cl=$TMP/x/usr/share/doc/bitsync/changelog.Debian.gz
	if [ -f "$cl" ]; then
		ver=$(dpkg-deb -f "$deb" Version)
		first=$(zcat "$cl" | sed -n 1p)
		[[ $first == "bitsync ($ver) "* ]] || fail "changelog.Debian.gz's first entry is not $ver: $first"
	else
		fail "no /usr/share/doc/bitsync/changelog.Debian.gz"
	fi
	schema=/usr/share/bitsync/manifest.schema.json
	cmp -s "$TMP/x$schema" "$(dirname "$0")/../../schema/manifest.schema.json" || fail "$schema is not schema/manifest.schema.json"
	n=0
	while IFS= read -r -d '' f; do
		n=$((n + 1))
		grep -q "^# yaml-language-server: \$schema=$schema\$" "$f" ||
			fail "${f#"$TMP"/x}: modeline does not name $schema: $(grep 'yaml-language-server' "$f")"
	done < <(find "$TMP/x/usr/share/doc/bitsync/examples" -name '*.y*ml' -print0)
	[ $n -gt 0 ] || fail "no example manifests in the package"
	say "$n examples, modeline -> $schema"
	# hardening, as `hardening-check` would see it: the flags of the
	# top-level CMakeLists.txt (-fstack-protector-strong -D_FORTIFY_SOURCE=2
	# -fPIE -pie -Wl,-z,relro,-z,now) must reach the shipped binary
	bin=$TMP/x/usr/bin/bitsync
	# into files first: grep -q closing a pipe early would fail readelf
	# under pipefail
	if ! { readelf -hW "$bin" >"$TMP/h" && readelf -lW "$bin" >"$TMP/l" &&
		readelf -dW "$bin" >"$TMP/d" && readelf --dyn-syms -W "$bin" >"$TMP/s"; }; then
		fail "readelf cannot read /usr/bin/bitsync"
	fi
	grep -q 'Type:[[:space:]]*DYN' "$TMP/h" || fail "hardening: /usr/bin/bitsync is not PIE (-fPIE -pie)"
	grep -q 'GNU_RELRO' "$TMP/l" || fail "hardening: no GNU_RELRO segment (-Wl,-z,relro)"
	grep -qE 'BIND_NOW|FLAGS.*NOW' "$TMP/d" || fail "hardening: no BIND_NOW (-Wl,-z,now)"
	grep -q '__stack_chk_fail' "$TMP/s" || fail "hardening: no __stack_chk_fail (-fstack-protector-strong)"
	chk=$(grep -oE '__[a-z0-9_]+_chk(@[^ ]*)?' "$TMP/s" | sed 's/@.*//' | grep -vxE '__stack_chk(_fail)?' | sort -u)
	[ -n "$chk" ] || fail "hardening: no fortified _chk function (-D_FORTIFY_SOURCE=2 with -O)"
	if [ $fails -eq 0 ]; then
		say "hardening: PIE, RELRO, BIND_NOW, __stack_chk_fail, $(echo "$chk" | wc -l) _chk functions: $(echo "$chk" | tr '\n' ' ')"
	fi
	;;
unit)
	need systemd-analyze systemd
	unit=$dir/packaging/systemd/bitsync.service
	# 0.0 best .. 10.0 worst; --threshold is in tenths
	if systemd-analyze security --offline=yes --threshold=20 "$unit" >"$TMP/sec.log" 2>&1; then
		say "$(grep -o 'Overall exposure level.*' "$TMP/sec.log")"
	else
		grep -E '✗|Overall' "$TMP/sec.log"
		fail "systemd-analyze security: exposure above 2.0"
	fi
	# every exposure that remains is explained in the unit
	for k in User= SystemCallFilter= RootDirectory= PrivateNetwork= IPAddressDeny= DeviceAllow= UMask= AF_NETLINK CAP_DAC_OVERRIDE; do
		[[ $(sed -n '/still counts/,/^\[Install\]/p' "$unit") == *"$k"* ]] ||
			fail "the unit's comment on what systemd-analyze still counts does not explain $k"
	done
	;;
mandoc)
	need mandoc mandoc
	n=0
	for page in "$dir"/packaging/man/*.[0-9]; do
		n=$((n + 1))
		out=$(mandoc -T lint -W all "$page" 2>&1) || true
		[ -z "$out" ] || { echo "$out"; fail "mandoc -T lint: $page"; }
	done
	[ $n -gt 0 ] || fail "no man pages in packaging/man"
	say "$n man pages"
	;;
shellcheck)
	need shellcheck shellcheck
	# every tracked file that is a shell script: by shebang, plus the
	# sourced files (bash completion, tests/bench/timing.sh) that carry a
	# "shellcheck shell=" directive instead
	mapfile -t files < <(cd "$dir" && git ls-files -z 2>/dev/null | xargs -0 grep -lE '^#!(/usr/bin/env |/bin/)(ba|da)?sh|^# shellcheck shell=' 2>/dev/null)
	if [ ${#files[@]} -eq 0 ]; then
		mapfile -t files < <(cd "$dir" && grep -rlE '^#!(/usr/bin/env |/bin/)(ba|da)?sh|^# shellcheck shell=' --exclude-dir=.git --exclude-dir='build*' .)
	fi
	[ ${#files[@]} -gt 3 ] || fail "found only ${#files[@]} shell scripts"
	if (cd "$dir" && shellcheck -f gcc "${files[@]}") >"$TMP/sc.log" 2>&1; then
		say "${#files[@]} scripts clean"
	else
		cat "$TMP/sc.log"
		fail "shellcheck: $(grep -c ': \(error\|warning\|note\|style\):' "$TMP/sc.log") finding(s) in ${#files[@]} scripts"
	fi
	;;
ansible)
	need ansible-lint ansible-lint
	# ansible-lint writes caches under $HOME; keep them in the test's folder
	# the files named: inside a git work tree ansible-lint otherwise picks
	# its own set (one file here).  The strictest profile, production.
	if (cd "$dir/samples/ansible" && HOME=$TMP ANSIBLE_LOCAL_TEMP=$TMP/a NO_COLOR=1 \
		ansible-lint --offline --profile production site.yml roles/bitsync_manifest) >"$TMP/al.log" 2>&1 &&
		grep -q 'Passed with production profile: 0 failure(s), 0 warning(s) on [1-9]' "$TMP/al.log"; then
		say "ansible-lint: $(grep 'Passed' "$TMP/al.log")"
	else
		cat "$TMP/al.log"; fail "ansible-lint samples/ansible"
	fi
	;;
promtool)
	need promtool prometheus
	n=0
	for r in "$dir"/samples/prometheus/*.rules.yml; do
		[ -e "$r" ] || continue
		n=$((n + 1))
		if ! promtool check rules "$r" >"$TMP/pt.log" 2>&1 || grep -qi 'warn' "$TMP/pt.log"; then
			cat "$TMP/pt.log"; fail "promtool check rules $r"
		fi
	done
	[ $n -gt 0 ] || fail "no samples/prometheus/*.rules.yml"
	say "$n rule file(s)"
	;;
*)
	echo "tools.sh: unknown tool $tool" >&2; exit 2 ;;
esac

if [ $fails -ne 0 ]; then
	say "$fails finding(s)"
	exit 1
fi
say ok
