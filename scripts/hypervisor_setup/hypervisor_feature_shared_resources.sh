#!/usr/bin/env bash
# Host set-up step "shared_resources": host folders that containers bind-mount.
# Usage: hypervisor_feature_shared_resources.sh   (on the Proxmox host, no argument)
# Config: .shared_volumes.<name>.host_path (entries without host_path, such as the misplaced
# firewall block of the upstream file, are skipped). Absent: nothing to do.
# Creates each host_path (mode 0755) that does not exist; existing folders are left as they are.
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init shared_resources
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

mapfile -t paths < <(hv_cfg '.shared_volumes // {} | to_entries[] | select(.value.host_path != null) | .value.host_path')
if ((${#paths[@]} == 0)); then
    hv_nothing_to_do "no shared_volumes with a host_path in the config"
fi
for p in "${paths[@]}"; do
    [[ "$p" =~ ^/[A-Za-z0-9_./-]+$ && "$p" != *..* ]] || log_fatal "invalid shared volume host_path '${p}'"
    if [[ -d "$(hv_path "$p")" ]]; then
        log_info "${p} exists"
    else
        hv_mkdir "$p" 0755
    fi
done
log_info "shared folders are in place"
