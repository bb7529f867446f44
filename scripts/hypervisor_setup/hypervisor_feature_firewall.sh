#!/usr/bin/env bash
# Host set-up step "firewall": the [OPTIONS] of the Proxmox cluster firewall.
# Usage: hypervisor_feature_firewall.sh   (on the Proxmox host, no argument)
# Config: .firewall {enabled, default_input_policy, default_output_policy} (ACCEPT|DROP|REJECT);
# the upstream file keeps this block in .shared_volumes.firewall, which is used when .firewall is
# absent. Writes ${PHOENIX_PVE_DIR}/firewall/cluster.fw: the managed options "enable",
# "policy_in", "policy_out" are set; other options, [IPSET], [RULES], [ALIASES] and [group]
# sections are kept as they are. pve-firewall reads the file by itself; on a change
# `pve-firewall compile` checks it.
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init firewall
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

block="$(hv_cfg '.firewall // .shared_volumes.firewall // empty' -c)"
if [[ -z "$block" ]]; then
    hv_nothing_to_do "no firewall block in the config"
fi
if [[ "$(hv_cfg '.firewall // empty' -c)" == "" ]]; then
    log_warn "using the firewall block found in shared_volumes.firewall; move it to the top-level key 'firewall'"
fi
enabled="$(jq -r 'if .enabled then 1 else 0 end' <<<"$block")"
policy_in="$(jq -r '.default_input_policy // empty' <<<"$block")"
policy_out="$(jq -r '.default_output_policy // empty' <<<"$block")"
for p in "$policy_in" "$policy_out"; do
    [[ -z "$p" || "$p" =~ ^(ACCEPT|DROP|REJECT)$ ]] || log_fatal "invalid firewall policy '${p}' (ACCEPT, DROP or REJECT)"
done

fw="${PHOENIX_PVE_DIR}/firewall/cluster.fw"
current=""
[[ -f "$fw" ]] && current="$(cat "$fw")"

# The new file: [OPTIONS] first with the managed keys, then every other section unchanged.
new="$(printf '%s\n' "$current" | awk -v en="$enabled" -v pin="$policy_in" -v pout="$policy_out" '
    function managed(k) { return k == "enable" || (k == "policy_in" && pin != "") || (k == "policy_out" && pout != "") }
    /^\[/ { sec = toupper($0) }
    sec == "[OPTIONS]" && /^\[/ { next }
    sec == "[OPTIONS]" {
        if ($0 ~ /^[[:space:]]*$/) next
        k = $1; sub(/:$/, "", k)
        if (!managed(k)) opts = opts $0 "\n"
        next
    }
    { rest = rest $0 "\n" }
    END {
        printf "[OPTIONS]\n\nenable: %s\n", en
        if (pin != "") printf "policy_in: %s\n", pin
        if (pout != "") printf "policy_out: %s\n", pout
        printf "%s", opts
        sub(/^\n+/, "", rest); sub(/\n+$/, "\n", rest)
        if (rest != "" && rest != "\n") printf "\n%s", rest
    }')"
HV_CHANGED=0
hv_write_file "$fw" 0640 "${new}"$'\n'
if [[ "$HV_CHANGED" == 1 ]]; then
    if [[ "$enabled" == 1 && "$policy_in" != ACCEPT ]]; then
        log_warn "cluster firewall on with input policy ${policy_in:-DROP}: Proxmox allows SSH and the web UI (8006) from its local_network; add rules for any other admin network"
    fi
    if ! is_dry_run && command -v pve-firewall >/dev/null 2>&1; then
        pve-firewall compile >/dev/null || log_fatal "pve-firewall rejects ${fw}"
    fi
    log_info "cluster firewall: enable=${enabled} policy_in=${policy_in:-unchanged} policy_out=${policy_out:-unchanged}"
else
    log_info "cluster firewall options are in place"
fi
