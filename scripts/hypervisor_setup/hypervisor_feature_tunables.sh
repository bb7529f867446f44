#!/usr/bin/env bash
# Host set-up step "tunables": ZFS ARC limit and kernel parameters.
# Usage: hypervisor_feature_tunables.sh   (on the Proxmox host, no argument)
# Config: .zfs.arc_max_gb (integer GiB) and .sysctl {"<key>": "<value>"} (e.g.
# "fs.inotify.max_user_instances": "8192"). Both absent: nothing to do.
# ARC: /etc/modprobe.d/zfs.conf gets "options zfs zfs_arc_max=<bytes>" (initramfs rebuilt on a
# change) and the running value (/sys/module/zfs/parameters/zfs_arc_max) is set when it differs.
# sysctl: /etc/sysctl.d/90-phoenix.conf holds every key; a key whose running value (`sysctl -n`)
# differs is set with `sysctl -w`.
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init tunables
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

arc_gb="$(hv_cfg '.zfs.arc_max_gb // empty')"
nsysctl="$(hv_cfg '.sysctl // {} | length')"
if [[ -z "$arc_gb" && "$nsysctl" == 0 ]]; then
    hv_nothing_to_do "no zfs.arc_max_gb or sysctl in the config"
fi

if [[ -n "$arc_gb" ]]; then
    [[ "$arc_gb" =~ ^[0-9]{1,5}$ ]] || log_fatal "invalid zfs.arc_max_gb '${arc_gb}' (whole GiB)"
    bytes=$((arc_gb * 1024 * 1024 * 1024))
    HV_CHANGED=0
    hv_write /etc/modprobe.d/zfs.conf 0644 "# Written by Phoenix (hypervisor setup step tunables): ZFS ARC at most ${arc_gb} GiB
options zfs zfs_arc_max=${bytes}
"
    if [[ "$HV_CHANGED" == 1 ]]; then
        run_or_dry update-initramfs -u -k all
    fi
    live="$(hv_path /sys/module/zfs/parameters/zfs_arc_max)"
    if [[ ! -f "$live" ]]; then
        log_info "ZFS module not loaded here (${live} missing): the limit applies at next boot"
    elif [[ "$(cat "$live")" == "$bytes" ]]; then
        log_info "ZFS ARC limit is ${arc_gb} GiB"
    elif is_dry_run; then
        printf '[dry-run] write %s to %s\n' "$bytes" "$live"
    else
        printf '%s\n' "$bytes" >"$live"
        log_info "ZFS ARC limit set to ${arc_gb} GiB"
    fi
fi

if [[ "$nsysctl" != 0 ]]; then
    conf="# Written by Phoenix (hypervisor setup step tunables)"$'\n'
    while IFS=$'\x1f' read -r key value; do
        [[ "$key" =~ ^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$ ]] || log_fatal "invalid sysctl key '${key}'"
        [[ "$value" =~ ^[A-Za-z0-9_.:\ -]+$ ]] || log_fatal "invalid value '${value}' of sysctl ${key}"
        conf+="${key} = ${value}"$'\n'
        have="$(sysctl -n "$key" 2>/dev/null | tr -s '\t ' ' ' || true)"
        if [[ "$have" == "$value" ]]; then
            log_info "sysctl ${key} = ${value}"
        else
            run_or_dry sysctl -w "${key}=${value}"
        fi
    done < <(hv_cfg '.sysctl // {} | to_entries[] | [.key, (.value | tostring)] | join("\u001f")')
    hv_write /etc/sysctl.d/90-phoenix.conf 0644 "$conf"
fi
log_info "tunables are in place"
