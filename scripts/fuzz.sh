#!/usr/bin/env bash
# fuzz.sh - builds every libFuzzer target with clang and runs each for a while on its seed corpus.
#
# usage: scripts/fuzz.sh [--seconds N] [--target NAME]... [--no-build] [--keep DIR] [--jobs N]
#   --seconds N   run each target N seconds (default 20)
#   --target NAME only this target (fuzz_mime or mime); repeatable
#   --no-build    use the existing build-fuzz/ as it is
#   --keep DIR    keep the new inputs found (DIR/<target>/) instead of deleting them
#   --jobs N      run N targets at the same time (default 1)
# Seeds come from tests/fuzz/corpus/<name>/ (or corpus/fuzz_<name>/) and are only read: new
# inputs go to a temporary directory. Each target's full libFuzzer log is kept in
# build-fuzz/fuzz-logs/<target>.log. Per target the table gives executions, exec/s, final
# coverage (cov = edges, ft = features), CPU seconds used (user+sys) and new corpus files.
# A crash, leak, timeout or sanitizer report makes the script print the crashing file and
# exit 1 after the remaining targets ran. Run it under `nice` on a shared machine.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_PER=20
BUILD=1
KEEP=
JOBS=1
TARGETS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECONDS_PER=$2; shift 2 ;;
	--target) TARGETS+=("fuzz_${2#fuzz_}"); shift 2 ;;
	--no-build) BUILD=0; shift ;;
	--keep) KEEP=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	-h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

WORK=$(mktemp -d /tmp/fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if [ "$BUILD" = 1 ]; then
	# UBSan findings must stop the run like ASan ones do, not just print.
	if ! CC=clang BUILD_DIR="$BUILD_DIR" scripts/build.sh -DENABLE_FUZZ=ON \
		-DCMAKE_C_FLAGS=-fno-sanitize-recover=undefined >"$WORK/build.log" 2>&1; then
		tail -40 "$WORK/build.log" >&2
		echo "fuzz.sh: build failed" >&2
		exit 2
	fi
fi
if [ ${#TARGETS[@]} -eq 0 ]; then
	for src in tests/fuzz/fuzz_*.c; do
		TARGETS+=("$(basename "$src" .c)")
	done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
LOGS="$ROOT/$BUILD_DIR/fuzz-logs"
mkdir -p "$LOGS"
ROW='%-24s %12s %8s %6s %7s %9s %7s  %s\n'

# run_target NAME: fuzzes one target, leaves its table row in $WORK/NAME/row and its
# executions in $WORK/NAME/runs; returns 1 on a finding.
run_target() {
	local t=$1 bin="$BUILD_DIR/fuzz/$1" short=${1#fuzz_} seeds= d
	local new="$WORK/$1/new" art="$WORK/$1/artifacts" log="$LOGS/$1.log"
	mkdir -p "$new" "$art"
	if [ ! -x "$bin" ]; then
		printf "$ROW" "$t" - - - - - - "no binary $bin" >"$WORK/$t/row"
		return 1
	fi
	for d in "tests/fuzz/corpus/$short" "tests/fuzz/corpus/$t"; do
		[ -d "$d" ] && seeds=$d && break
	done
	local args=(-max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
	            -artifact_prefix="$art/")
	[ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
	/usr/bin/time -f '%U %S' -o "$WORK/$t/cpu" "$bin" "${args[@]}" "$new" ${seeds:+"$seeds"} >"$log" 2>&1
	local rc=$?
	local runs rate cov ft cpu ncorp crash result=ok
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o ' cov: [0-9]*' "$log" | tail -1 | tr -dc 0-9)
	ft=$(grep -o ' ft: [0-9]*' "$log" | tail -1 | tr -dc 0-9)
	cpu=$(awk 'END { if (NF == 2) printf "%.0f", $1 + $2 }' "$WORK/$t/cpu" 2>/dev/null)
	ncorp=$(find "$new" -type f | wc -l)
	echo "${runs:-0}" >"$WORK/$t/runs"
	crash=$(find "$art" -type f | head -1)
	if [ $rc -ne 0 ] || [ -n "$crash" ]; then
		result="FAILED (exit $rc)"
		mkdir -p "$ROOT/$BUILD_DIR/fuzz-crashes"
		{
			for f in $(find "$art" -type f); do
				cp "$f" "$ROOT/$BUILD_DIR/fuzz-crashes/$t-$(basename "$f")"
				echo "  crashing input: $BUILD_DIR/fuzz-crashes/$t-$(basename "$f")"
			done
			grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$log" | head -20 | sed 's/^/  /'
			echo "  full log: $BUILD_DIR/fuzz-logs/$t.log"
		} >"$WORK/$t/detail"
	fi
	printf "$ROW" "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${cpu:-?}" "$ncorp" \
		"$result" >"$WORK/$t/row"
	[ -f "$WORK/$t/detail" ] && cat "$WORK/$t/detail" >>"$WORK/$t/row"
	if [ -n "$KEEP" ]; then
		mkdir -p "$KEEP/$t" && cp -r "$new/." "$KEEP/$t/"
	fi
	[ "$result" = ok ]
}

failed=0
total_runs=0
printf "$ROW" target runs exec/s cov ft cpu-s corpus result
# Targets run in the background, at most $JOBS at once; each row prints when its run ends.
running=0
for t in "${TARGETS[@]}"; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n || failed=1
		running=$((running - 1))
	fi
	mkdir -p "$WORK/$t"
	( run_target "$t"; rc=$?; cat "$WORK/$t/row"; exit $rc ) &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || failed=1
	running=$((running - 1))
done
for t in "${TARGETS[@]}"; do
	total_runs=$((total_runs + $(cat "$WORK/$t/runs" 2>/dev/null || echo 0)))
done
echo "total executions: $total_runs"
exit $failed
