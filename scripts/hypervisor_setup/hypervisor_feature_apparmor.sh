#!/usr/bin/env bash
# Host set-up step "apparmor": AppArmor profiles Phoenix ships for containers.
# Usage: hypervisor_feature_apparmor.sh   (on the Proxmox host, no argument)
# Profiles: every file in etc/apparmor/ of the Phoenix installation (<base>/etc/apparmor, or
# <repo>/etc/apparmor in a checkout; PHOENIX_APPARMOR_DIR overrides), e.g. lxc-phoenix-v2, which
# containers name in apparmor_profile. Each is copied to /etc/apparmor.d/<name> when it differs and
# (re)loaded with `apparmor_parser -r -W` when it changed or is not loaded
# (/sys/kernel/security/apparmor/profiles). Profiles named by the LXC config that are neither
# shipped nor installed are reported. No profile shipped: nothing to do.
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init apparmor
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

src="${PHOENIX_APPARMOR_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/etc/apparmor}"
mapfile -t profiles < <(find "$src" -maxdepth 1 -type f -name '[A-Za-z0-9]*' -printf '%f\n' 2>/dev/null | sort)
if ((${#profiles[@]} == 0)); then
    hv_nothing_to_do "no AppArmor profiles shipped in ${src}"
fi
command -v apparmor_parser >/dev/null 2>&1 || log_fatal "apparmor_parser is not installed (package apparmor)"

loaded="$(hv_path /sys/kernel/security/apparmor/profiles)"
is_loaded() {
    [[ -r "$loaded" ]] && grep -q "^$1 (" "$loaded"
}

for name in "${profiles[@]}"; do
    [[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || log_fatal "invalid profile file name '${name}' in ${src}"
    HV_CHANGED=0
    hv_write "/etc/apparmor.d/${name}" 0644 "$(cat "${src}/${name}")"$'\n'
    if [[ "$HV_CHANGED" == 1 ]] || ! is_loaded "$name"; then
        run_or_dry apparmor_parser -r -W "$(hv_path "/etc/apparmor.d/${name}")"
    else
        log_info "profile ${name} is installed and loaded"
    fi
done

lxc_file="$(get_lxc_config_file)"
if [[ -r "$lxc_file" ]]; then
    while IFS= read -r want; do
        [[ -f "$(hv_path "/etc/apparmor.d/${want}")" ]] ||
            log_warn "the LXC config names AppArmor profile '${want}', which is neither shipped in ${src} nor in /etc/apparmor.d"
    done < <(jq -r '[.lxc_configs[]?.apparmor_profile // empty | select(. != "unconfined" and test("^[A-Za-z0-9_.-]+$"))] | unique | .[]' "$lxc_file")
fi
log_info "AppArmor set-up complete"
