#!/usr/bin/env bash
# Every shipped shell script parses (bash -n), is executable (the sourced library excepted) and is
# clean under "shellcheck -x"; every Python test compiles. Prints "N passed, M failed"; exit 1 on failure.
# Without shellcheck on PATH its checks are reported as skipped, not passed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 1
passed=0
failed=0
skipped=0
ok() { passed=$((passed + 1)); }
ko() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*" >&2; }

mapfile -t files < <(find scripts tests/shell -type f \( -name '*.sh' -o -path '*/lib/fake_pct' \) | LC_ALL=C sort)
for f in "${files[@]}"; do
    if bash -n "$f" 2>/dev/null; then ok; else ko "bash -n ${f}"; fi
    if [[ "$f" == scripts/phoenix_hypervisor_common_utils.sh || -x "$f" ]]; then ok; else ko "${f} is not executable"; fi
    if command -v shellcheck >/dev/null 2>&1; then
        if shellcheck -x "$f" >/dev/null 2>&1; then ok; else ko "shellcheck -x ${f}: $(shellcheck -x -f gcc "$f" 2>&1 | head -2)"; fi
    else
        skipped=$((skipped + 1))
    fi
done
mapfile -t pys < <(find scripts -type f -name '*.py' | LC_ALL=C sort)
for f in "${pys[@]}"; do
    if python3 -c 'import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' "$f" 2>/dev/null; then ok; else ko "python syntax ${f}"; fi
    if [[ "$(basename "$f")" != test_* || -x "$f" ]]; then ok; else ko "${f} is not executable"; fi
done
((skipped == 0)) || echo "shellcheck not installed: ${skipped} checks skipped"
echo "${passed} passed, ${failed} failed"
((failed == 0))
