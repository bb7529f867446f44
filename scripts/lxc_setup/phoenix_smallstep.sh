#!/usr/bin/env bash
# Sourced by the step_cli and step_ca features: Smallstep's apt repository in a container, and
# where the deployment's internal CA keeps its files.
# Defaults (no config key exists for them; see docs/services.md): SMALLSTEP_* below, the CA's
# STEPPATH inside its container, the exported root's file name.
# shellcheck disable=SC2016

SMALLSTEP_KEY_URL="https://packages.smallstep.com/keys/apt/repo-signing-key.gpg"
SMALLSTEP_KEYRING="/etc/apt/keyrings/smallstep.asc"
SMALLSTEP_SOURCES_FILE="/etc/apt/sources.list.d/smallstep.list"
SMALLSTEP_REPO="https://packages.smallstep.com/stable/debian"
# step-ca's state inside the CA container: a folder bind-mounted from the host, so the host and
# the other guests can read the exported root certificate.
CA_STEPPATH="/etc/step-ca/ssl"
# shellcheck disable=SC2034 # used by the scripts that source this file
CA_ROOT_FILE="phoenix_root_ca.crt"

# ensure_smallstep_repo <ctid>: key and source list, then a fresh package list when added.
ensure_smallstep_repo() {
    local ctid="$1"
    ensure_package_in_container "$ctid" ca-certificates curl
    if pct_check "$ctid" '[ -s "$1" ]' "$SMALLSTEP_KEYRING"; then
        log_info "Smallstep apt key present (${SMALLSTEP_KEYRING})"
    else
        run_pct_exec "$ctid" install -m 0755 -d "$(dirname "$SMALLSTEP_KEYRING")"
        run_pct_exec "$ctid" curl -fsSL "$SMALLSTEP_KEY_URL" -o "$SMALLSTEP_KEYRING"
    fi
    PHOENIX_CHANGED=0
    ensure_file_in_container "$ctid" "$SMALLSTEP_SOURCES_FILE" 0644 \
        "deb [signed-by=${SMALLSTEP_KEYRING}] ${SMALLSTEP_REPO} debs main"$'\n'
    if [[ "$PHOENIX_CHANGED" == 1 ]]; then
        run_pct_exec "$ctid" env DEBIAN_FRONTEND=noninteractive apt-get update
        _PHOENIX_APT_UPDATED+=" $ctid "
    fi
}

# ca_container: the container whose features include step_ca (the first, by ID).
ca_container() {
    jq -r '[.lxc_configs | to_entries[] | select((.value.features // []) | index("step_ca")) | .key] | sort_by(tonumber) | first // empty' \
        "$(get_lxc_config_file)"
}

# ca_host_dir: the host folder mounted at the CA container's STEPPATH.
ca_host_dir() {
    local ca
    ca="$(ca_container)"
    [[ -n "$ca" ]] || return 1
    jq -r --arg ca "$ca" --arg p "$CA_STEPPATH" \
        '[.lxc_configs[$ca].mount_points[]? | select((.container_path // .mount_point) == $p) | .host_path] | first // empty' \
        "$(get_lxc_config_file)"
}
