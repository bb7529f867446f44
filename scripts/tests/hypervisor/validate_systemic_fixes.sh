#!/usr/bin/env bash
# Hypervisor test: the three config files and the installed scripts agree with each other, so a
# run cannot fail half-way on a missing script, a dangling reference or a missing AppArmor profile.
# Usage: validate_systemic_fixes.sh   (host, no argument; exit 0 = all checks pass)
# Checks: JSON validity; a feature script per LXC/VM feature; every application_script; every test
# script path; clone_from_ctid / clone_from_vmid / dependencies point at defined guests; every
# AppArmor profile other than "unconfined" exists under $PHOENIX_HOST_ROOT/etc/apparmor.d/.
# shellcheck disable=SC2016 # jq programs use $variables of their own
set -uo pipefail
# shellcheck source=SCRIPTDIR/../../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../phoenix_hypervisor_common_utils.sh"
phoenix_set_context "hypervisor validate_systemic_fixes"
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

passed=0
failed=0
check() { # check <description> <argv...>
    local what="$1"
    shift
    if "$@" >/dev/null 2>&1; then
        passed=$((passed + 1))
        log_debug "ok: ${what}"
    else
        failed=$((failed + 1))
        log_error "FAIL: ${what}"
    fi
}
is_exec() { [[ -f "$1" && -x "$1" ]]; }
name_ok() { [[ "$1" =~ ^[A-Za-z0-9_.-]+$ ]]; }
script_ok() { name_ok "$2" && is_exec "${PHOENIX_SCRIPTS_DIR}/$1"; } # script_ok <relative path> <name used>
apparmor_ok() { name_ok "$1" && [[ -f "${PHOENIX_HOST_ROOT}/etc/apparmor.d/$1" ]]; }
path_ok() { [[ "$1" =~ ^[A-Za-z0-9_./-]+$ && "$1" != *..* ]] && is_exec "${PHOENIX_SCRIPTS_DIR}/tests/$1"; }

lxc_file="$(get_lxc_config_file)"
vm_file="$(get_vm_config_file)"
for f in "$PHOENIX_CONFIG" "$lxc_file" "$vm_file"; do
    check "${f} is valid JSON" jq -e . "$f"
done

if jq -e . "$lxc_file" >/dev/null 2>&1; then
    while IFS= read -r f; do
        check "LXC feature '${f}' has an executable script" \
            script_ok "lxc_setup/phoenix_hypervisor_feature_install_${f}.sh" "$f"
    done < <(jq -r '[.lxc_configs[].features[]?] | unique | .[]' "$lxc_file")
    while IFS= read -r s; do
        check "application script '${s}' exists" script_ok "lxc_setup/${s}" "$s"
    done < <(jq -r '[.lxc_configs[].application_script // empty] | unique | .[]' "$lxc_file")
    while IFS= read -r p; do
        check "LXC test script '${p}' exists" path_ok "$p"
    done < <(jq -r '[.lxc_configs[].tests // {} | .[][]? | select(.type == "script") | .path] | unique | .[]' "$lxc_file")
    while IFS=' ' read -r id ref; do
        check "CT ${id}: clone_from_ctid/dependency ${ref} is a defined guest" \
            jq -e --arg r "$ref" '(.lxc_configs | has($r))' "$lxc_file"
    done < <(jq -r '.lxc_configs | to_entries[] | .key as $k | ([.value.clone_from_ctid // empty] + (.value.dependencies // []))[] | "\($k) \(.)"' "$lxc_file")
    while IFS= read -r prof; do
        check "AppArmor profile '${prof}' is installed" \
            apparmor_ok "$prof"
    done < <(jq -r '[.lxc_configs[].apparmor_profile // empty | select(. != "unconfined")] | unique | .[]' "$lxc_file")
fi

if jq -e . "$vm_file" >/dev/null 2>&1; then
    while IFS= read -r f; do
        check "VM feature '${f}' has a script" \
            script_ok "vm_features/feature_install_${f}.sh" "$f"
    done < <(jq -r '[.vms[].features[]?] | unique | .[]' "$vm_file")
    while IFS=' ' read -r id ref; do
        check "VM ${id}: clone_from_vmid ${ref} is a defined VM" \
            jq -e --arg r "$ref" '[.vms[].vmid | tostring] | index($r) != null' "$vm_file"
    done < <(jq -r '.vms[] | select(.clone_from_vmid != null) | "\(.vmid) \(.clone_from_vmid)"' "$vm_file")
fi

if jq -e . "$PHOENIX_CONFIG" >/dev/null 2>&1; then
    while IFS= read -r p; do
        check "hypervisor test script '${p}' exists" path_ok "$p"
    done < <(jq -r '[.tests // {} | .[][]? | select(.type == "script") | .path] | unique | .[]' "$PHOENIX_CONFIG")
fi

echo "${passed} passed, ${failed} failed"
((failed == 0))
