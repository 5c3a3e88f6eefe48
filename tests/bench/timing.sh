# shellcheck shell=bash
# timing.sh - how the benchmarks time a command; sourced by
# validate_bench.sh and plan_bench.sh, which define $work (a scratch
# folder), $timebin (/usr/bin/time) and die().

# run_once OUTFILE CMD...: one timed run; sets WALL_MS and RSS_KB; returns the
# command's exit status.
# shellcheck disable=SC2154  # $timebin and $work: set by the sourcing script
run_once() {
	local out=$1 t0 t1 rc=0
	shift
	t0=$EPOCHREALTIME
	"$timebin" -f %M -o "$work/rss" -- "$@" >"$out" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	WALL_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
	RSS_KB=$(tail -n1 "$work/rss")
	return $rc
}

# timed NAME CMD...: one timed run; appends its wall time to WALLS[NAME] and
# keeps the largest RSS in PEAK[NAME]; dies unless it exits 0.
declare -A WALLS PEAK
timed() {
	local name=$1 rc=0
	shift
	run_once "$work/out" "$@" || rc=$?
	[ $rc -eq 0 ] || { head -n 20 "$work/out" >&2; die "$name exited $rc on a timed run: $*"; }
	WALLS[$name]+="$WALL_MS "
	[ "$RSS_KB" -gt "${PEAK[$name]:-0}" ] && PEAK[$name]=$RSS_KB
	return 0
}

median() {
	# shellcheck disable=SC2086  # $1 is a blank-separated list of numbers
	printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# start_overhead: prints the fixed cost of starting a process under
# /usr/bin/time on this machine, included in every wall time; sets base_ms.
start_overhead() {
	local i
	WALLS=() PEAK=()
	for ((i = 0; i < 5; i++)); do timed base /bin/true; done
	base_ms=$(median "${WALLS[base]}")
	echo "# process start overhead (/usr/bin/time /bin/true, median of 5): $base_ms ms, included in every wall time"
	echo "#"
}
