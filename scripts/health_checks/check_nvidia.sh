#!/usr/bin/env bash
# Health check: the NVIDIA driver seen inside a container matches the configured version.
# Usage: check_nvidia.sh <CTID>   (runs on the Proxmox host; exit 0 = healthy, 1 = not)
# Expected version: LXC config .nvidia_driver_version, else hypervisor .nvidia_driver.version.
# A container whose gpu_assignment is "none" passes (nothing to check).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"

phoenix_feature_init "check_nvidia" "$@"

gpus="$(jq_get_value "$CTID" '.gpu_assignment' || true)"
if [[ -z "$gpus" || "$gpus" == none ]]; then
    log_info "no GPU assigned: nothing to check"
    exit 0
fi
expected="$(get_lxc_top_value '.nvidia_driver_version' || get_global_config_value '.nvidia_driver.version' || true)"
[[ -n "$expected" ]] || log_fatal "no NVIDIA driver version in the config to compare with"

if ! out="$(pct_probe "$CTID" nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>&1)"; then
    log_fatal "nvidia-smi failed in CT ${CTID}: ${out//$'\n'/ }"
fi
count=0
while IFS= read -r line; do
    line="${line//[[:space:]]/}"
    [[ -n "$line" ]] || continue
    count=$((count + 1))
    if [[ "$line" != "$expected" ]]; then
        log_fatal "CT ${CTID}: GPU ${count} reports driver ${line}, config wants ${expected}"
    fi
done <<<"$out"
((count > 0)) || log_fatal "CT ${CTID}: nvidia-smi lists no GPU"
log_info "CT ${CTID}: ${count} GPU(s), driver ${expected}"
