#!/usr/bin/env bash
# Host set-up step "initial_setup": Proxmox apt repositories, base packages, time zone.
# Usage: hypervisor_feature_initial_setup.sh   (on the Proxmox host, no argument)
# Config: .timezone (e.g. "Europe/Berlin"; absent: left alone).
# Repositories: the pve-no-subscription repository is added for the release named in
# ${PHOENIX_HOST_ROOT}/etc/os-release (bookworm when unknown); "deb" lines of the enterprise
# repositories (pve-enterprise.list, ceph.list), which need a subscription, are commented out.
# `apt-get update` runs only when a repository file changed. Packages: jq curl wget ca-certificates
# gnupg (only the missing ones are installed).
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init initial_setup
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

BASE_PACKAGES=(jq curl wget ca-certificates gnupg)

release_codename() {
    local f codename=""
    f="$(hv_path /etc/os-release)"
    if [[ -r "$f" ]]; then
        codename="$(sed -n 's/^VERSION_CODENAME=//p' "$f" | tr -d '"' | head -n 1)"
    fi
    [[ "$codename" =~ ^[a-z]+$ ]] || codename="bookworm"
    printf '%s\n' "$codename"
}

# disable_enterprise <absolute host path>: comment out its active "deb" lines.
disable_enterprise() {
    local path="$1" target content
    target="$(hv_path "$path")"
    [[ -f "$target" ]] || return 0
    grep -qE '^[[:space:]]*deb[[:space:]]' "$target" || {
        log_info "${path}: enterprise repository already disabled"
        return 0
    }
    content="$(sed -E 's/^([[:space:]]*deb[[:space:]])/# disabled by Phoenix (needs a subscription): \1/' "$target")"
    hv_write "$path" "$(stat -c '%a' "$target")" "${content}"$'\n'
}

repos_changed=0
codename="$(release_codename)"
HV_CHANGED=0
hv_write /etc/apt/sources.list.d/pve-no-subscription.list 0644 \
    "# Proxmox VE no-subscription repository (written by Phoenix)
deb http://download.proxmox.com/debian/pve ${codename} pve-no-subscription
"
disable_enterprise /etc/apt/sources.list.d/pve-enterprise.list
disable_enterprise /etc/apt/sources.list.d/ceph.list
repos_changed="$HV_CHANGED"

if [[ "$repos_changed" == 1 ]]; then
    log_info "apt repositories changed: refreshing the package lists"
    run_or_dry env DEBIAN_FRONTEND=noninteractive apt-get update
fi
hv_packages "${BASE_PACKAGES[@]}"

tz="$(hv_cfg '.timezone')"
if [[ -z "$tz" ]]; then
    log_info "no timezone in the config: time zone left alone"
else
    [[ "$tz" =~ ^[A-Za-z0-9_+/-]+$ ]] || log_fatal "invalid timezone '${tz}'"
    current="$(timedatectl show -p Timezone --value 2>/dev/null || true)"
    if [[ "$current" == "$tz" ]]; then
        log_info "time zone is ${tz}"
    else
        log_info "time zone is '${current:-unknown}', want ${tz}"
        run_or_dry timedatectl set-timezone "$tz"
    fi
fi
log_info "initial set-up complete"
