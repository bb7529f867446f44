#!/usr/bin/env bash
# Host set-up step "nfs": NFS server and exports.
# Usage: hypervisor_feature_nfs.sh   (on the Proxmox host, no argument)
# Config: .nfs.exports[] {path, clients[], options[]}. Absent or empty: nothing to do.
# Installs nfs-kernel-server when missing; writes one line per export ("<path> <client>(<opts>)
# ...") into a "phoenix nfs" block of /etc/exports (other lines are kept); runs `exportfs -ra` when
# the file changed; enables nfs-server. Export paths are dataset mount points: a missing one is
# reported, not created.
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init nfs
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

if [[ "$(hv_cfg '.nfs.exports // [] | length')" == 0 ]]; then
    hv_nothing_to_do "no nfs.exports in the config"
fi

lines=""
while IFS=$'\x1f' read -r path clients options; do
    [[ "$path" =~ ^/[A-Za-z0-9_./-]*$ && "$path" != *..* ]] || log_fatal "invalid NFS export path '${path}'"
    [[ -n "$clients" ]] || log_fatal "NFS export ${path} has no clients"
    [[ "$options" =~ ^[a-z0-9_=,]*$ ]] || log_fatal "invalid NFS options '${options}' for ${path}"
    line="$path"
    for c in $clients; do
        [[ "$c" =~ ^[A-Za-z0-9_.:/*-]+$ ]] || log_fatal "invalid NFS client '${c}' for ${path}"
        line+=" ${c}(${options})"
    done
    lines+="${line}"$'\n'
    [[ -d "$(hv_path "$path")" ]] || log_warn "export path ${path} does not exist (yet); create its dataset first"
done < <(hv_cfg '.nfs.exports[] | [.path, ((.clients // []) | join(" ")), ((.options // []) | join(","))] | join("\u001f")')

HV_CHANGED=0
hv_packages nfs-kernel-server
HV_CHANGED=0
hv_replace_block /etc/exports nfs "${lines%$'\n'}"
if [[ "$HV_CHANGED" == 1 ]]; then
    run_or_dry exportfs -ra
else
    log_info "/etc/exports is up to date"
fi
hv_service_enabled nfs-server
log_info "NFS set-up complete"
