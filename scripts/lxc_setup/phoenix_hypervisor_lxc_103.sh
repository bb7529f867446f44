#!/usr/bin/env bash
# Application script for the internal CA's container (103 in the 2025-11-04 deployment). Runs
# INSIDE the container, after feature step_ca (which installed step and step-ca, wrote
# step-ca.service and the CA's settings in /etc/step-ca/phoenix-ca.env). It initialises the CA
# once (passwords generated into the CA folder, mode 0600), exports the root certificate, the
# CA bundle and the root's fingerprint next to it for the host and the other guests, then
# starts step-ca and waits until it answers.
# Defaults (no config key exists for them; see docs/services.md): STEPPATH, the exported file
# names, the health wait below.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

export STEPPATH="/etc/step-ca/ssl"
SETTINGS_FILE="/etc/step-ca/phoenix-ca.env"
CA_PASSWORD_FILE="${STEPPATH}/ca_password.txt"
PROVISIONER_PASSWORD_FILE="${STEPPATH}/provisioner_password.txt"
HEALTH_TRIES=20
HEALTH_INTERVAL=3

phoenix_app_init step-ca

# ca_setting <KEY>: the value of KEY=... in the settings file (read, never sourced).
ca_setting() {
    local v
    v="$(grep -m1 "^$1=" "$SETTINGS_FILE" 2>/dev/null | cut -d= -f2-)"
    [[ -n "$v" ]] || log_fatal "${SETTINGS_FILE} has no $1 (feature step_ca writes it)"
    printf '%s\n' "$v"
}
if ! command -v step >/dev/null 2>&1 || ! command -v step-ca >/dev/null 2>&1; then
    log_fatal "step and step-ca are not installed (feature step_ca)"
fi
name="$(ca_setting NAME)"
dns="$(ca_setting DNS_NAME)"
prov="$(ca_setting PROVISIONER)"
address="$(ca_setting ADDRESS)"
ip="$(ca_setting IP)"

# secret_file <path>: a random password, made once, readable by root only.
secret_file() {
    if [[ -s "$1" ]]; then
        return 0
    fi
    if is_dry_run; then
        printf '[dry-run] generate %s (mode 0600)\n' "$1"
        return 0
    fi
    (umask 077 && head -c 32 /dev/urandom | base64 >"$1")
    log_info "generated ${1}"
}

if [[ -f "${STEPPATH}/config/ca.json" ]]; then
    log_info "the CA is already initialised in ${STEPPATH}"
else
    run_or_dry mkdir -p "$STEPPATH"
    secret_file "$CA_PASSWORD_FILE"
    secret_file "$PROVISIONER_PASSWORD_FILE"
    run_or_dry step ca init --name "$name" --dns "$dns" --dns "$ip" --dns 127.0.0.1 \
        --address "$address" --provisioner "$prov" --deployment-type standalone \
        --password-file "$CA_PASSWORD_FILE" --provisioner-password-file "$PROVISIONER_PASSWORD_FILE"
fi

if ! is_dry_run; then
    root="$(cat "${STEPPATH}/certs/root_ca.crt")"
    ensure_local_file "${STEPPATH}/phoenix_root_ca.crt" 0644 "${root}"$'\n'
    ensure_local_file "${STEPPATH}/phoenix_ca.crt" 0644 "$(cat "${STEPPATH}/certs/intermediate_ca.crt")"$'\n'"${root}"$'\n'
    ensure_local_file "${STEPPATH}/root_ca.fingerprint" 0644 "$(step certificate fingerprint "${STEPPATH}/certs/root_ca.crt")"$'\n'
fi

if systemctl is-active --quiet step-ca.service; then
    log_info "step-ca is running"
else
    run_or_dry systemctl enable --now step-ca.service
fi
if ! is_dry_run; then
    for ((i = 1; i <= HEALTH_TRIES; i++)); do
        if step ca health --ca-url "https://127.0.0.1${address}" --root "${STEPPATH}/certs/root_ca.crt" >/dev/null 2>&1; then
            log_info "the CA answers on ${address}"
            exit 0
        fi
        sleep "$HEALTH_INTERVAL"
    done
    log_fatal "step-ca did not answer on ${address} after $((HEALTH_TRIES * HEALTH_INTERVAL))s (journalctl -u step-ca)"
fi
