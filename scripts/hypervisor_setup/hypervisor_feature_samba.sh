#!/usr/bin/env bash
# Host set-up step "samba": Samba shares and the Samba user.
# Usage: hypervisor_feature_samba.sh   (on the Proxmox host, no argument)
# Config: .samba {user, shares[] {name, path, options "k=v k=v", valid_users[]}}. Absent or no
# shares: nothing to do. A relative share path ("tank/shared-data") is the dataset's mount point
# "/tank/shared-data".
# Installs samba when missing; creates the Samba user as a system user without login when it does
# not exist; adds it to the Samba database with `smbpasswd -a -n` (no password: set one with
# `smbpasswd <user>`; a user without one cannot log in) when `pdbedit -L -u` does not list it;
# writes one section per share into a "phoenix samba" block of /etc/samba/smb.conf (other lines are
# kept) and restarts smbd when it changed; enables smbd.
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init samba
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

if [[ "$(hv_cfg '.samba.shares // [] | length')" == 0 ]]; then
    hv_nothing_to_do "no samba.shares in the config"
fi
user="$(hv_cfg '.samba.user // empty')"
[[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || log_fatal "invalid or missing samba.user '${user}'"

block=""
while IFS=$'\x1f' read -r name path options users; do
    [[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || log_fatal "invalid Samba share name '${name}'"
    [[ "$path" =~ ^/?[A-Za-z0-9_./-]+$ && "$path" != *..* ]] || log_fatal "invalid path '${path}' of share ${name}"
    [[ "$path" == /* ]] || path="/${path}"
    block+="[${name}]"$'\n'"   path = ${path}"$'\n'
    for kv in $options; do
        [[ "$kv" =~ ^([a-z][a-z0-9_]*)=([A-Za-z0-9_.,@%-]+)$ ]] || log_fatal "invalid option '${kv}' of share ${name} (expected key=value)"
        block+="   ${BASH_REMATCH[1]//_/ } = ${BASH_REMATCH[2]}"$'\n'
    done
    if [[ -n "$users" ]]; then
        [[ "$users" =~ ^[a-z_][a-z0-9_\ -]*$ ]] || log_fatal "invalid valid_users of share ${name}"
        block+="   valid users = ${users}"$'\n'
    fi
    block+=$'\n'
    [[ -d "$(hv_path "$path")" ]] || log_warn "share path ${path} does not exist (yet); create its dataset first"
done < <(hv_cfg '.samba.shares[] | [.name, .path, (.options // ""), ((.valid_users // []) | join(" "))] | join("\u001f")')

hv_packages samba
if id -u "$user" >/dev/null 2>&1; then
    log_info "system user ${user} exists"
else
    run_or_dry useradd -M -s /usr/sbin/nologin "$user"
fi
if pdbedit -L -u "$user" >/dev/null 2>&1; then
    log_info "${user} is in the Samba user database"
else
    run_or_dry smbpasswd -a -n "$user"
    log_warn "Samba user ${user} has no password yet: set one with 'smbpasswd ${user}'"
fi
HV_CHANGED=0
hv_replace_block /etc/samba/smb.conf samba "${block%$'\n\n'}"
if [[ "$HV_CHANGED" == 1 ]]; then
    run_or_dry systemctl restart smbd
else
    log_info "/etc/samba/smb.conf is up to date"
fi
hv_service_enabled smbd
log_info "Samba set-up complete"
