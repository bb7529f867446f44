#!/usr/bin/env bash
# Feature "ollama": the Ollama server (binary, "ollama" user, ollama.service) inside a container,
# with Ollama's official Linux installer. Listening address and models folder are set by the
# container's application script (phoenix_hypervisor_lxc_955.sh), not here.
# Usage: phoenix_hypervisor_feature_install_ollama.sh <CTID>   (runs on the Proxmox host)
# Config: none read besides the container's existence (no config key exists for the installer).
# Default (see docs/features.md): OLLAMA_INSTALL_URL below.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"

OLLAMA_INSTALL_URL="https://ollama.com/install.sh"

phoenix_feature_init ollama "$@"

if is_command_available "$CTID" ollama; then
    log_info "ollama is already installed"
else
    # curl fetches, zstd unpacks recent releases, lspci lets the installer detect NVIDIA GPUs.
    ensure_package_in_container "$CTID" ca-certificates curl zstd pciutils
    run_pct_exec "$CTID" sh -c 'curl -fsSL "$1" | sh' ollama-install "$OLLAMA_INSTALL_URL"
    if ! is_dry_run && ! is_command_available "$CTID" ollama; then
        log_fatal "the Ollama installer finished but 'ollama' is not on PATH"
    fi
fi

if is_dry_run || pct_check "$CTID" 'systemctl cat "$1" >/dev/null 2>&1' ollama.service; then
    ensure_service_enabled_in_container "$CTID" ollama
else
    log_fatal "ollama.service does not exist in the container (the installer creates it when systemd runs)"
fi

log_info "ollama feature complete"
