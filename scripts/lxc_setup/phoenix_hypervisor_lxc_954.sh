#!/usr/bin/env bash
# Application script for CT 954: n8n in Docker. Runs INSIDE the container.
# Config (guest_config.json): ports (container side 5678), volumes[] named n8n_data (data folder,
# owned by the image's "node" user, uid 1000). The timezone is the container's /etc/timezone.
# Defaults (see docs/features.md): N8N_IMAGE, data /home/node/.n8n, 5678:5678.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

N8N_IMAGE="docker.n8n.io/n8nio/n8n:latest"
N8N_NAME="n8n"
N8N_PORT=5678
N8N_UID=1000
N8N_DATA_DEFAULT="/home/node/.n8n"

phoenix_app_init n8n
ports_list="$(guest_ports)"
mapfile -t ports <<<"$ports_list"
port_map="$(ports_mapping_for "$N8N_PORT" "${ports[@]}")"
data="$(guest_volume_mount n8n_data "$N8N_DATA_DEFAULT")"

[[ -d "$data" ]] || run_or_dry mkdir -p "$data"
if [[ "$(stat -c %u "$data" 2>/dev/null || echo none)" != "$N8N_UID" ]]; then
    run_or_dry chown "${N8N_UID}:${N8N_UID}" "$data"
fi
env_args=()
if [[ -r /etc/timezone ]]; then
    tz="$(head -n 1 /etc/timezone)"
    if [[ "$tz" =~ ^[A-Za-z0-9_+/-]+$ ]]; then
        env_args+=(-e "GENERIC_TIMEZONE=${tz}" -e "TZ=${tz}")
    fi
fi
ensure_docker_container "$N8N_NAME" "$N8N_IMAGE" \
    -p "$port_map" \
    -v "${data}:/home/node/.n8n" \
    "${env_args[@]}"
wait_for_http "http://127.0.0.1:${port_map%%:*}/healthz" 30 5 || log_fatal "n8n does not answer on port ${port_map%%:*}"
log_info "n8n is up on port ${port_map%%:*}, data in ${data}"
