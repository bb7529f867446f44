#!/usr/bin/env bash
# VM feature "base_setup": base packages and a running QEMU guest agent in an Ubuntu 24.04 VM.
# Runs INSIDE the VM as root (vm-manager transfers it with the guest agent and runs it with
# `qm guest exec`). Args: none. Env: PHOENIX_VMID. vm_config.json beside the script (unused here).
# Exit 0 = done or already done; 1 = failure (one line on stderr). Idempotent, non-interactive.
# Default (see docs/features.md): BASE_PACKAGES below.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

BASE_PACKAGES=(ca-certificates curl wget jq gnupg lsb-release qemu-guest-agent)

log() { printf '%s [INFO] VM %s base_setup: %s\n' "$(date '+%F %T')" "${PHOENIX_VMID:-?}" "$*" >&2; }
die() { printf '%s [ERROR] VM %s base_setup: %s\n' "$(date '+%F %T')" "${PHOENIX_VMID:-?}" "$*" >&2; exit 1; }
trap 'die "failed (exit $?) at line ${LINENO}: ${BASH_COMMAND}"' ERR

[[ "$(id -u)" == 0 ]] || die "must run as root"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script supports Ubuntu/Debian guests"

missing=()
for p in "${BASE_PACKAGES[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update
    apt-get install -y "${missing[@]}"
else
    log "base packages already installed"
fi

if systemctl is-active --quiet qemu-guest-agent; then
    log "qemu-guest-agent is running"
else
    systemctl enable --now qemu-guest-agent || systemctl start qemu-guest-agent
fi
log "base setup complete"
