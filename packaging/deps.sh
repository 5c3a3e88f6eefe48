#!/usr/bin/env bash
# Installs every Debian package listed in packaging/apt-packages.txt, then
# the pinned npm packages of packaging/npm-packages.txt into
# /opt/bitsync-node (BITSYNC_NODE_PREFIX overrides it).
# Idempotent: what is already present is skipped without touching apt or npm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/apt-packages.txt" | grep -v '^$')

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Debian 12's nodejs ships npm as its own package; a nodejs that bundles npm
# (and Conflicts: npm) must not be fought over
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -ne 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

prefix=${BITSYNC_NODE_PREFIX:-/opt/bitsync-node}
mapfile -t npms < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/npm-packages.txt" | grep -v '^$')
want=$(printf '%s\n' "${npms[@]}" | sort)
have=$(cat "$prefix/.installed" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  if [ "$(id -u)" -ne 0 ] && [ ! -w "$(dirname "$prefix")" ]; then
    echo "deps.sh: npm packages missing in $prefix; run as root to install them" >&2
    exit 1
  fi
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --save-exact "${npms[@]}"
  printf '%s\n' "$want" >"$prefix/.installed"
fi
