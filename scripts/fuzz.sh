#!/usr/bin/env bash
# fuzz.sh - builds every libFuzzer target with clang and runs each for a while on its seed corpus.
#
# usage: scripts/fuzz.sh [--seconds N] [--target NAME]... [--no-build] [--keep DIR]
#   --seconds N   run each target N seconds (default 20)
#   --target NAME only this target (fuzz_mime or mime); repeatable
#   --no-build    use the existing build-fuzz/ as it is
#   --keep DIR    keep the new inputs found (DIR/<target>/) instead of deleting them
# Seeds come from tests/fuzz/corpus/<name>/ (or corpus/fuzz_<name>/) and are only read: new
# inputs go to a temporary directory. A crash, leak, timeout or sanitizer report makes the
# script print the crashing file and exit 1 after the remaining targets ran.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_PER=20
BUILD=1
KEEP=
TARGETS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECONDS_PER=$2; shift 2 ;;
	--target) TARGETS+=("fuzz_${2#fuzz_}"); shift 2 ;;
	--no-build) BUILD=0; shift ;;
	--keep) KEEP=$2; shift 2 ;;
	-h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
failed=0
total_runs=0
printf '%-20s %10s %8s %7s  %s\n' target runs exec/s corpus result
for t in "${TARGETS[@]}"; do
	bin="$BUILD_DIR/fuzz/$t"
	short=${t#fuzz_}
	if [ ! -x "$bin" ]; then
		echo "fuzz.sh: no binary $bin" >&2
		failed=1
		continue
	fi
	seeds=
	for d in "tests/fuzz/corpus/$short" "tests/fuzz/corpus/$t"; do
		[ -d "$d" ] && seeds=$d && break
	done
	new="$WORK/$t/new"
	art="$WORK/$t/artifacts"
	mkdir -p "$new" "$art"
	args=(-max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
	      -artifact_prefix="$art/")
	[ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
	log="$WORK/$t/log"
	"$bin" "${args[@]}" "$new" ${seeds:+"$seeds"} >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	ncorp=$(find "$new" -type f | wc -l)
	total_runs=$((total_runs + ${runs:-0}))
	crash=$(find "$art" -type f | head -1)
	if [ $rc -ne 0 ] || [ -n "$crash" ]; then
		failed=1
		printf '%-20s %10s %8s %7s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "$ncorp" "FAILED (exit $rc)"
		mkdir -p "$ROOT/$BUILD_DIR/fuzz-crashes"
		for f in $(find "$art" -type f); do
			cp "$f" "$ROOT/$BUILD_DIR/fuzz-crashes/$t-$(basename "$f")"
			echo "  crashing input: $BUILD_DIR/fuzz-crashes/$t-$(basename "$f")"
		done
		grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$log" | head -20 | sed 's/^/  /'
		cp "$log" "$ROOT/$BUILD_DIR/fuzz-crashes/$t.log"
		echo "  full log: $BUILD_DIR/fuzz-crashes/$t.log"
	else
		printf '%-20s %10s %8s %7s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "$ncorp" ok
	fi
	if [ -n "$KEEP" ]; then
		mkdir -p "$KEEP/$t" && cp -r "$new/." "$KEEP/$t/"
	fi
done
echo "total executions: $total_runs"
exit $failed
