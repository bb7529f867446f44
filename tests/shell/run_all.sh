#!/usr/bin/env bash
# Runs every tests/shell/test_*.sh; prints each one's summary and a total line. Exit 1 if any failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bad=0
for t in "${here}"/test_*.sh; do
    printf '== %s: ' "$(basename "$t")"
    if out="$("$t" 2>&1)"; then
        tail -n 1 <<<"$out"
    else
        bad=$((bad + 1))
        printf 'FAILED\n%s\n' "$out"
    fi
done
echo "shell test scripts failed: ${bad}"
((bad == 0))
