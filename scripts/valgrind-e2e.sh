#!/usr/bin/env bash
# valgrind-e2e.sh - runs the end-to-end tests with every daemon under valgrind; fails on any memory error or definite leak.
#
# usage: scripts/valgrind-e2e.sh [--no-build] [TEST...]
#   TEST    e2e module names (test_smtp test_faults ...); default: every tests/e2e/test_*.py
# Builds build-valgrind/ (RelWithDebInfo, no sanitizers), then runs each test module with
# MAIL_TEST_WRAPPER set so that harness.py starts mtad (and imapd) under valgrind; the
# commands the tests run (sendmail, mailctl, deliver) run under valgrind too, through
# wrappers in build-valgrind/valgrind/tree/bin. The daemons stop with SIGTERM through an orderly
# shutdown, so at exit every block must be freed: "definitely lost" counts as an error,
# "still reachable" does not. Valgrind's reports land in
# build-valgrind/valgrind/<test>.<pid>.log (<test>.<command>.<pid>.log for the commands);
# the script prints those with errors and exits 1 if any test failed or any report has
# errors. VALGRIND_BUILD_DIR=build --no-build uses the normal build instead.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${VALGRIND_BUILD_DIR:-build-valgrind}
BUILD=1
TESTS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--no-build) BUILD=0; shift ;;
	-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) TESTS+=("${1%.py}"); shift ;;
	esac
done
if [ "$BUILD" = 1 ]; then
	BUILD_DIR="$BUILD_DIR" scripts/build.sh >/dev/null || { echo "valgrind-e2e.sh: build failed" >&2; exit 2; }
fi
if [ ${#TESTS[@]} -eq 0 ]; then
	for f in tests/e2e/test_*.py; do
		TESTS+=("$(basename "$f" .py)")
	done
fi
command -v valgrind >/dev/null || { echo "valgrind-e2e.sh: valgrind is not installed" >&2; exit 2; }

case "$BUILD_DIR" in
/*) ;;
*) BUILD_DIR="$ROOT/$BUILD_DIR" ;;
esac
LOGS="$BUILD_DIR/valgrind"
rm -rf "$LOGS"
mkdir -p "$LOGS"
failed=0
for t in "${TESTS[@]}"; do
	export MAIL_TEST_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite
		--errors-for-leak-kinds=definite --error-exitcode=99 --track-fds=no --vgdb=no
		--log-file=$LOGS/$t.%p.log"
	# The harness wraps the daemons itself; every other program gets a wrapper script.
	TREE="$LOGS/tree"
	rm -rf "$TREE"
	mkdir -p "$TREE/bin"
	ln -s "$BUILD_DIR/tests" "$TREE/tests"	# the test milters
	for exe in "$BUILD_DIR"/bin/*; do
		name=$(basename "$exe")
		case "$name" in
		mtad|imapd) ln -s "$exe" "$TREE/bin/$name" ;;
		*) printf '#!/bin/sh\nexec %s --log-file=%s %s "$@"\n' \
			"$(echo "${MAIL_TEST_WRAPPER%--log-file=*}" | tr -s ' \t\n' ' ')" \
			"$LOGS/$t.$name.%p.log" "$exe" >"$TREE/bin/$name"
		   chmod +x "$TREE/bin/$name" ;;
		esac
	done
	start=$(date +%s)
	(cd tests/e2e && MAIL_BUILD_DIR="$TREE" PYTHONDONTWRITEBYTECODE=1 \
		python3 -m unittest "$t" >"$LOGS/$t.out" 2>&1)
	rc=$?
	bad=
	for log in "$LOGS/$t".*.log; do
		[ -s "$log" ] || continue
		# A daemon killed with SIGKILL leaves no summary; anything valgrind wrote is a finding.
		if grep -qE '^==[0-9]+== [A-Za-z]' "$log"; then
			bad="$bad $log"
		fi
	done
	if [ $rc -ne 0 ]; then
		echo "$t: FAILED under valgrind ($(( $(date +%s) - start )) s), output in $LOGS/$t.out"
		tail -30 "$LOGS/$t.out" | sed 's/^/  /'
		failed=1
	elif [ -n "$bad" ]; then
		echo "$t: valgrind errors ($(( $(date +%s) - start )) s)"
		failed=1
	else
		echo "$t: clean ($(( $(date +%s) - start )) s)"
	fi
	for log in $bad; do
		echo "  $log:"
		head -60 "$log" | sed 's/^/    /'
	done
done
exit $failed
