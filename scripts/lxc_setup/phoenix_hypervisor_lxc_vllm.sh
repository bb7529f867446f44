#!/usr/bin/env bash
# Application script for vLLM containers (920, 921, 941, 950, 951). Runs INSIDE the container.
# Starts the vllm.service written by feature "vllm" and waits until the OpenAI API serves the
# configured model. Port and served model name come from /etc/vllm/endpoint.env (written by the
# feature from the container's config).
# Defaults (see docs/features.md): START_RETRIES x START_INTERVAL seconds to wait for the first
# model load (downloads included).
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

VLLM_UNIT="vllm.service"
VLLM_ENDPOINT_FILE="/etc/vllm/endpoint.env"
START_RETRIES=120
START_INTERVAL=10

phoenix_app_init vllm
ensure_local_packages curl jq

[[ -f "/etc/systemd/system/${VLLM_UNIT}" ]] || log_fatal "${VLLM_UNIT} is missing: run feature vllm first"
[[ -r "$VLLM_ENDPOINT_FILE" ]] || log_fatal "${VLLM_ENDPOINT_FILE} is missing: run feature vllm first"
port="$(grep -m1 '^VLLM_PORT=' "$VLLM_ENDPOINT_FILE" | cut -d= -f2-)"
served_name="$(grep -m1 '^VLLM_SERVED_MODEL_NAME=' "$VLLM_ENDPOINT_FILE" | cut -d= -f2-)"
validate_port "$port" VLLM_PORT || log_fatal "invalid VLLM_PORT in ${VLLM_ENDPOINT_FILE}"

if systemctl is-active --quiet "$VLLM_UNIT"; then
    log_info "${VLLM_UNIT} is running"
else
    run_or_dry systemctl enable --now "$VLLM_UNIT"
fi

wait_for_http "http://127.0.0.1:${port}/health" "$START_RETRIES" "$START_INTERVAL" ||
    log_fatal "vLLM did not become healthy on port ${port} (see: journalctl -u ${VLLM_UNIT})"
if ! is_dry_run; then
    models="$(curl -fsS --max-time 10 "http://127.0.0.1:${port}/v1/models")" || log_fatal "GET /v1/models failed on port ${port}"
    if ! jq -e --arg m "$served_name" '[.data[]?.id] | index($m) != null' <<<"$models" >/dev/null; then
        log_fatal "vLLM serves $(jq -c '[.data[]?.id]' <<<"$models"), not '${served_name}'"
    fi
fi
log_info "vLLM serves '${served_name}' on port ${port}"
