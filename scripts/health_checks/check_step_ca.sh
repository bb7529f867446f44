#!/usr/bin/env bash
# Health check of the internal CA, run INSIDE the container with feature step_ca (the config's
# health_check.command names it by its installed path; lxc-manager pushes this file into a
# private folder of the container and runs it there).
# Healthy: step-ca.service is active, the CA answers on its port with the root it was made with,
# and the root is exported for the host and the other guests (phoenix_root_ca.crt).
# Exit codes: 0 healthy; 10 service not active; 20 settings missing; 50 the CA does not answer;
# 60 the root is not exported.
# Defaults (written by feature step_ca / the application script, see docs/services.md): the CA
# folder and the settings file below.
set -euo pipefail
STEPPATH="/etc/step-ca/ssl"
SETTINGS_FILE="/etc/step-ca/phoenix-ca.env"

if ! systemctl is-active --quiet step-ca.service; then
    echo "step-ca.service is not active (journalctl -u step-ca)" >&2
    exit 10
fi
address="$(grep -m1 '^ADDRESS=' "$SETTINGS_FILE" 2>/dev/null | cut -d= -f2- || true)"
if [[ ! "$address" =~ ^:[0-9]+$ ]]; then
    echo "${SETTINGS_FILE} has no ADDRESS=:<port> (feature step_ca writes it)" >&2
    exit 20
fi
if ! out="$(step ca health --ca-url "https://127.0.0.1${address}" --root "${STEPPATH}/certs/root_ca.crt" 2>&1)"; then
    echo "the CA does not answer on ${address}: ${out}" >&2
    exit 50
fi
if [[ ! -s "${STEPPATH}/phoenix_root_ca.crt" ]]; then
    echo "${STEPPATH}/phoenix_root_ca.crt is missing: the root is not exported" >&2
    exit 60
fi
echo "step-ca healthy on ${address}"
