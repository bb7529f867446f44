#!/usr/bin/env bash
# Test: the container runs under the AppArmor profile its config names, and Docker still works.
# Usage: test_apparmor_confinement.sh <CTID>   (host; exit 0 = pass)
# Config: LXC entry .apparmor_profile ("unconfined" or a profile name). Also checks that the
# container's Proxmox config ($PHOENIX_PVE_DIR/lxc/<CTID>.conf) sets lxc.apparmor.profile to it.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../phoenix_hypervisor_common_utils.sh"
phoenix_feature_init "test apparmor" "$@"

profile="$(jq_get_value "$CTID" '.apparmor_profile' || true)"
if [[ -z "$profile" ]]; then
    log_info "PASS: no apparmor_profile configured for CT ${CTID}: nothing to check"
    exit 0
fi
validate_name "$profile" apparmor_profile || exit 1

conf="${PHOENIX_PVE_DIR}/lxc/${CTID}.conf"
if [[ -r "$conf" ]]; then
    set_profile="$(sed -n 's/^lxc\.apparmor\.profile[[:space:]]*[:=][[:space:]]*//p' "$conf" | head -n 1)"
    if [[ "${set_profile:-}" != "$profile" ]]; then
        log_fatal "${conf} sets lxc.apparmor.profile to '${set_profile:-nothing}', config wants '${profile}'"
    fi
else
    log_warn "${conf} not readable: skipping the Proxmox config check"
fi

label="$(pct_probe "$CTID" cat /proc/1/attr/current 2>/dev/null | tr -d '\0' | head -n 1 || true)"
case "$profile" in
    unconfined) [[ "$label" == *unconfined* ]] ;;
    *) [[ "$label" == "$profile"* ]] ;;
esac || log_fatal "CT ${CTID} init runs under AppArmor label '${label:-unknown}', config wants '${profile}'"

pct_probe "$CTID" docker run --rm hello-world >/dev/null 2>&1 ||
    log_fatal "docker cannot run a container in CT ${CTID} under AppArmor profile ${profile}"
log_info "PASS: CT ${CTID} runs under '${label}' and Docker works"
