#!/usr/bin/env bash
# check-format.sh - fails when a tracked C file differs from what clang-format makes of it with .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find common mta imapd delivery tools tests -name '*.[ch]')
if ! clang-format --dry-run --Werror $files; then
	echo "check-format: run 'clang-format -i' on the files above" >&2
	exit 1
fi
echo "check-format: $(echo "$files" | wc -w) files formatted"
