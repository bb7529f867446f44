#!/usr/bin/env bash
# Application script for the Traefik container (102 in the 2025-11-04 deployment). Runs INSIDE
# the container, after features trusted_ca, step_cli (which bootstrapped `step` against the
# container's bootstrap_ca_url) and traefik. Starts Traefik once `phoenix sync gateway` has
# written its configuration (that verb restarts it on every change).
# Defaults (see docs/services.md): the config file.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

STATIC_FILE="/etc/traefik/traefik.yml"

phoenix_app_init traefik
command -v traefik >/dev/null 2>&1 || log_fatal "traefik is not installed (feature traefik)"

if [[ ! -f "$STATIC_FILE" ]]; then
    log_info "${STATIC_FILE} does not exist yet: 'phoenix sync gateway' writes it and starts Traefik"
elif systemctl is-active --quiet traefik.service; then
    log_info "traefik is running"
else
    run_or_dry systemctl start traefik.service
fi
