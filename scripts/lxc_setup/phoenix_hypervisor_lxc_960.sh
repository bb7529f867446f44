#!/usr/bin/env bash
# Application script for CT 960: monitoring with Prometheus and Grafana in Docker. Runs INSIDE the
# container. Prometheus scrapes itself and Grafana; Grafana gets Prometheus as its default data
# source through provisioning. Both share the docker network "monitoring".
# Config (guest_config.json): ports (container side 3000 = Grafana, 9090 = Prometheus).
# Defaults (see docs/features.md): images, CONFIG_DIR, network, volumes below.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

PROMETHEUS_IMAGE="prom/prometheus:latest"
GRAFANA_IMAGE="grafana/grafana:latest"
PROMETHEUS_PORT=9090
GRAFANA_PORT=3000
NETWORK="monitoring"
CONFIG_DIR="/etc/phoenix-monitoring"

phoenix_app_init monitoring
ensure_local_packages curl
command -v docker >/dev/null 2>&1 || log_fatal "docker is not installed in this container (feature docker)"
ports_list="$(guest_ports)"
mapfile -t ports <<<"$ports_list"
prom_map="$(ports_mapping_for "$PROMETHEUS_PORT" "${ports[@]}")"
graf_map="$(ports_mapping_for "$GRAFANA_PORT" "${ports[@]}")"

if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
    run_or_dry docker network create "$NETWORK"
fi

PHOENIX_CHANGED=0
ensure_local_file "${CONFIG_DIR}/prometheus/prometheus.yml" 0644 "global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:${PROMETHEUS_PORT}']
  - job_name: grafana
    static_configs:
      - targets: ['grafana:${GRAFANA_PORT}']
"
prom_changed="$PHOENIX_CHANGED"
PHOENIX_CHANGED=0
ensure_local_file "${CONFIG_DIR}/grafana/provisioning/datasources/prometheus.yml" 0644 "apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    access: proxy
    url: http://prometheus:${PROMETHEUS_PORT}
    isDefault: true
"
graf_changed="$PHOENIX_CHANGED"

ensure_docker_container prometheus "$PROMETHEUS_IMAGE" \
    --network "$NETWORK" -p "$prom_map" \
    -v "${CONFIG_DIR}/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" \
    -v prometheus_data:/prometheus
ensure_docker_container grafana "$GRAFANA_IMAGE" \
    --network "$NETWORK" -p "$graf_map" \
    -v "${CONFIG_DIR}/grafana/provisioning:/etc/grafana/provisioning:ro" \
    -v grafana_data:/var/lib/grafana
if [[ "$prom_changed" == 1 ]]; then run_or_dry docker restart prometheus; fi
if [[ "$graf_changed" == 1 ]]; then run_or_dry docker restart grafana; fi

wait_for_http "http://127.0.0.1:${prom_map%%:*}/-/ready" 30 5 || log_fatal "Prometheus is not ready on port ${prom_map%%:*}"
wait_for_http "http://127.0.0.1:${graf_map%%:*}/api/health" 30 5 || log_fatal "Grafana does not answer on port ${graf_map%%:*}"
log_info "Prometheus on port ${prom_map%%:*}, Grafana on port ${graf_map%%:*}"
