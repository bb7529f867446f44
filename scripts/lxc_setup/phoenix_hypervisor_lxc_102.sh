#!/usr/bin/env bash
# Application script for the Traefik container (102 in the 2025-11-04 deployment). Runs INSIDE
# the container, after features trusted_ca, step_cli and traefik. Bootstraps `step` against the
# internal CA (bootstrap_ca_url, checked against the root fingerprint the CA container exported
# into the shared CA folder), so Traefik's certificate requests trust it, and starts Traefik once
# `phoenix sync gateway` has written its configuration (that verb restarts it on every change).
# Config (guest_config.json): bootstrap_ca_url.
# Defaults (see docs/services.md): the CA folder mounted from the CA container, the config file.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

CA_DIR="/etc/step-ca/ssl"
STATIC_FILE="/etc/traefik/traefik.yml"

phoenix_app_init traefik
command -v traefik >/dev/null 2>&1 || log_fatal "traefik is not installed (feature traefik)"
command -v step >/dev/null 2>&1 || log_fatal "step is not installed (feature step_cli)"

ca_url="$(guest_config_value '.bootstrap_ca_url' || true)"
if [[ -n "$ca_url" ]]; then
    validate_url "$ca_url" || log_fatal "bootstrap_ca_url '${ca_url}' is not a valid URL"
    fp="$(cat "${CA_DIR}/root_ca.fingerprint" 2>/dev/null || true)"
    [[ "$fp" =~ ^[0-9a-f]{64}$ ]] ||
        log_fatal "${CA_DIR}/root_ca.fingerprint is missing or not a SHA-256 fingerprint (the CA container's application script exports it)"
    defaults="${STEPPATH:-${HOME:-/root}/.step}/config/defaults.json"
    if [[ -f "$defaults" ]] && jq -e --arg u "$ca_url" --arg f "$fp" '.["ca-url"] == $u and .fingerprint == $f' "$defaults" >/dev/null 2>&1; then
        log_info "step is bootstrapped against ${ca_url}"
    else
        run_or_dry step ca bootstrap --ca-url "$ca_url" --fingerprint "$fp" --force
    fi
fi

if [[ ! -f "$STATIC_FILE" ]]; then
    log_info "${STATIC_FILE} does not exist yet: 'phoenix sync gateway' writes it and starts Traefik"
elif systemctl is-active --quiet traefik.service; then
    log_info "traefik is running"
else
    run_or_dry systemctl start traefik.service
fi
