#!/usr/bin/env bash
# hypervisor_test_runner.sh - run the host test suites of phoenix_hypervisor_config.json.
# Usage: hypervisor_test_runner.sh [--suite NAME]   (on the Proxmox host; `hypervisor-manager test`)
# Suites: the "tests" object of $PHOENIX_CONFIG, {"<suite>": [{name, type: "script", path}]};
# without --suite every suite runs, in file order. A test's script is <this folder>/<path>
# (scripts/tests/ in a checkout, bin/tests/ installed), run with no argument and the environment
# contract of docs/architecture.md; exit 0 = pass.
# Output: the tests' own output on stderr; on stdout one line per test, "PASS <suite>: <name>" or
# "FAIL <suite>: <name> (<why>)", then "<N> passed, <M> failed". Exit 0 when none failed, 1 when
# any failed or the arguments/config are wrong.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"
phoenix_set_context "hypervisor tests"

tests_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suite=""
while (($# > 0)); do
    case "$1" in
        --suite)
            (($# >= 2)) || log_fatal "--suite needs a name"
            suite="$2"
            shift 2
            ;;
        --suite=*)
            suite="${1#--suite=}"
            shift
            ;;
        -h | --help)
            sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *) log_fatal "unknown argument '$1' (usage: $(basename "$0") [--suite NAME])" ;;
    esac
done

command -v jq >/dev/null 2>&1 || log_fatal "jq is required on the host"
jq -e 'type == "object"' "$PHOENIX_CONFIG" >/dev/null 2>&1 ||
    log_fatal "hypervisor config '${PHOENIX_CONFIG}' is missing or not a JSON object"

mapfile -t suites < <(jq -r '.tests // {} | keys_unsorted[]' "$PHOENIX_CONFIG")
if [[ -n "$suite" ]]; then
    found=0
    for s in "${suites[@]}"; do
        [[ "$s" == "$suite" ]] && found=1
    done
    ((found)) || log_fatal "no test suite '${suite}' in ${PHOENIX_CONFIG} (suites: ${suites[*]:-none})"
    suites=("$suite")
fi
if ((${#suites[@]} == 0)); then
    log_warn "${PHOENIX_CONFIG} defines no host test suites (key \"tests\")"
fi

passed=0
failed=0
result() { # result PASS|FAIL <suite> <name> [why]
    if [[ "$1" == PASS ]]; then
        passed=$((passed + 1))
        printf 'PASS %s: %s\n' "$2" "$3"
    else
        failed=$((failed + 1))
        printf 'FAIL %s: %s (%s)\n' "$2" "$3" "$4"
    fi
}

run_test() { # run_test <suite> <name> <type> <path>
    local s="$1" name="$2" type="$3" path="$4" rc=0
    if [[ "$type" != script ]]; then
        result FAIL "$s" "$name" "unsupported test type '${type}'"
        return 0
    fi
    if [[ ! "$path" =~ ^[A-Za-z0-9_./-]+$ || "$path" == *..* || "$path" == /* ]]; then
        result FAIL "$s" "$name" "invalid test path '${path}'"
        return 0
    fi
    if [[ ! -f "${tests_dir}/${path}" ]]; then
        result FAIL "$s" "$name" "no script ${tests_dir}/${path}"
        return 0
    fi
    log_info "running ${s}: ${name} (${path})"
    bash "${tests_dir}/${path}" </dev/null 1>&2 || rc=$?
    if ((rc == 0)); then
        result PASS "$s" "$name"
    else
        result FAIL "$s" "$name" "exit ${rc}"
    fi
}

for s in "${suites[@]}"; do
    while IFS=$'\x1f' read -r name type path; do
        run_test "$s" "$name" "$type" "$path"
    done < <(jq -r --arg s "$s" '.tests[$s][]? | [(.name // .path // "unnamed"), (.type // "script"), (.path // "")] | join("\u001f")' "$PHOENIX_CONFIG")
done

printf '%s passed, %s failed\n' "$passed" "$failed"
((failed == 0))
