#!/usr/bin/env bash
# Application script for CT 955: the Ollama service (installed by feature "ollama"). Runs INSIDE
# the container. Makes Ollama listen on all interfaces on the configured port and keep its models in
# the shared models folder (hypervisor shared_volumes.ollama_models, mounted at /ollama_models),
# which must be writable by the "ollama" user.
# Config (guest_config.json): ports (container side 11434 is Ollama's port).
# Defaults (see docs/features.md): OLLAMA_PORT, OLLAMA_MODELS_DIR.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

OLLAMA_PORT=11434
OLLAMA_MODELS_DIR="/ollama_models"
DROPIN="/etc/systemd/system/ollama.service.d/phoenix.conf"

phoenix_app_init ollama
command -v ollama >/dev/null 2>&1 || log_fatal "ollama is not installed (feature ollama)"
id ollama >/dev/null 2>&1 || log_fatal "user 'ollama' does not exist (feature ollama creates it)"
ensure_local_packages curl

ports_list="$(guest_ports)"
mapfile -t ports <<<"$ports_list"
port_map="$(ports_mapping_for "$OLLAMA_PORT" "${ports[@]}")"
listen_port="${port_map##*:}"

# Models folder: present and writable by the service user.
[[ -d "$OLLAMA_MODELS_DIR" ]] || run_or_dry mkdir -p "$OLLAMA_MODELS_DIR"
if ! is_dry_run && ! runuser -u ollama -- test -w "$OLLAMA_MODELS_DIR"; then
    run_or_dry chown ollama:ollama "$OLLAMA_MODELS_DIR" ||
        log_fatal "${OLLAMA_MODELS_DIR} is not writable by user ollama and cannot be chowned (check the host mount's ownership)"
    run_or_dry chmod 0755 "$OLLAMA_MODELS_DIR"
fi

PHOENIX_CHANGED=0
ensure_local_file "$DROPIN" 0644 "[Service]
Environment=\"OLLAMA_HOST=0.0.0.0:${listen_port}\"
Environment=\"OLLAMA_MODELS=${OLLAMA_MODELS_DIR}\"
"
if [[ "$PHOENIX_CHANGED" == 1 ]]; then
    run_or_dry systemctl daemon-reload
    if systemctl is-active --quiet ollama; then
        run_or_dry systemctl restart ollama
    fi
fi
if ! systemctl is-active --quiet ollama || ! systemctl is-enabled --quiet ollama; then
    run_or_dry systemctl enable --now ollama
fi
wait_for_http "http://127.0.0.1:${listen_port}/api/version" 30 2 || log_fatal "Ollama does not answer on port ${listen_port}"
log_info "Ollama listens on 0.0.0.0:${listen_port}, models in ${OLLAMA_MODELS_DIR}"
