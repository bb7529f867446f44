#!/usr/bin/env bash
# Application script for CT 956: Open WebUI in Docker. Runs INSIDE the container.
# Config (guest_config.json): ports (container side 8080 is Open WebUI's port).
# The Ollama endpoint is not part of this container's config (it depends on CT 955 but holds no
# address): set it in Open WebUI's admin settings; it is kept in the data volume.
# Defaults (see docs/features.md): OPENWEBUI_IMAGE, data volume open-webui, 8080:8080.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

OPENWEBUI_IMAGE="ghcr.io/open-webui/open-webui:main"
OPENWEBUI_NAME="open-webui"
OPENWEBUI_PORT=8080
OPENWEBUI_VOLUME="open-webui"

phoenix_app_init open-webui
ensure_local_packages curl
ports_list="$(guest_ports)"
mapfile -t ports <<<"$ports_list"
port_map="$(ports_mapping_for "$OPENWEBUI_PORT" "${ports[@]}")"

ensure_docker_container "$OPENWEBUI_NAME" "$OPENWEBUI_IMAGE" \
    -p "$port_map" \
    -v "${OPENWEBUI_VOLUME}:/app/backend/data"
wait_for_http "http://127.0.0.1:${port_map%%:*}/health" 60 5 || log_fatal "Open WebUI does not answer on port ${port_map%%:*}"
log_info "Open WebUI is up on port ${port_map%%:*}"
