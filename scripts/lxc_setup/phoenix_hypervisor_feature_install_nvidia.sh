#!/usr/bin/env bash
# Feature "nvidia": NVIDIA user-space driver (runfile, --no-kernel-module: the host owns the kernel
# module) and the CUDA toolkit from NVIDIA's apt repository, inside a container with GPUs assigned.
# Usage: phoenix_hypervisor_feature_install_nvidia.sh <CTID>   (runs on the Proxmox host)
# Config (LXC config top level first, then the hypervisor config's nvidia_driver section):
#   driver version : .nvidia_driver_version   | .nvidia_driver.version
#   runfile URL    : .nvidia_runfile_url      | .nvidia_driver.runfile_url
#   CUDA apt repo  : .nvidia_repo_url         (no repo, no toolkit when absent)
#   CUDA version   : hypervisor .nvidia_driver.cuda_version -> package cuda-toolkit-X-Y (skipped when absent)
#   LXC entry .gpu_assignment: "none" or empty -> nothing to do.
# Default (no config key; see docs/features.md): CUDA_KEYRING_DEB below.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"

CUDA_KEYRING_DEB="cuda-keyring_1.1-1_all.deb"

phoenix_feature_init nvidia "$@"

gpus="$(jq_get_value "$CTID" '.gpu_assignment' || true)"
if [[ -z "$gpus" || "$gpus" == none ]]; then
    log_info "gpu_assignment is '${gpus:-unset}': no NVIDIA driver needed"
    exit 0
fi

version="$(get_lxc_top_value '.nvidia_driver_version' || get_global_config_value '.nvidia_driver.version' || true)"
runfile_url="$(get_lxc_top_value '.nvidia_runfile_url' || get_global_config_value '.nvidia_driver.runfile_url' || true)"
repo_url="$(get_lxc_top_value '.nvidia_repo_url' || true)"
cuda_version="$(get_global_config_value '.nvidia_driver.cuda_version' || true)"

[[ -n "$version" ]] || log_fatal "no NVIDIA driver version: set nvidia_driver_version in $(get_lxc_config_file)"
validate_version "$version" nvidia_driver_version || log_fatal "invalid nvidia_driver_version"
[[ -n "$runfile_url" ]] || log_fatal "no NVIDIA runfile URL: set nvidia_runfile_url in $(get_lxc_config_file)"
validate_url "$runfile_url" nvidia_runfile_url || log_fatal "invalid nvidia_runfile_url"
runfile="$(basename "$runfile_url")"
[[ "$runfile" =~ ^[A-Za-z0-9._-]+\.run$ ]] || log_fatal "nvidia_runfile_url does not name a .run file: ${runfile_url}"
if [[ "$runfile" != *"$version"* ]]; then
    log_warn "runfile ${runfile} does not carry the configured version ${version}"
fi

# 1. User-space driver.
if pct_check "$CTID" '[ "$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | tr -d " ")" = "$1" ]' "$version"; then
    log_info "nvidia-smi already reports driver ${version}"
elif pct_check "$CTID" 'ls /usr/lib/*/libnvidia-ml.so."$1" >/dev/null 2>&1' "$version"; then
    log_warn "user-space driver ${version} is installed but nvidia-smi cannot reach a GPU: check the GPU device passthrough of CT ${CTID}"
else
    log_info "installing NVIDIA user-space driver ${version}"
    ensure_package_in_container "$CTID" ca-certificates curl
    run_pct_exec "$CTID" curl -fsSL -o "/tmp/${runfile}" "$runfile_url"
    run_pct_exec "$CTID" sh "/tmp/${runfile}" --silent --no-kernel-module --no-x-check --no-nouveau-check --no-questions
    run_pct_exec "$CTID" rm -f "/tmp/${runfile}"
fi

# 2. CUDA repository and toolkit.
if [[ -z "$repo_url" ]]; then
    log_info "no nvidia_repo_url: skipping the CUDA repository"
else
    validate_url "$repo_url" nvidia_repo_url || log_fatal "invalid nvidia_repo_url"
    repo_url="${repo_url%/}/"
    if is_package_installed_in_container "$CTID" cuda-keyring; then
        log_info "CUDA repository keyring installed"
    else
        ensure_package_in_container "$CTID" ca-certificates curl
        run_pct_exec "$CTID" curl -fsSL -o "/tmp/${CUDA_KEYRING_DEB}" "${repo_url}${CUDA_KEYRING_DEB}"
        run_pct_exec "$CTID" env DEBIAN_FRONTEND=noninteractive dpkg -i "/tmp/${CUDA_KEYRING_DEB}"
        run_pct_exec "$CTID" rm -f "/tmp/${CUDA_KEYRING_DEB}"
        run_pct_exec "$CTID" env DEBIAN_FRONTEND=noninteractive apt-get update
        _PHOENIX_APT_UPDATED+=" $CTID "
    fi
    if [[ -n "$cuda_version" ]]; then
        [[ "$cuda_version" =~ ^[0-9]+\.[0-9]+$ ]] || log_fatal "invalid nvidia_driver.cuda_version '${cuda_version}'"
        ensure_package_in_container "$CTID" "cuda-toolkit-${cuda_version//./-}"
    else
        log_info "no nvidia_driver.cuda_version: skipping the CUDA toolkit"
    fi
fi

log_info "nvidia feature complete (driver ${version})"
