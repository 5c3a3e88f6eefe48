#!/usr/bin/env bash
# packaging/windows/msi/build-msi.sh OUTDIR [VERSION]
#
# Builds OUTDIR/bitsync.msi from OUTDIR/bitsync.exe and bitsync.wxs beside
# this script, with Debian's wixl (package wixl) and msibuild (msitools);
# packaging/windows/build.sh calls it last.  VERSION (default: the
# project's, from CMakeLists.txt) is the MSI's ProductVersion: an MSI with
# a higher one upgrades an installed bitsync in place (tests/wine/run.sh
# --only msi builds one).
#
# wixl writes no LockPermissions table (it has no Permission element), so
# the admin-only ACL of %ProgramData%\bitsync and its manifest.d is added
# afterwards as an MsiLockPermissionsEx table (Windows Installer 5.0):
# a protected DACL, SYSTEM and Administrators full control, inherited by
# what the agent and the administrators put inside.  Well-known SIDs in
# SDDL, so it holds on every language of Windows.
set -euo pipefail

say() { echo "build-msi.sh: $*" >&2; }
die() { say "$*"; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 OUTDIR [VERSION]" >&2
	exit 64
fi
OUT=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
VERSION=${2:-$(sed -n 's/^project(bitsync VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")}
[ -n "$VERSION" ] || die "no version (CMakeLists.txt's project() has none?)"

command -v wixl >/dev/null || die "wixl not found; run packaging/deps.sh (wixl)"
command -v msibuild >/dev/null || die "msibuild not found; run packaging/deps.sh (msitools)"
[ -f "$OUT/bitsync.exe" ] || die "$OUT/bitsync.exe not found; build it first (packaging/windows/build.sh)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# wixl finds File/@Source relative to its working directory.
(cd "$OUT" && wixl -a x64 -D Version="$VERSION" -o "$TMP/bitsync.msi" \
	"$HERE/bitsync.wxs") || die "wixl failed"

SDDL='D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'
# An IDT file: column names, column types, table name and key, rows.
{
	printf 'MsiLockPermissionsEx\tLockObject\tTable\tSDDLText\tCondition\r\n'
	printf 's72\ts72\ts32\ts0\tS255\r\n'
	printf 'MsiLockPermissionsEx\tMsiLockPermissionsEx\r\n'
	printf 'LockDataDir\tDATADIR\tCreateFolder\t%s\t\r\n' "$SDDL"
	printf 'LockManifestDir\tMANIFESTDIR\tCreateFolder\t%s\t\r\n' "$SDDL"
} > "$TMP/MsiLockPermissionsEx.idt"
msibuild "$TMP/bitsync.msi" -i "$TMP/MsiLockPermissionsEx.idt" ||
	die "msibuild could not add the MsiLockPermissionsEx table"
mv "$TMP/bitsync.msi" "$OUT/bitsync.msi"
say "built $OUT/bitsync.msi ($VERSION)"
