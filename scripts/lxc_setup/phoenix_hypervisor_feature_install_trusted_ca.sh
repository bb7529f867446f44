#!/usr/bin/env bash
# Feature "trusted_ca": the deployment's internal root certificate in the container's trust
# store, so TLS to internal services verifies. The root is read on the host from the folder
# mounted at the CA container's /etc/step-ca/ssl (its application script exports it there).
# Usage: phoenix_hypervisor_feature_install_trusted_ca.sh <CTID>   (runs on the Proxmox host)
# Config: the container with feature step_ca and its mount_points (host_path of /etc/step-ca/ssl).
# Defaults: the exported root's name (phoenix_smallstep.sh), TRUST_FILE and BUNDLE below.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"
# shellcheck source=SCRIPTDIR/phoenix_smallstep.sh
source "$(dirname "${BASH_SOURCE[0]}")/phoenix_smallstep.sh"

TRUST_FILE="/usr/local/share/ca-certificates/phoenix_root_ca.crt"
BUNDLE="/etc/ssl/certs/ca-certificates.crt"

phoenix_feature_init trusted_ca "$@"

ca="$(ca_container)"
[[ -n "$ca" ]] || log_fatal "no container has feature step_ca: there is no internal CA to trust"
dir="$(ca_host_dir)" || true
[[ -n "$dir" ]] || log_fatal "CT ${ca} (step_ca) has no mount point for ${CA_STEPPATH}"
root="${PHOENIX_HOST_ROOT:-}${dir}/${CA_ROOT_FILE}"
if [[ ! -s "$root" ]]; then
    if is_dry_run; then
        log_warn "${root} does not exist yet (CT ${ca}'s application script exports it); nothing to compare"
        printf '[dry-run] install the internal root certificate from %s into CT %s\n' "$root" "$CTID"
        exit 0
    fi
    log_fatal "the internal CA's root certificate ${root} does not exist: CT ${ca} must be created first (its application script exports it)"
fi
if ! grep -q -- '-----BEGIN CERTIFICATE-----' "$root"; then
    log_fatal "${root} is not a PEM certificate"
fi

ensure_package_in_container "$CTID" ca-certificates
PHOENIX_CHANGED=0
ensure_file_in_container "$CTID" "$TRUST_FILE" 0644 "$(cat "$root")"$'\n'
# The bundle is checked too: a run that wrote the file but failed in update-ca-certificates
# must not count as done.
key_line="$(sed -n 2p "$root")"
if [[ "$PHOENIX_CHANGED" == 1 ]] || ! pct_check "$CTID" 'grep -qxF -- "$1" "$2"' "$key_line" "$BUNDLE"; then
    run_pct_exec "$CTID" update-ca-certificates
fi
log_info "trusted_ca feature complete"
