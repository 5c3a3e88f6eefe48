#!/usr/bin/env bash
# README.md's first command: sets everything up and shows bitsync at work.
# Installs the dependencies, builds build/bitsync, validates every sample
# manifest for the platform it is written for, shows what bitsync says
# about a manifest a service account could not carry out, then runs the
# agent for real (tests/demo/demo.py): nginx and smbd serve samples/ on
# 127.0.0.1 and the daemon syncs an HTTP set and a UNC set from them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash packaging/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bitsync=build/bitsync
"$bitsync" version

platform_of() { sed -n 's/^# platform: *\([a-z]*\).*/\1/p' "$1" | head -n 1; }
# "# config: KEY = VALUE" lines: the [agent] settings the sample needs on
# its host (allow_commands = yes for on_change), as tests/schema does.
config_of() { sed -n 's/^# config: *\(.*\)$/\1/p' "$1"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo
echo "== the samples, each validated for its platform"
for s in samples/*.yaml samples/*.d; do
  first=$s
  [ -d "$s" ] && first=$(find "$s" -maxdepth 1 -name '*.y*ml' | sort | head -n 1)
  p=$(platform_of "$first"); p=${p:-posix}
  cfg=()
  if [ -n "$(config_of "$first")" ]; then
    { echo "[agent]"; config_of "$first"; } > "$tmp/sample.ini"
    cfg=(-c "$tmp/sample.ini")
    echo "\$ cat sample.ini"; cat "$tmp/sample.ini"
  fi
  echo "\$ bitsync ${cfg[*]:+-c sample.ini }validate --platform $p $s"
  "$bitsync" "${cfg[@]}" validate --platform "$p" "$s"
done

echo
echo "== a manifest written for an interactive user, not a service"
cat > "$tmp/desktop-habits.yaml" <<'YAML'
version: 1
sources:
  dist:
    url: 'Z:\dist'                       # a mapped drive: per logon session
  web:
    url: https://downloads.example.com/  # no proxy decision
sets:
  - name: tools
    source: dist
    destination: '%APPDATA%\Contoso'     # the service's own profile
    files: [tool.exe, ../../secret.txt]
YAML
echo "\$ bitsync validate --platform windows desktop-habits.yaml"
"$bitsync" validate --platform windows "$tmp/desktop-habits.yaml" && rc=0 || rc=$?
echo "(exit code $rc: 1 means invalid)"

echo
echo "== the agent at work: an HTTP set and a UNC set, served on 127.0.0.1"
echo "   by nginx and smbd, kept in sync by 'bitsync run', watched with"
echo "   'bitsync status' until both are in sync"
BITSYNC="$PWD/$bitsync" /usr/bin/python3 tests/demo/demo.py
