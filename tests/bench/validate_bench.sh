#!/usr/bin/env bash
# validate_bench.sh BUILD_DIR [SIZES...]
#
# The manifest-validation benchmark (tests/bench/README.md).  For each size
# (number of sets; default 1000 10000 100000) it generates a manifest with
# gen_manifest.py and times, side by side on the same file:
#
#   bitsync validate    BUILD_DIR/bitsync validate --platform posix FILE
#   libyaml scan        BUILD_DIR/tests/bench/bench_yamlscan FILE   (the floor)
#   pyyaml+jsonschema   /usr/bin/python3 pyyaml_jsonschema.py FILE
#
# Each contender runs once untimed (warm-up; its exit status and output are
# checked), then BENCH_RUNS times (default 5) under `/usr/bin/time -f %M`,
# bitsync's and the scan's runs interleaved (in alternating order) so that
# load changes hit both, PyYAML's after them (see the loop for why).
# Wall time is taken around that command with bash's $EPOCHREALTIME and the
# median is reported; peak RSS is the largest %M over the runs.  Every run
# must exit 0: a benchmark of a failing run is worthless, so the script stops.
#
# A manifest file may not exceed 16 MiB (design §2): sizes above
# BENCH_SINGLE_MAX sets (default 40000) are generated as a drop-in directory
# of 10,000-set files, and all three contenders read the whole directory.
#
# Environment: BENCH_RUNS, BENCH_PY_RUNS (default BENCH_RUNS), BENCH_SEED
# (default 1), BENCH_KEEP=1 keeps the generated manifests, BENCH_ENFORCE=1
# exits 1 when a 10,000-set verdict fails, BENCH_BITSYNC / BENCH_YAMLSCAN /
# BENCH_PYTHON override the programs.
set -euo pipefail

usage() { echo "usage: validate_bench.sh BUILD_DIR [SIZES...]" >&2; exit 64; }
[ $# -ge 1 ] || usage
[ -d "$1" ] || { echo "validate_bench.sh: $1: not a directory" >&2; exit 64; }
build=$(cd "$1" && pwd)
shift
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
for n in "${sizes[@]}"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "validate_bench.sh: bad size '$n'" >&2; exit 64; }
done

here=$(cd "$(dirname "$0")" && pwd)
runs=${BENCH_RUNS:-5}
py_runs=${BENCH_PY_RUNS:-$runs}
seed=${BENCH_SEED:-1}
single_max=${BENCH_SINGLE_MAX:-40000}
python=${BENCH_PYTHON:-/usr/bin/python3}
bitsync=${BENCH_BITSYNC:-$build/bitsync}
scan=${BENCH_YAMLSCAN:-$build/tests/bench/bench_yamlscan}
timebin=/usr/bin/time

die() { echo "validate_bench.sh: $*" >&2; exit 1; }
[ -x "$timebin" ] || die "$timebin missing (Debian package 'time')"
[ -x "$bitsync" ] || die "$bitsync missing: build it first (cmake --build $build)"
[ -x "$scan" ] || die "$scan missing: build target bench_yamlscan"
[ -x "$python" ] || die "$python missing"
"$python" -c 'import yaml; assert yaml.__with_libyaml__' 2>/dev/null ||
	die "$python has no PyYAML with the C loader (Debian package python3-yaml)"
[[ $runs =~ ^[1-9][0-9]*$ && $py_runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"

work=$(mktemp -d "${TMPDIR:-/tmp}/bitsync-bench.XXXXXX")
if [ "${BENCH_KEEP:-0}" = 1 ]; then
	echo "keeping generated manifests in $work"
else
	trap 'rm -rf "$work"' EXIT
fi

echo "# bitsync manifest-validation benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# host: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# runs: $runs timed after 1 warm-up (python: $py_runs); wall = median, RSS = max of /usr/bin/time %M"
echo "#"

. "$here/timing.sh"

# check NAME CMD...: the untimed warm-up run; dies unless it exits 0.  Its
# output is left in $work/warmup.out.
check() {
	local name=$1 rc=0
	shift
	run_once "$work/warmup.out" "$@" || rc=$?
	if [ $rc -ne 0 ]; then
		echo "validate_bench.sh: $name exited $rc on the warm-up run:" >&2
		echo "  $*" >&2
		head -n 40 "$work/warmup.out" | sed 's/^/  | /' >&2
		exit 1
	fi
}

start_overhead

rows=()
declare -A vratio vrss vnet
for n in "${sizes[@]}"; do
	if [ "$n" -gt "$single_max" ]; then
		target=$work/manifest-$n.d
		gencmd="$python $here/gen_manifest.py --sets $n --seed $seed --dropin $target"
		"$python" "$here/gen_manifest.py" --sets "$n" --seed "$seed" --dropin "$target"
		bytes=$(cat "$target"/*.yaml | wc -c)
		shape="drop-in dir, $(find "$target" -mindepth 1 -maxdepth 1 | wc -l) files"
	else
		target=$work/manifest-$n.yaml
		gencmd="$python $here/gen_manifest.py --sets $n --seed $seed > $target"
		"$python" "$here/gen_manifest.py" --sets "$n" --seed "$seed" >"$target"
		bytes=$(wc -c <"$target")
		shape="one file"
	fi
	mb=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1e6 }')
	echo "# $n sets: $mb MB, $shape"
	echo "#   $gencmd"

	cmd_v=("$bitsync" validate --platform posix "$target")
	cmd_s=("$scan" "$target")
	cmd_p=("$python" "$here/pyyaml_jsonschema.py" "$target")

	echo "#   ${cmd_v[*]}"
	check "bitsync validate" "${cmd_v[@]}"
	echo "#     -> $(tail -n1 "$work/warmup.out")"
	nwarn=$(grep -c ': warning:' "$work/warmup.out" || true)
	[ "$nwarn" -eq 0 ] || { echo "#     note: bitsync reported $nwarn warnings, first:"; grep -m3 ': warning:' "$work/warmup.out" | sed 's/^/#       /'; }
	echo "#   ${cmd_s[*]}"
	check "libyaml scan" "${cmd_s[@]}"
	echo "#     -> $(tail -n1 "$work/warmup.out")"
	echo "#   ${cmd_p[*]}"
	check "pyyaml+jsonschema" "${cmd_p[@]}"
	pyout=$(tail -n1 "$work/warmup.out")
	echo "#     -> $pyout"
	case $pyout in
	schema:*) pyname="pyyaml+jsonschema" ;;
	*) pyname="pyyaml (loader only)" ;;
	esac

	# bitsync and the scan interleaved, so that a change of machine load
	# hits both, and in alternating order, so that neither always runs
	# in the other's wake; PyYAML after them: a run of several seconds and
	# 120 MiB right before a 60 ms one measured its aftermath (cold
	# caches, memory being compacted), not the 60 ms one.
	WALLS=() PEAK=()
	for ((i = 0; i < runs; i++)); do
		if [ $((i % 2)) = 0 ]; then
			timed v "${cmd_v[@]}"
			timed s "${cmd_s[@]}"
		else
			timed s "${cmd_s[@]}"
			timed v "${cmd_v[@]}"
		fi
	done
	for ((i = 0; i < py_runs; i++)); do
		timed p "${cmd_p[@]}"
	done
	v_ms=$(median "${WALLS[v]}") v_kb=${PEAK[v]}
	s_ms=$(median "${WALLS[s]}") s_kb=${PEAK[s]}
	p_ms=$(median "${WALLS[p]}") p_kb=${PEAK[p]}

	for c in "bitsync validate|$v_ms|$v_kb" "libyaml scan|$s_ms|$s_kb" "$pyname|$p_ms|$p_kb"; do
		IFS='|' read -r cname ms kb <<<"$c"
		rows+=("$(awk -v n="$n" -v mb="$mb" -v c="$cname" -v ms="$ms" -v kb="$kb" -v sms="$s_ms" -v skb="$s_kb" \
			'BEGIN { printf "%7d  %7s  %-22s  %10.1f  %9.1f  %7.2f  %7.2f", n, mb, c, ms, kb / 1024, ms / sms, kb / skb }')")
	done
	vratio[$n]=$(awk -v a="$v_ms" -v b="$s_ms" 'BEGIN { printf "%.2f", a / b }')
	vnet[$n]=$(awk -v a="$v_ms" -v b="$s_ms" -v o="$base_ms" 'BEGIN { if (b - o > 0) printf "%.2f", (a - o) / (b - o); else print "n/a" }')
	vrss[$n]=$(awk -v a="$v_kb" 'BEGIN { printf "%.1f", a / 1024 }')
done

echo "#"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%7s  %7s  %-22s  %10s  %9s  %7s  %7s\n' sets "file MB" contender "wall ms" "RSS MiB" "wall x" "RSS x"
printf '%7s  %7s  %-22s  %10s  %9s  %7s  %7s\n' "" "" "" "(median)" "(peak)" "scan" "scan"
printf '%s\n' "${rows[@]}"
echo

fail=0
if [ -n "${vratio[10000]:-}" ]; then
	r=${vratio[10000]} m=${vrss[10000]}
	if awk -v r="$r" 'BEGIN { exit !(r <= 2.0) }'; then v=PASS; else v=FAIL fail=1; fi
	echo "verdict (10000 sets): bitsync validate wall / libyaml scan wall = $r (target <= 2.0): $v"
	echo "  (net of the process start overhead of $base_ms ms: ${vnet[10000]}; information only)"
	if awk -v m="$m" 'BEGIN { exit !(m < 16.0) }'; then v=PASS; else v=FAIL fail=1; fi
	echo "verdict (10000 sets): bitsync validate peak RSS = $m MiB (target < 16 MiB): $v"
else
	echo "verdicts: no 10000-set run, none given"
fi
if [ "$fail" = 1 ] && [ "${BENCH_ENFORCE:-0}" = 1 ]; then
	exit 1
fi
exit 0
