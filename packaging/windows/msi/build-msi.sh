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
# wixl finds File/@Source relative to its working directory (and refuses
# absolute ones): the files go into a staging folder first.
mkdir -p "$TMP/stage/schema" "$TMP/stage/examples"
cp "$OUT/bitsync.exe" "$TMP/stage/"
cp "$ROOT/schema/manifest.schema.json" "$TMP/stage/schema/"
cp "$ROOT/samples/gpo-installers.yaml" "$ROOT/samples/https-proxy.yaml" \
	"$ROOT/samples/helper-token-share.yaml" "$TMP/stage/examples/"
(cd "$TMP/stage" && wixl -a x64 -D Version="$VERSION" -o "$TMP/bitsync.msi" \
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

# The service's failure actions, as `bitsync service install` sets them:
# the numbers of agent/win/service.h.  Event 5: on install and reinstall.
# Actions: 1 = restart, 0 = none; one delay per action.
hdr=$ROOT/agent/win/service.h
def() { sed -n "s/^#define[[:space:]]*$1[[:space:]]*\([0-9]*\).*/\1/p" "$hdr"; }
delay=$(def SERVICE_RESTART_DELAY_MS) restarts=$(def SERVICE_RESTARTS) reset=$(def SERVICE_FAILURE_RESET_S)
if [ -z "$delay" ] || [ -z "$restarts" ] || [ -z "$reset" ]; then
	die "cannot read the failure actions from $hdr"
fi
actions='' delays=''
for ((i = 0; i <= restarts; i++)); do
	a=0
	[ "$i" -lt "$restarts" ] && a=1
	actions+=${actions:+[~]}$a
	delays+=${delays:+[~]}$delay
done
{
	printf 'MsiServiceConfigFailureActions\tName\tEvent\tResetPeriod\tRebootMessage\tCommand\tActions\tDelayActions\tComponent_\r\n'
	printf 's72\ts255\ti2\tI4\tL255\tL255\tS255\tS255\ts72\r\n'
	printf 'MsiServiceConfigFailureActions\tMsiServiceConfigFailureActions\r\n'
	printf 'AgentFailureActions\tbitsync\t5\t%s\t\t\t%s\t%s\tAgent\r\n' "$reset" "$actions" "$delays"
} > "$TMP/MsiServiceConfigFailureActions.idt"
# MsiConfigureServices applies that table (after InstallServices).  Then
# ConfigureAgentService runs the installed bitsync.exe (type 18: an exe of
# the File table; +1024 deferred, +2048 as LocalSystem) with "service
# configure": the quoted ImagePath and the same failure actions through
# the agent's own code.  Not on removal.
msibuild "$TMP/bitsync.msi" -i "$TMP/MsiServiceConfigFailureActions.idt" \
	-q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('MsiConfigureServices', 'VersionNT', 5850)" \
	-q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('ConfigureAgentService', 3090, 'bitsync.exe', 'service configure')" \
	-q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('ConfigureAgentService', 'VersionNT AND NOT (REMOVE~=\"ALL\")', 5860)" ||
	die "msibuild could not add the service's failure actions and configure step"
mv "$TMP/bitsync.msi" "$OUT/bitsync.msi"
say "built $OUT/bitsync.msi ($VERSION)"
