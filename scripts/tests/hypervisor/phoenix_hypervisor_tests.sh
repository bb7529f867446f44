#!/usr/bin/env bash
# Hypervisor test: the host is in the state phoenix_hypervisor_config.json describes.
# Usage: phoenix_hypervisor_tests.sh   (host, no argument; exit 0 = all checks pass)
# Checks: every ZFS pool exists (zpool list); every Proxmox storage ID of proxmox_storage_ids is
# known and active (pvesm status); the host NVIDIA driver matches nvidia_driver.version when
# nvidia_driver.install is true; every NFS export path is in $PHOENIX_HOST_ROOT/etc/exports; every
# Samba share has a section in $PHOENIX_HOST_ROOT/etc/samba/smb.conf.
set -uo pipefail
# shellcheck source=SCRIPTDIR/../../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../phoenix_hypervisor_common_utils.sh"
phoenix_set_context "hypervisor tests"
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"
jq -e . "$PHOENIX_CONFIG" >/dev/null 2>&1 || log_fatal "${PHOENIX_CONFIG} is missing or not valid JSON"

passed=0
failed=0
pass() { passed=$((passed + 1)); log_info "ok: $*"; }
fail() { failed=$((failed + 1)); log_error "FAIL: $*"; }

while IFS= read -r pool; do
    name_ok=0
    [[ "$pool" =~ ^[A-Za-z0-9_.:-]+$ ]] && name_ok=1
    if ((name_ok)) && zpool list -H -o name "$pool" >/dev/null 2>&1; then
        pass "ZFS pool ${pool} exists"
    else
        fail "ZFS pool ${pool} does not exist"
    fi
done < <(jq -r '.zfs.pools[]?.name' "$PHOENIX_CONFIG")

storage_status="$(pvesm status 2>/dev/null || true)"
while IFS= read -r sid; do
    if awk -v s="$sid" 'NR > 1 && $1 == s && $3 == "active" { found = 1 } END { exit !found }' <<<"$storage_status"; then
        pass "storage ${sid} is active"
    else
        fail "storage ${sid} is missing or not active (pvesm status)"
    fi
done < <(jq -r '.proxmox_storage_ids // {} | .[]' "$PHOENIX_CONFIG")

if [[ "$(jq -r '.nvidia_driver.install // false' "$PHOENIX_CONFIG")" == true ]]; then
    want="$(jq -r '.nvidia_driver.version // empty' "$PHOENIX_CONFIG")"
    got="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '[:space:]' || true)"
    if [[ -n "$want" && "$got" == "$want" ]]; then
        pass "host NVIDIA driver ${got}"
    else
        fail "host NVIDIA driver is '${got:-not running}', config wants '${want}'"
    fi
fi

exports="${PHOENIX_HOST_ROOT}/etc/exports"
while IFS= read -r path; do
    if [[ -r "$exports" ]] && awk -v p="$path" '$1 == p { found = 1 } END { exit !found }' "$exports"; then
        pass "NFS export ${path}"
    else
        fail "NFS export ${path} missing from ${exports}"
    fi
done < <(jq -r '.nfs.exports[]?.path' "$PHOENIX_CONFIG")

smb="${PHOENIX_HOST_ROOT}/etc/samba/smb.conf"
while IFS= read -r share; do
    if [[ -r "$smb" ]] && grep -qxF "[${share}]" "$smb"; then
        pass "Samba share ${share}"
    else
        fail "Samba share [${share}] missing from ${smb}"
    fi
done < <(jq -r '.samba.shares[]?.name' "$PHOENIX_CONFIG")

echo "${passed} passed, ${failed} failed"
((failed == 0))
