#!/usr/bin/env bash
# VM feature "step_cli": Smallstep's `step` command from Smallstep's apt repository.
# Runs INSIDE the VM as root (see docs/features.md, VM feature scripts). Args: none.
# Exit 0 = done or already done; 1 = failure (one line on stderr). Idempotent, non-interactive.
# Defaults (see docs/services.md): the repository below.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

KEY_URL="https://packages.smallstep.com/keys/apt/repo-signing-key.gpg"
KEYRING="/etc/apt/keyrings/smallstep.asc"
SOURCES="/etc/apt/sources.list.d/smallstep.list"
REPO_LINE="deb [signed-by=${KEYRING}] https://packages.smallstep.com/stable/debian debs main"

log() { printf '%s [INFO] VM %s step_cli: %s\n' "$(date '+%F %T')" "${PHOENIX_VMID:-?}" "$*" >&2; }
die() { printf '%s [ERROR] VM %s step_cli: %s\n' "$(date '+%F %T')" "${PHOENIX_VMID:-?}" "$*" >&2; exit 1; }
trap 'die "failed (exit $?) at line ${LINENO}: ${BASH_COMMAND}"' ERR

[[ "$(id -u)" == 0 ]] || die "must run as root"
if dpkg-query -W -f='${db:Status-Abbrev}' step-cli 2>/dev/null | grep -q '^ii'; then
    log "step-cli is already installed"
    exit 0
fi
command -v curl >/dev/null 2>&1 || { apt-get update && apt-get install -y ca-certificates curl; }
if [[ ! -s "$KEYRING" ]]; then
    install -m 0755 -d "$(dirname "$KEYRING")"
    curl -fsSL "$KEY_URL" -o "$KEYRING"
fi
if [[ "$(cat "$SOURCES" 2>/dev/null)" != "$REPO_LINE" ]]; then
    printf '%s\n' "$REPO_LINE" >"$SOURCES"
fi
apt-get update
apt-get install -y step-cli
log "step-cli installed"
