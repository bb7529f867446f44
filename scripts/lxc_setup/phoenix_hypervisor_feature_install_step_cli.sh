#!/usr/bin/env bash
# Feature "step_cli": Smallstep's `step` command in a container, from Smallstep's apt repository,
# and, when the container sets `bootstrap_ca_url`, `step` bootstrapped against that CA (its root
# fetched and checked against the fingerprint the CA container exported), so `step ca ...` in
# the container talks to the internal CA without further flags.
# Usage: phoenix_hypervisor_feature_install_step_cli.sh <CTID>   (runs on the Proxmox host)
# Config: LXC .bootstrap_ca_url (optional); the container with feature step_ca and its
#         mount_points (where the fingerprint is exported).
# Defaults: the Smallstep repository (phoenix_smallstep.sh), step's own config folder
#           (/root/.step) in the container.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"
# shellcheck source=SCRIPTDIR/phoenix_smallstep.sh
source "$(dirname "${BASH_SOURCE[0]}")/phoenix_smallstep.sh"

phoenix_feature_init step_cli "$@"

if is_package_installed_in_container "$CTID" step-cli; then
    log_info "step-cli is already installed"
else
    ensure_smallstep_repo "$CTID"
    ensure_package_in_container "$CTID" step-cli
fi

ca_url="$(jq_get_value "$CTID" '.bootstrap_ca_url' || true)"
if [[ -n "$ca_url" ]]; then
    validate_url "$ca_url" || log_fatal "bootstrap_ca_url '${ca_url}' is not a valid URL"
    dir="$(ca_host_dir)" || true
    [[ -n "$dir" ]] || log_fatal "bootstrap_ca_url is set but no container with feature step_ca mounts ${CA_STEPPATH}"
    fp_file="${PHOENIX_HOST_ROOT:-}${dir}/root_ca.fingerprint"
    fp="$(cat "$fp_file" 2>/dev/null || true)"
    if [[ ! "$fp" =~ ^[0-9a-f]{64}$ ]]; then
        if is_dry_run; then
            printf '[dry-run] bootstrap step in CT %s against %s (the CA has not exported its fingerprint yet)\n' "$CTID" "$ca_url"
            exit 0
        fi
        log_fatal "${fp_file} is missing or not a SHA-256 fingerprint: CT $(ca_container) (step_ca) must be created first (its application script exports it)"
    fi
    if pct_check "$CTID" 'jq -e --arg u "$1" --arg f "$2" ".[\"ca-url\"] == \$u and .fingerprint == \$f" /root/.step/config/defaults.json' "$ca_url" "$fp"; then
        log_info "step is bootstrapped against ${ca_url}"
    else
        run_pct_exec "$CTID" env HOME=/root step ca bootstrap --ca-url "$ca_url" --fingerprint "$fp" --force
    fi
fi
log_info "step_cli feature complete"
