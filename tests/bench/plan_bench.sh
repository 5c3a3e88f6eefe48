#!/usr/bin/env bash
# plan_bench.sh BUILD_DIR [SIZES...]
#
# The plan benchmark (tests/bench/README.md; issue 4: `plan` of 10,000 sets
# against 10,000 recorded sets, all in sync, under 100 ms).  For each size
# (number of sets; default 1000 10000) it builds a host in sync:
#
#   - a manifest from gen_manifest.py, its destinations moved from
#     /srv/bitsync/ into the benchmark's own folder;
#   - an agent config naming that manifest and a fresh state directory;
#   - every declared file created (what `plan --format json` lists);
#   - every set recorded as in sync (`bench_plan CONFIG seed`: spec hash,
#     files with their size and mtime, as a completed apply leaves them);
#
# checks that `bitsync plan` then reports every set in sync (exit 0 with
# --detailed-exitcode), and times, side by side on the same files:
#
#   bitsync validate   BUILD_DIR/bitsync validate --platform posix MANIFEST
#                      (the floor: plan reads and validates the same file)
#   bitsync plan       BUILD_DIR/bitsync -c CONFIG plan
#                      (the whole command: config, state, the validated
#                      manifest from its cache, specs, a stat of every file,
#                      the plan, its text)
#   plan, cache miss   the same right after the manifest changed (the cache
#                      removed first): validation, and the cache written
#
# Then, on the same host, the idle benchmark (issue 4: "CPU time and RSS of
# `run` over 60 s with 10,000 declared sets in sync"): `bitsync run` starts
# with a status_file, its first pass is awaited (the file appears), and its
# CPU time (utime + stime from /proc/PID/stat) and RSS are read at the start
# and the end of BENCH_IDLE seconds (default 60; 0 skips it).  The daemon
# must still be running at the end and must have started no job.
#
# Each runs once untimed, then BENCH_RUNS times (default 9) under
# `/usr/bin/time -f %M`, interleaved; wall time is bash's $EPOCHREALTIME
# around that, the median is reported; peak RSS is the largest %M.  Every
# run must exit 0.
#
# Environment: BENCH_RUNS, BENCH_IDLE, BENCH_SEED (default 1), BENCH_KEEP=1 keeps the
# folder, BENCH_ENFORCE=1 exits 1 when the 10,000-set verdict fails,
# BENCH_BITSYNC / BENCH_PLANSEED / BENCH_PYTHON override the programs.
set -euo pipefail

usage() { echo "usage: plan_bench.sh BUILD_DIR [SIZES...]" >&2; exit 64; }
[ $# -ge 1 ] || usage
[ -d "$1" ] || { echo "plan_bench.sh: $1: not a directory" >&2; exit 64; }
build=$(cd "$1" && pwd)
shift
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
for n in "${sizes[@]}"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "plan_bench.sh: bad size '$n'" >&2; exit 64; }
done

here=$(cd "$(dirname "$0")" && pwd)
runs=${BENCH_RUNS:-9}
idle=${BENCH_IDLE:-60}
seed=${BENCH_SEED:-1}
python=${BENCH_PYTHON:-/usr/bin/python3}
bitsync=${BENCH_BITSYNC:-$build/bitsync}
planseed=${BENCH_PLANSEED:-$build/tests/plan/bench_plan}
timebin=/usr/bin/time

die() { echo "plan_bench.sh: $*" >&2; exit 1; }
[ -x "$timebin" ] || die "$timebin missing (Debian package 'time')"
[ -x "$bitsync" ] || die "$bitsync missing: build it first (cmake --build $build)"
[ -x "$planseed" ] || die "$planseed missing: build target bench_plan"
[ -x "$python" ] || die "$python missing"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $idle =~ ^[0-9]+$ ]] || die "BENCH_IDLE must be a number of seconds"

work=$(mktemp -d "${TMPDIR:-/tmp}/bitsync-planbench.XXXXXX")
DAEMON=
# The idle benchmark's daemon never outlives the script.
trap '[ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null; wait; [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
[ "${BENCH_KEEP:-0}" = 1 ] && echo "keeping the benchmark's folder $work"

echo "# bitsync plan benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# host: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# runs: $runs timed after 1 warm-up; wall = median, RSS = max of /usr/bin/time %M"
echo "#"

. "$here/timing.sh"

start_overhead

# idle_run CONFIG DIR: the idle benchmark on one host; sets IDLE_CPU (% of
# one CPU over the window), IDLE_RSS and IDLE_HWM (MiB).
idle_run() {
	local config=$1 dir=$2 pid t0 t1 c0 c1 tck i
	tck=$(getconf CLK_TCK)
	cp "$config" "$dir/run.ini"
	printf 'status_file = %s\n' "$dir/status.json" >>"$dir/run.ini"
	chmod 600 "$dir/run.ini"
	"$bitsync" -c "$dir/run.ini" run 2>"$dir/run.err" &
	pid=$! DAEMON=$!
	i=0
	while [ ! -s "$dir/status.json" ] && [ $i -lt 600 ]; do
		kill -0 "$pid" 2>/dev/null || { tail -n 5 "$dir/run.err" >&2; die "run exited before its first pass"; }
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$dir/status.json" ] || die "run wrote no status_file within 60 s"
	sleep 1	# the first pass's last writes
	cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
	c0=$(cpu) t0=$EPOCHREALTIME
	sleep "$idle"
	c1=$(cpu) t1=$EPOCHREALTIME
	kill -0 "$pid" 2>/dev/null || die "run died during the idle window"
	IDLE_RSS=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
	IDLE_HWM=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
	IDLE_CPU=$(awk -v c="$((c1 - c0))" -v t="$tck" -v a="$t0" -v b="$t1" \
		'BEGIN { printf "%.3f", 100 * c / t / (b - a) }')
	kill -TERM "$pid"
	wait "$pid" || die "run did not stop cleanly on SIGTERM"
	DAEMON=
	if grep -q "created" "$dir/run.err"; then
		grep "created" "$dir/run.err" | head -n 3 >&2
		die "run created jobs on a host in sync"
	fi
}

rows=()
declare -A pms prss pratio icpu irss
for n in "${sizes[@]}"; do
	host=$work/host-$n
	mkdir -p "$host/dest"
	manifest=$host/manifest.yaml
	config=$host/bitsync.ini
	"$python" "$here/gen_manifest.py" --sets "$n" --seed "$seed" |
		sed "s#destination: /srv/bitsync/#destination: $host/dest/#" >"$manifest"
	printf '[agent]\nmanifest = %s\nstate_dir = %s\n' "$manifest" "$host/state" >"$config"
	chmod 600 "$manifest" "$config"
	# Every declared file, 0-99 bytes.
	"$bitsync" -c "$config" plan --format json >"$host/plan.json" ||
		die "bitsync plan --format json failed on the fresh host"
	nfiles=$("$python" - "$host/plan.json" <<'EOF'
import json, os, sys
n = 0
for s in json.load(open(sys.argv[1]))["sets"]:
    for f in s["files"]:
        os.makedirs(os.path.dirname(f["local"]), exist_ok=True)
        with open(f["local"], "wb") as out:
            out.write(b"x" * (n % 100))
        n += 1
print(n)
EOF
)
	"$planseed" "$config" seed >/dev/null || die "$planseed $config seed failed"
	rc=0
	"$bitsync" -c "$config" plan --detailed-exitcode >"$host/check.out" 2>&1 || rc=$?
	[ $rc -eq 0 ] || { tail -n 5 "$host/check.out" >&2; die "$n sets: plan is not 'no changes' after seeding (exit $rc)"; }
	grep -q " $n in sync" "$host/check.out" ||
		{ tail -n 3 "$host/check.out" >&2; die "$n sets: plan does not report $n in sync"; }
	echo "# $n sets, $nfiles files, $(($(wc -c <"$manifest") / 1000)) kB of YAML; plan says: $(tail -n1 "$host/check.out")"

	cmd_v=("$bitsync" validate --platform posix "$manifest")
	cmd_p=("$bitsync" -c "$config" plan)
	echo "#   ${cmd_v[*]}"
	echo "#   ${cmd_p[*]}"
	run_once "$work/warmup.out" "${cmd_v[@]}" || die "validate failed on the warm-up run"
	run_once "$work/warmup.out" "${cmd_p[@]}" || die "plan failed on the warm-up run"

	WALLS=() PEAK=()
	for ((i = 0; i < runs; i++)); do
		timed v "${cmd_v[@]}"
		timed p "${cmd_p[@]}"
		# The first plan after the manifest changed: the validated-
		# manifest cache misses, is rebuilt, and the next plan hits.
		rm -f "$host/state/manifest.cache"
		timed m "${cmd_p[@]}"
		[ -s "$host/state/manifest.cache" ] || die "plan wrote no manifest cache"
	done
	v_ms=$(median "${WALLS[v]}") v_kb=${PEAK[v]}
	p_ms=$(median "${WALLS[p]}") p_kb=${PEAK[p]}
	m_ms=$(median "${WALLS[m]}") m_kb=${PEAK[m]}
	for c in "bitsync validate|$v_ms|$v_kb" "bitsync plan|$p_ms|$p_kb" \
	    "plan, cache miss|$m_ms|$m_kb"; do
		IFS='|' read -r cname ms kb <<<"$c"
		rows+=("$(awk -v n="$n" -v c="$cname" -v ms="$ms" -v kb="$kb" -v vms="$v_ms" \
			'BEGIN { printf "%7d  %-18s  %10.1f  %9.1f  %9.2f", n, c, ms, kb / 1024, ms / vms }')")
	done
	if [ "$idle" -gt 0 ]; then
		idle_run "$config" "$host"
		echo "#   bitsync run, ${idle} s idle after its first pass: CPU $IDLE_CPU % of one core, RSS $IDLE_RSS MiB (peak $IDLE_HWM MiB, the first pass included)"
		icpu[$n]=$IDLE_CPU irss[$n]=$IDLE_RSS
	fi
	pms[$n]=$p_ms
	prss[$n]=$(awk -v a="$p_kb" 'BEGIN { printf "%.1f", a / 1024 }')
	pratio[$n]=$(awk -v a="$p_ms" -v b="$v_ms" 'BEGIN { printf "%.2f", a / b }')
done

echo "#"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%7s  %-18s  %10s  %9s  %9s\n' sets contender "wall ms" "RSS MiB" "wall x"
printf '%7s  %-18s  %10s  %9s  %9s\n' "" "" "(median)" "(peak)" "validate"
printf '%s\n' "${rows[@]}"
echo

fail=0
if [ -n "${pms[10000]:-}" ]; then
	m=${pms[10000]}
	if awk -v m="$m" 'BEGIN { exit !(m < 100.0) }'; then v=PASS; else v=FAIL fail=1; fi
	echo "verdict (10000 sets): bitsync plan wall = $m ms (target < 100 ms): $v"
	echo "  (plan / validate of the same manifest: ${pratio[10000]}; peak RSS ${prss[10000]} MiB; information only)"
else
	echo "verdict: no 10000-set run, none given"
fi
if [ -n "${icpu[10000]:-}" ]; then
	if awk -v c="${icpu[10000]}" -v r="${irss[10000]}" 'BEGIN { exit !(c < 0.1 && r < 16) }'; then v=PASS; else v=FAIL fail=1; fi
	echo "verdict (10000 sets): bitsync run idle over $idle s = ${icpu[10000]} % CPU, ${irss[10000]} MiB RSS (targets < 0.1 %, < 16 MiB): $v"
fi
if [ "$fail" = 1 ] && [ "${BENCH_ENFORCE:-0}" = 1 ]; then
	exit 1
fi
exit 0
