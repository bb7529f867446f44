#!/usr/bin/env bash
# Application script for CT 952: Qdrant vector database in Docker. Runs INSIDE the container.
# Config (guest_config.json): ports ("host:container"; 6333 = HTTP, 6334 = gRPC), volumes[] named
# qdrant_data (storage folder), health_check.retries / .interval (wait for the API).
# Defaults (see docs/features.md): QDRANT_IMAGE, storage /qdrant/storage, 6333:6333, 6334:6334.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

QDRANT_IMAGE="qdrant/qdrant:latest"
QDRANT_NAME="qdrant"
QDRANT_HTTP_PORT=6333
QDRANT_GRPC_PORT=6334
QDRANT_STORAGE_DEFAULT="/qdrant/storage"

phoenix_app_init qdrant
ports_list="$(guest_ports)"
mapfile -t ports <<<"$ports_list"
http_map="$(ports_mapping_for "$QDRANT_HTTP_PORT" "${ports[@]}")"
grpc_map="$(ports_mapping_for "$QDRANT_GRPC_PORT" "${ports[@]}")"
storage="$(guest_volume_mount qdrant_data "$QDRANT_STORAGE_DEFAULT")"
retries="$(guest_config_value '.health_check.retries' || echo 30)"
interval="$(guest_config_value '.health_check.interval' || echo 5)"
[[ "$retries" =~ ^[0-9]+$ && "$interval" =~ ^[0-9]+$ ]] || log_fatal "invalid health_check retries/interval"

[[ -d "$storage" ]] || run_or_dry mkdir -p "$storage"
ensure_docker_container "$QDRANT_NAME" "$QDRANT_IMAGE" \
    -p "$http_map" -p "$grpc_map" \
    -v "${storage}:/qdrant/storage"
wait_for_http "http://127.0.0.1:${http_map%%:*}/" "$retries" "$interval" || log_fatal "Qdrant does not answer on port ${http_map%%:*}"
log_info "Qdrant is up on port ${http_map%%:*} (gRPC ${grpc_map%%:*}), data in ${storage}"
