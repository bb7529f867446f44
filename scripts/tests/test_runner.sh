#!/usr/bin/env bash
# Runs the test suites a guest declares under its "tests" key.
# Usage: test_runner.sh <GUEST_ID> [--suite NAME]
# Reads the guest from $PHOENIX_LXC_CONFIG (.lxc_configs["<ID>"]), else $PHOENIX_VM_CONFIG
# (.vms[] with that vmid). Each test {"name","type":"script","path"} runs as
# <this folder>/<path> <ID> (python3 for .py). Prints one "PASS|FAIL <suite>/<name>" line per
# test on stdout (test output goes to stderr) and a total "N passed, M failed".
# Exit: 0 all passed; 1 a test failed; 2 usage error, unknown guest or unknown suite.
set -euo pipefail

die() {
    echo "test_runner.sh: $*" >&2
    exit 2
}

[[ $# -ge 1 ]] || die "usage: test_runner.sh <GUEST_ID> [--suite NAME]"
id="$1"
shift
[[ "$id" =~ ^[0-9]+$ ]] || die "invalid guest ID '${id}'"
suite=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --suite) [[ $# -ge 2 ]] || die "--suite needs a name"; suite="$2"; shift 2 ;;
        --suite=*) suite="${1#--suite=}"; shift ;;
        *) die "unknown argument '$1'" ;;
    esac
done
command -v jq >/dev/null 2>&1 || die "jq is required"

tests_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lxc_config="${PHOENIX_LXC_CONFIG:-}"
vm_config="${PHOENIX_VM_CONFIG:-}"

tests_json=""
if [[ -n "$lxc_config" && -r "$lxc_config" ]] && jq -e --arg id "$id" '.lxc_configs[$id] != null' "$lxc_config" >/dev/null; then
    tests_json="$(jq -c --arg id "$id" '.lxc_configs[$id].tests // {}' "$lxc_config")"
elif [[ -n "$vm_config" && -r "$vm_config" ]] && jq -e --arg id "$id" '[.vms[]? | select((.vmid | tostring) == $id)] | length > 0' "$vm_config" >/dev/null; then
    tests_json="$(jq -c --arg id "$id" '[.vms[] | select((.vmid | tostring) == $id)][0].tests // {}' "$vm_config")"
else
    die "guest ${id} is not defined in PHOENIX_LXC_CONFIG (${lxc_config:-unset}) or PHOENIX_VM_CONFIG (${vm_config:-unset})"
fi

mapfile -t suites < <(jq -r 'keys_unsorted[]' <<<"$tests_json")
if [[ -n "$suite" ]]; then
    found=0
    for s in "${suites[@]}"; do
        [[ "$s" == "$suite" ]] && found=1
    done
    [[ "$found" -eq 1 ]] || die "guest ${id} has no test suite '${suite}' (known: ${suites[*]:-none})"
    suites=("$suite")
fi

passed=0
failed=0
for s in "${suites[@]}"; do
    count="$(jq -r --arg s "$s" '.[$s] | length' <<<"$tests_json")"
    for ((i = 0; i < count; i++)); do
        name="$(jq -r --arg s "$s" --argjson i "$i" '.[$s][$i].name // "unnamed"' <<<"$tests_json")"
        path="$(jq -r --arg s "$s" --argjson i "$i" '.[$s][$i].path // ""' <<<"$tests_json")"
        script="${tests_dir}/${path}"
        ok=0
        if [[ -z "$path" || "$path" == /* || "$path" == *..* ]]; then
            echo "test_runner.sh: ${s}/${name}: invalid path '${path}'" >&2
        elif [[ ! -f "$script" ]]; then
            echo "test_runner.sh: ${s}/${name}: ${script} does not exist" >&2
        elif [[ "$script" == *.py ]]; then
            python3 "$script" "$id" >&2 && ok=1
        else
            bash "$script" "$id" >&2 && ok=1
        fi
        if [[ "$ok" -eq 1 ]]; then
            echo "PASS ${s}/${name}"
            passed=$((passed + 1))
        else
            echo "FAIL ${s}/${name}"
            failed=$((failed + 1))
        fi
    done
done
echo "${passed} passed, ${failed} failed"
[[ "$failed" -eq 0 ]]
