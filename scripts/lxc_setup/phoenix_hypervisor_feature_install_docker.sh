#!/usr/bin/env bash
# Feature "docker": Docker Engine from Docker's apt repository inside an Ubuntu container, then the
# Portainer server or agent when the container's portainer_role asks for it.
# Usage: phoenix_hypervisor_feature_install_docker.sh <CTID>   (runs on the Proxmox host)
# Config:
#   LXC entry .portainer_role: "server" | "agent" | anything else (no Portainer).
#   hypervisor .docker.portainer_server_image, .docker.portainer_agent_image,
#              .network.portainer_server_port (host port of the HTTPS UI),
#              .network.portainer_agent_port (host port of the agent).
#   LXC entry .volumes[] with mount_point "/data" (or named "portainer_data"): bind-mounted as the
#              server's /data; otherwise the docker volume "portainer_data" is used.
# Defaults (no config key exists for them; see docs/features.md): DOCKER_REPO_URL, DOCKER_PACKAGES,
# PORTAINER_* container ports and names below.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"

DOCKER_REPO_URL="https://download.docker.com/linux/ubuntu"
DOCKER_KEYRING="/etc/apt/keyrings/docker.asc"
DOCKER_SOURCES_FILE="/etc/apt/sources.list.d/docker.list"
DOCKER_PACKAGES=(docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin)
PORTAINER_SERVER_NAME="portainer"
PORTAINER_SERVER_CONTAINER_PORT=9443
PORTAINER_AGENT_NAME="portainer_agent"
PORTAINER_AGENT_CONTAINER_PORT=9001

phoenix_feature_init docker "$@"

install_docker_engine() {
    local pkg all_installed=1
    for pkg in "${DOCKER_PACKAGES[@]}"; do
        if ! is_package_installed_in_container "$CTID" "$pkg"; then
            all_installed=0
            break
        fi
    done
    if ((all_installed)); then
        log_info "Docker Engine packages already installed"
        return 0
    fi

    ensure_package_in_container "$CTID" ca-certificates curl

    # Keyring.
    if pct_check "$CTID" '[ -s "$1" ]' "$DOCKER_KEYRING"; then
        log_info "Docker apt key present (${DOCKER_KEYRING})"
    else
        run_pct_exec "$CTID" install -m 0755 -d "$(dirname "$DOCKER_KEYRING")"
        run_pct_exec "$CTID" curl -fsSL "${DOCKER_REPO_URL}/gpg" -o "$DOCKER_KEYRING"
        run_pct_exec "$CTID" chmod a+r "$DOCKER_KEYRING"
    fi

    # Repository line, for the container's architecture and Ubuntu release.
    local arch codename
    arch="$(pct_read "$CTID" 'dpkg --print-architecture' | head -n 1 || true)"
    codename="$(pct_read "$CTID" '. /etc/os-release && printf "%s\n" "${VERSION_CODENAME:-}"' | head -n 1 || true)"
    if [[ ! "$arch" =~ ^[a-z0-9]+$ || ! "$codename" =~ ^[a-z]+$ ]]; then
        if is_dry_run; then
            arch="${arch:-<arch>}"
            codename="${codename:-<codename>}"
        else
            log_fatal "cannot read the container's architecture/release (got '${arch}'/'${codename}')"
        fi
    fi
    ensure_file_in_container "$CTID" "$DOCKER_SOURCES_FILE" 0644 \
        "deb [arch=${arch} signed-by=${DOCKER_KEYRING}] ${DOCKER_REPO_URL} ${codename} stable"$'\n'

    # The new repository needs a fresh package list even if one was fetched before.
    run_pct_exec "$CTID" env DEBIAN_FRONTEND=noninteractive apt-get update
    _PHOENIX_APT_UPDATED+=" $CTID "
    ensure_package_in_container "$CTID" "${DOCKER_PACKAGES[@]}"
}

# portainer_run <name> <argv after "docker run -d --name NAME"...>: start the Portainer container
# unless it is running; start it if it exists but is stopped.
portainer_run() {
    local name="$1"
    shift
    if pct_check "$CTID" '[ "$(docker inspect -f "{{.State.Running}}" "$1" 2>/dev/null)" = true ]' "$name"; then
        log_info "container ${name} is already running"
        return 0
    fi
    if pct_check "$CTID" 'docker container inspect "$1" >/dev/null 2>&1' "$name"; then
        log_info "container ${name} exists but is stopped: starting it"
        run_pct_exec "$CTID" docker start "$name"
        return 0
    fi
    run_pct_exec "$CTID" docker run -d --name "$name" --restart=always "$@"
}

config_port() {
    local v
    v="$(get_global_config_value "$1")" || log_fatal "missing $1 in ${PHOENIX_CONFIG}"
    validate_port "$v" "$1" || log_fatal "invalid $1 in ${PHOENIX_CONFIG}"
    printf '%s\n' "$v"
}
config_image() {
    local v
    v="$(get_global_config_value "$1")" || log_fatal "missing $1 in ${PHOENIX_CONFIG}"
    validate_image "$v" "$1" || log_fatal "invalid $1 in ${PHOENIX_CONFIG}"
    printf '%s\n' "$v"
}

install_docker_engine
ensure_service_enabled_in_container "$CTID" docker

role="$(jq_get_value "$CTID" '.portainer_role' || true)"
case "$role" in
    server)
        image="$(config_image '.docker.portainer_server_image')"
        port="$(config_port '.network.portainer_server_port')"
        data_dir="$(jq_get_value "$CTID" '.volumes // [] | map(select(.mount_point == "/data" or .name == "portainer_data")) | .[0].mount_point' || true)"
        data_arg="portainer_data:/data"
        if [[ -n "$data_dir" ]]; then
            [[ "$data_dir" =~ ^/[A-Za-z0-9_./-]*$ ]] || log_fatal "invalid volume mount point '${data_dir}'"
            data_arg="${data_dir}:/data"
        fi
        portainer_run "$PORTAINER_SERVER_NAME" \
            -p "${port}:${PORTAINER_SERVER_CONTAINER_PORT}" \
            -v /var/run/docker.sock:/var/run/docker.sock \
            -v "$data_arg" \
            "$image"
        ;;
    agent)
        image="$(config_image '.docker.portainer_agent_image')"
        port="$(config_port '.network.portainer_agent_port')"
        portainer_run "$PORTAINER_AGENT_NAME" \
            -p "${port}:${PORTAINER_AGENT_CONTAINER_PORT}" \
            -v /var/run/docker.sock:/var/run/docker.sock \
            -v /var/lib/docker/volumes:/var/lib/docker/volumes \
            "$image"
        ;;
    *)
        log_info "portainer_role is '${role:-unset}': no Portainer container"
        ;;
esac

log_info "docker feature complete"
