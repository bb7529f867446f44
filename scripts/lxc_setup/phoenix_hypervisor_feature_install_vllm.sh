#!/usr/bin/env bash
# Feature "vllm": vLLM in a Python virtual environment and a systemd unit serving the model the
# container's config names. The unit is enabled, not started: the application script
# (phoenix_hypervisor_lxc_vllm.sh) starts it and waits for the API.
# Usage: phoenix_hypervisor_feature_install_vllm.sh <CTID>   (runs on the Proxmox host)
# Config (LXC entry):
#   .vllm_version (optional)       pip pin "vllm==<version>"; latest when absent
#   .vllm_engine_config            {Section: {key: value}}: ModelConfig.model is the model, every other
#                                  key becomes --key-with-dashes value (true -> flag, false/null -> omitted)
#   else .vllm_model + .vllm_args  the model and the arguments as given, then, for flags vllm_args
#                                  lacks: vllm_served_model_name, vllm_tensor_parallel_size,
#                                  vllm_gpu_memory_utilization, vllm_max_model_len, vllm_quantization,
#                                  vllm_trust_remote_code (true -> flag)
#   port                           ServerConfig.port | vllm_port | container side of ports[0] | 8000
#   HF_HOME                        .zfs_volumes[] named vllm_models | hypervisor
#                                  .shared_volumes.vllm_models.mounts[CTID] (unset when neither)
#   HF token                       hypervisor .core_paths.hf_token_file, read on the host under
#                                  PHOENIX_HOST_ROOT, pushed as /etc/vllm/hf_token.env (0600) when present
# Defaults (see docs/features.md): VLLM_VENV, VLLM_UNIT, VLLM_DEFAULT_PORT below.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"

VLLM_VENV="/opt/vllm"
VLLM_UNIT="vllm.service"
VLLM_DEFAULT_PORT=8000
VLLM_ENDPOINT_FILE="/etc/vllm/endpoint.env"
VLLM_TOKEN_FILE="/etc/vllm/hf_token.env"

phoenix_feature_init vllm "$@"

# ---- 1. Build the command line from config (fails before touching the container). ------------
entry="$(lxc_entry_json "$CTID")"

# One argument per line: the model first, then the options.
serve_args_json="$(jq -c '
  def flag($k): "--" + ($k | gsub("_"; "-"));
  def opt($k; $v):
    if $v == true then [flag($k)]
    elif $v == false or $v == null then []
    elif ($v | type) == "array" then [flag($k)] + ($v | map(tostring))
    else [flag($k), ($v | tostring)] end;
  if .vllm_engine_config then
    .vllm_engine_config as $e
    | [$e.ModelConfig.model // empty]
      + ([$e | to_entries[] | .value // {} | to_entries[] | select(.key != "model") | opt(.key; .value)] | add // [])
  elif .vllm_model then
    (.vllm_args // [] | map(tostring)) as $a
    | [.vllm_model] + $a
      + ([ ["served_model_name", .vllm_served_model_name],
           ["tensor_parallel_size", .vllm_tensor_parallel_size],
           ["gpu_memory_utilization", .vllm_gpu_memory_utilization],
           ["max_model_len", .vllm_max_model_len],
           ["quantization", .vllm_quantization],
           ["trust_remote_code", .vllm_trust_remote_code] ]
         | map(select(.[1] != null and ((flag(.[0])) as $f | $a | index($f) | not)) | opt(.[0]; .[1]))
         | add // [])
  else [] end' <<<"$entry")"

mapfile -t serve_args < <(jq -r '.[]' <<<"$serve_args_json")
if ((${#serve_args[@]} == 0)); then
    log_fatal "no model configured: set vllm_engine_config.ModelConfig.model or vllm_model"
fi
model="${serve_args[0]}"

port="$(jq -r --argjson d "$VLLM_DEFAULT_PORT" '
  .vllm_engine_config.ServerConfig.port // .vllm_port
  // ((.ports // [])[0] // "" | tostring | split(":") | .[-1] | select(. != "") | tonumber)
  // $d' <<<"$entry")"
validate_port "$port" "vLLM port" || log_fatal "invalid vLLM port '${port}'"
if ! printf '%s\n' "${serve_args[@]}" | grep -qx -- '--port'; then
    serve_args+=(--port "$port")
fi
served_name="$(jq -r '.vllm_engine_config.ServerConfig.served_model_name // .vllm_served_model_name // empty' <<<"$entry")"
served_name="${served_name:-$model}"

# systemd expands % and $ and splits on blanks: accept only plain words.
for a in "${serve_args[@]}" "$served_name"; do
    if [[ ! "$a" =~ ^[A-Za-z0-9_./:=,+@-]+$ ]]; then
        log_fatal "vLLM argument '${a}' contains characters not allowed in a unit's command line"
    fi
done

models_dir="$(jq -r '((.zfs_volumes // []) + (.volumes // []) | map(select(.name == "vllm_models")) | .[0].mount_point) // empty' <<<"$entry")"
if [[ -z "$models_dir" ]]; then
    models_dir="$(get_global_config_value ".shared_volumes.vllm_models.mounts[\"${CTID}\"]" || true)"
fi
if [[ -n "$models_dir" && ! "$models_dir" =~ ^/[A-Za-z0-9_./-]*$ ]]; then
    log_fatal "invalid models folder '${models_dir}'"
fi

version="$(jq_get_value "$CTID" '.vllm_version' || true)"
if [[ -n "$version" ]]; then
    validate_version "$version" vllm_version || log_fatal "invalid vllm_version"
fi

# ---- 2. Python environment and vLLM. -----------------------------------------------------------
if [[ -n "$version" ]]; then
    installed_ok='[ "$("$1/bin/python" -c "import vllm; print(vllm.__version__)" 2>/dev/null)" = "$2" ]'
else
    installed_ok='"$1/bin/python" -c "import vllm" >/dev/null 2>&1'
fi
if pct_check "$CTID" "$installed_ok" "$VLLM_VENV" "$version"; then
    log_info "vLLM ${version:-(any version)} already installed in ${VLLM_VENV}"
else
    ensure_package_in_container "$CTID" python3 python3-venv python3-pip python3-dev build-essential
    if ! pct_check "$CTID" '[ -x "$1/bin/python" ]' "$VLLM_VENV"; then
        run_pct_exec "$CTID" python3 -m venv "$VLLM_VENV"
    fi
    run_pct_exec "$CTID" "${VLLM_VENV}/bin/pip" install --upgrade pip
    run_pct_exec "$CTID" "${VLLM_VENV}/bin/pip" install "vllm${version:+==${version}}"
fi

# ---- 3. Hugging Face token (never logged). -----------------------------------------------------
token_file="$(get_global_config_value '.core_paths.hf_token_file' || true)"
has_token=0
if [[ -n "$token_file" && -r "${PHOENIX_HOST_ROOT}${token_file}" ]]; then
    token_line="$(grep -m1 -E '^(HF_TOKEN=)?[A-Za-z0-9_-]+$' "${PHOENIX_HOST_ROOT}${token_file}" || true)"
    if [[ -n "$token_line" ]]; then
        has_token=1
        ensure_file_in_container "$CTID" "$VLLM_TOKEN_FILE" 0600 "HF_TOKEN=${token_line#HF_TOKEN=}"$'\n'
    else
        log_warn "${token_file} holds no token line: vLLM runs without HF_TOKEN"
    fi
else
    log_info "no Hugging Face token file on the host: only public models can be downloaded"
fi

# ---- 4. systemd unit and endpoint description for the application script. ---------------------
unit="[Unit]
Description=vLLM OpenAI-compatible server for ${served_name} (Phoenix CT ${CTID})
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${VLLM_VENV}/bin/vllm serve ${serve_args[*]}
"
if [[ -n "$models_dir" ]]; then
    unit+="Environment=HF_HOME=${models_dir}
"
fi
if ((has_token)); then
    unit+="EnvironmentFile=-${VLLM_TOKEN_FILE}
"
fi
unit+="Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
"
PHOENIX_CHANGED=0
ensure_file_in_container "$CTID" "/etc/systemd/system/${VLLM_UNIT}" 0644 "$unit"
unit_changed="$PHOENIX_CHANGED"
ensure_file_in_container "$CTID" "$VLLM_ENDPOINT_FILE" 0644 "VLLM_PORT=${port}
VLLM_SERVED_MODEL_NAME=${served_name}
"

if [[ "$unit_changed" == 1 ]]; then
    run_pct_exec "$CTID" systemctl daemon-reload
    if pct_check "$CTID" 'systemctl is-active --quiet "$1"' "$VLLM_UNIT"; then
        log_info "unit changed: restarting ${VLLM_UNIT}"
        run_pct_exec "$CTID" systemctl restart "$VLLM_UNIT"
    fi
fi
if pct_check "$CTID" 'systemctl is-enabled --quiet "$1"' "$VLLM_UNIT"; then
    log_info "${VLLM_UNIT} is enabled"
else
    run_pct_exec "$CTID" systemctl enable "$VLLM_UNIT"
fi

log_info "vllm feature complete (model ${model}, port ${port})"
