#!/usr/bin/env bash
# Application script for CT 957: llama.cpp's OpenAI-compatible server. Runs INSIDE the container.
# Builds llama.cpp from source (with CUDA when the nvidia feature installed nvcc), then serves the
# GGUF model found in the shared models folder (hypervisor shared_volumes.llamacpp_models, mounted
# at /llamacpp_models) with a systemd unit. With no .gguf file there, it builds but serves nothing
# and says so. With several, it serves the first in name order and says which.
# Config (guest_config.json): ports (container side 8081).
# Defaults (see docs/features.md): LLAMACPP_REPO, LLAMACPP_REF, LLAMACPP_DIR, LLAMACPP_PORT,
# LLAMACPP_MODELS_DIR, LLAMACPP_GPU_LAYERS.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

LLAMACPP_REPO="https://github.com/ggml-org/llama.cpp"
LLAMACPP_REF="master"
LLAMACPP_DIR="/opt/llama.cpp"
LLAMACPP_PORT=8081
LLAMACPP_MODELS_DIR="/llamacpp_models"
LLAMACPP_GPU_LAYERS=999
UNIT="/etc/systemd/system/llama-server.service"

phoenix_app_init llamacpp
ensure_local_packages git cmake build-essential libcurl4-openssl-dev curl

ports_list="$(guest_ports)"
mapfile -t ports <<<"$ports_list"
port_map="$(ports_mapping_for "$LLAMACPP_PORT" "${ports[@]}")"
listen_port="${port_map##*:}"
server_bin="${LLAMACPP_DIR}/build/bin/llama-server"

# 1. Source and build (once).
if [[ -x "$server_bin" ]]; then
    log_info "llama-server already built (${server_bin})"
else
    if [[ ! -d "${LLAMACPP_DIR}/.git" ]]; then
        run_or_dry git clone --depth 1 --branch "$LLAMACPP_REF" "$LLAMACPP_REPO" "$LLAMACPP_DIR"
    fi
    cmake_args=(-S "$LLAMACPP_DIR" -B "${LLAMACPP_DIR}/build" -DCMAKE_BUILD_TYPE=Release)
    nvcc=""
    if command -v nvcc >/dev/null 2>&1; then
        nvcc="$(command -v nvcc)"
    elif [[ -x /usr/local/cuda/bin/nvcc ]]; then
        nvcc=/usr/local/cuda/bin/nvcc
    fi
    if [[ -n "$nvcc" ]]; then
        cmake_args+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_COMPILER=${nvcc}")
    else
        log_warn "nvcc not found: building llama.cpp for CPU only"
    fi
    run_or_dry cmake "${cmake_args[@]}"
    run_or_dry cmake --build "${LLAMACPP_DIR}/build" --config Release -j "$(nproc)" --target llama-server
fi

# 2. Model.
model=""
if [[ -d "$LLAMACPP_MODELS_DIR" ]]; then
    model="$(find "$LLAMACPP_MODELS_DIR" -maxdepth 2 -type f -name '*.gguf' | LC_ALL=C sort | head -n 1)"
fi
if [[ -z "$model" ]]; then
    log_warn "no .gguf model in ${LLAMACPP_MODELS_DIR}: llama-server is built but not started"
    exit 0
fi
[[ "$model" =~ ^/[A-Za-z0-9_./-]+$ ]] || log_fatal "model path '${model}' has characters a unit command line cannot hold; rename the file"
log_info "serving model ${model}"

# 3. Unit.
PHOENIX_CHANGED=0
ensure_local_file "$UNIT" 0644 "[Unit]
Description=llama.cpp server (Phoenix CT ${PHOENIX_CTID})
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${server_bin} -m ${model} --host 0.0.0.0 --port ${listen_port} -ngl ${LLAMACPP_GPU_LAYERS}
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
"
if [[ "$PHOENIX_CHANGED" == 1 ]]; then
    run_or_dry systemctl daemon-reload
    if systemctl is-active --quiet llama-server; then
        run_or_dry systemctl restart llama-server
    fi
fi
if ! systemctl is-active --quiet llama-server || ! systemctl is-enabled --quiet llama-server; then
    run_or_dry systemctl enable --now llama-server
fi
wait_for_http "http://127.0.0.1:${listen_port}/health" 60 5 || log_fatal "llama-server does not answer on port ${listen_port} (journalctl -u llama-server)"
log_info "llama-server is up on port ${listen_port}"
