#!/usr/bin/env bash
# VM feature "docker": Docker Engine from Docker's apt repository in an Ubuntu 24.04 VM, the VM's
# user in the "docker" group, and `docker run --rm hello-world` as the final check.
# Runs INSIDE the VM as root (transferred with the guest agent, run by `qm guest exec`). Args: none.
# Env: PHOENIX_VMID. Config: vm_config.json beside the script (or $PHOENIX_VM_CONFIG_JSON):
#   .user_config.username  user added to the docker group (skipped when absent).
# Exit 0 = done or already done; 1 = failure (one line on stderr). Idempotent, non-interactive.
# Defaults (see docs/features.md): DOCKER_REPO_URL, DOCKER_PACKAGES below.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

DOCKER_REPO_URL="https://download.docker.com/linux/ubuntu"
DOCKER_KEYRING="/etc/apt/keyrings/docker.asc"
DOCKER_SOURCES_FILE="/etc/apt/sources.list.d/docker.list"
DOCKER_PACKAGES=(docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin)

log() { printf '%s [INFO] VM %s docker: %s\n' "$(date '+%F %T')" "${PHOENIX_VMID:-?}" "$*" >&2; }
die() { printf '%s [ERROR] VM %s docker: %s\n' "$(date '+%F %T')" "${PHOENIX_VMID:-?}" "$*" >&2; exit 1; }
trap 'die "failed (exit $?) at line ${LINENO}: ${BASH_COMMAND}"' ERR

config="${PHOENIX_VM_CONFIG_JSON:-$(dirname "${BASH_SOURCE[0]}")/vm_config.json}"
# json_get <dotted.path>: string value from the config, empty when absent (jq, else python3).
json_get() {
    [[ -r "$config" ]] || return 0
    if command -v jq >/dev/null 2>&1; then
        jq -r --arg p "$1" 'getpath($p | split(".")) // empty | tostring' "$config"
    else
        python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v=v.get(k) if isinstance(v,dict) else None
print("" if v is None else v)' "$config" "$1"
    fi
}
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }

[[ "$(id -u)" == 0 ]] || die "must run as root"
username="$(json_get user_config.username)"
if [[ -n "$username" && ! "$username" =~ ^[a-z_][a-z0-9_-]*$ ]]; then
    die "invalid user_config.username '${username}' in ${config}"
fi

# 1. Engine.
missing=()
for p in "${DOCKER_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]} == 0)); then
    log "Docker Engine already installed"
else
    for p in ca-certificates curl; do
        if ! installed "$p"; then
            apt-get update
            apt-get install -y ca-certificates curl
            break
        fi
    done
    if [[ ! -s "$DOCKER_KEYRING" ]]; then
        install -m 0755 -d "$(dirname "$DOCKER_KEYRING")"
        curl -fsSL "${DOCKER_REPO_URL}/gpg" -o "$DOCKER_KEYRING"
        chmod a+r "$DOCKER_KEYRING"
    fi
    # shellcheck source=/dev/null
    codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
    [[ "$codename" =~ ^[a-z]+$ ]] || die "cannot read the Ubuntu release codename from /etc/os-release"
    line="deb [arch=$(dpkg --print-architecture) signed-by=${DOCKER_KEYRING}] ${DOCKER_REPO_URL} ${codename} stable"
    if [[ "$(cat "$DOCKER_SOURCES_FILE" 2>/dev/null || true)" != "$line" ]]; then
        printf '%s\n' "$line" >"$DOCKER_SOURCES_FILE"
    fi
    apt-get update
    log "installing ${missing[*]}"
    apt-get install -y "${missing[@]}"
fi
if ! systemctl is-active --quiet docker || ! systemctl is-enabled --quiet docker; then
    systemctl enable --now docker
fi

# 2. User in the docker group.
if [[ -n "$username" ]]; then
    id "$username" >/dev/null 2>&1 || die "user '${username}' (user_config.username) does not exist in the VM"
    if id -nG "$username" | tr ' ' '\n' | grep -qx docker; then
        log "${username} is in the docker group"
    else
        usermod -aG docker "$username"
        log "added ${username} to the docker group"
    fi
else
    log "no user_config.username: no user added to the docker group"
fi

# 3. Check.
docker run --rm hello-world >/dev/null || die "'docker run --rm hello-world' failed"
log "docker works (hello-world ran)"
