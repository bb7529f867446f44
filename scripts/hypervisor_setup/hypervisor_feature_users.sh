#!/usr/bin/env bash
# Host set-up step "users": the administrative user.
# Usage: hypervisor_feature_users.sh   (on the Proxmox host, no argument)
# Config: .users {username, password_hash ("NOT_SET" or empty: password left alone),
#         sudo_access, ssh_public_key}. Absent: nothing to do.
# Creates the user (useradd -m -s /bin/bash) when `id` does not know it; sets the password hash
# with `chpasswd -e` (hash on stdin, never on a command line or in a log) when `getent shadow`
# shows another one; adds the user to group sudo when sudo_access is true; puts ssh_public_key
# into ~/.ssh/authorized_keys (other keys are kept).
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init users
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

user="$(hv_cfg '.users.username // empty')"
if [[ -z "$user" ]]; then
    hv_nothing_to_do "no users.username in the config"
fi
[[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || log_fatal "invalid users.username '${user}'"

if id -u "$user" >/dev/null 2>&1; then
    log_info "user ${user} exists"
else
    run_or_dry useradd -m -s /bin/bash "$user"
fi

hash="$(hv_cfg '.users.password_hash // empty')"
if [[ -z "$hash" || "$hash" == NOT_SET ]]; then
    log_info "password of ${user} left alone (password_hash is not set)"
else
    [[ "$hash" =~ ^\$[0-9a-z]+\$[^:[:space:]]+$ ]] || log_fatal "users.password_hash is not a crypt(3) hash (e.g. from 'mkpasswd -m sha-512'); value not shown"
    current="$(getent shadow "$user" 2>/dev/null | cut -d: -f2 || true)"
    if [[ "$current" == "$hash" ]]; then
        log_info "password of ${user} is up to date"
    elif is_dry_run; then
        printf '[dry-run] chpasswd -e   (password hash of %s on stdin, not shown)\n' "$user"
    else
        printf '%s:%s\n' "$user" "$hash" | chpasswd -e || log_fatal "chpasswd failed for ${user}"
        log_info "password of ${user} set"
    fi
fi

if [[ "$(hv_cfg '.users.sudo_access // false')" == true ]]; then
    if id -nG "$user" 2>/dev/null | tr ' ' '\n' | grep -qx sudo; then
        log_info "${user} is in group sudo"
    else
        run_or_dry usermod -aG sudo "$user"
    fi
fi

key="$(hv_cfg '.users.ssh_public_key // empty')"
if [[ -z "$key" ]]; then
    log_info "no ssh_public_key for ${user}"
else
    [[ "$key" =~ ^(ssh|ecdsa|sk)-[A-Za-z0-9@.-]+\ [A-Za-z0-9+/=]+(\ [^[:cntrl:]]*)?$ ]] || log_fatal "users.ssh_public_key is not an OpenSSH public key line"
    home="$(getent passwd "$user" 2>/dev/null | cut -d: -f6 || true)"
    home="${home:-/home/${user}}"
    keys="$(hv_path "${home}/.ssh/authorized_keys")"
    if [[ -f "$keys" ]] && grep -qxF "$key" "$keys"; then
        log_info "ssh key of ${user} is in place"
    else
        existing=""
        [[ -f "$keys" ]] && existing="$(cat "$keys")"$'\n'
        hv_mkdir "${home}/.ssh" 0700
        hv_write "${home}/.ssh/authorized_keys" 0600 "${existing}${key}"$'\n'
        if [[ -z "$PHOENIX_HOST_ROOT" ]]; then
            run_or_dry chown -R "${user}:" "${home}/.ssh"
        fi
    fi
fi
log_info "user set-up complete"
