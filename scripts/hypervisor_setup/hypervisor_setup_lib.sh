#!/usr/bin/env bash
# shellcheck disable=SC2034 # HV_CHANGED is read by the step scripts that source this file
# hypervisor_setup_lib.sh - helpers shared by the host set-up steps
# (scripts/hypervisor_setup/hypervisor_feature_<step>.sh). Sourced, never executed.
#
# Every step: reads its values from $PHOENIX_CONFIG with jq, probes before it acts, writes host
# files under ${PHOENIX_HOST_ROOT} atomically (temp file + rename), prints mutating commands as
# "[dry-run] ..." when PHOENIX_DRY_RUN=1, and says "nothing to do" when its config section is absent.
# Contract and config keys: docs/install.md ("Host set-up steps").

# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"

# Set to 1 by hv_* helpers when they changed (or, in dry-run, would change) something.
HV_CHANGED=0

# hv_init <step>: log context, error trap, jq and the config file.
hv_init() {
    phoenix_set_context "host setup $1"
    phoenix_install_err_trap
    command -v jq >/dev/null 2>&1 || log_fatal "jq is required on the host (apt-get install jq)"
    jq -e 'type == "object"' "$PHOENIX_CONFIG" >/dev/null 2>&1 ||
        log_fatal "hypervisor config '${PHOENIX_CONFIG}' is missing or not a JSON object"
    if is_dry_run; then
        log_info "dry-run: mutating commands are printed, not run"
    fi
}

# hv_nothing_to_do <why>: end the step successfully.
hv_nothing_to_do() {
    log_info "nothing to do: $*"
    exit 0
}

# hv_cfg <jq filter> [jq args...]: raw value(s) from the hypervisor config; empty output when null.
hv_cfg() {
    local filter="$1"
    shift
    jq -r "$@" "${filter} | select(. != null)" "$PHOENIX_CONFIG"
}

# hv_path <absolute host path>: the path as this run sees it (${PHOENIX_HOST_ROOT} prefix).
hv_path() {
    printf '%s%s\n' "${PHOENIX_HOST_ROOT%/}" "$1"
}

# hv_write <absolute host path> <mode> <content>: write when different (atomic); HV_CHANGED=1.
hv_write() {
    hv_write_file "$(hv_path "$1")" "$2" "$3"
}

# hv_write_file <path as seen here> <mode> <content>: like hv_write, without the host-root prefix
# (for files under $PHOENIX_PVE_DIR).
hv_write_file() {
    local target="$1"
    PHOENIX_CHANGED=0
    if is_dry_run && ! hv_file_is "$target" "$3"; then
        HV_CHANGED=1
    fi
    ensure_local_file "$target" "$2" "$3"
    if [[ "$PHOENIX_CHANGED" == 1 ]]; then
        HV_CHANGED=1
    fi
    return 0
}

# hv_file_is <path> <content>: the file holds exactly <content>.
hv_file_is() {
    [[ -f "$1" ]] && [[ "$(cat "$1"; printf x)" == "${2}x" ]]
}

# hv_replace_block <absolute host path> <name> <block content>: keep the file's other lines and
# put <block content> between "# BEGIN phoenix <name>" and "# END phoenix <name>" (appended when
# the markers are absent). Lines written by hand outside the markers survive every run.
hv_replace_block() {
    local path="$1" name="$2" block="$3" current="" rest mode="0644"
    local target
    target="$(hv_path "$path")"
    if [[ -f "$target" ]]; then
        current="$(cat "$target"; printf x)"
        current="${current%x}"
        mode="$(stat -c '%a' "$target")"
    fi
    rest="$(printf '%s' "$current" | awk -v b="# BEGIN phoenix ${name}" -v e="# END phoenix ${name}" '
        $0 == b { skip = 1; next }
        $0 == e { skip = 0; next }
        !skip { print }')"
    local content=""
    if [[ -n "$rest" ]]; then
        content="${rest}"$'\n'
    fi
    content+="# BEGIN phoenix ${name}"$'\n'"# Managed by Phoenix (hypervisor-manager setup); edits inside this block are replaced."$'\n'
    if [[ -n "$block" ]]; then
        content+="${block}"$'\n'
    fi
    content+="# END phoenix ${name}"$'\n'
    hv_write "$path" "$mode" "$content"
}

# hv_package_installed <pkg>: dpkg reports it installed.
hv_package_installed() {
    dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'
}

# hv_packages <pkg...>: install the missing ones (apt-get update first); HV_CHANGED=1 if any.
hv_packages() {
    local pkg missing=()
    for pkg in "$@"; do
        hv_package_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        log_info "packages already installed: $*"
        return 0
    fi
    ensure_local_packages "${missing[@]}"
    HV_CHANGED=1
}

# hv_service_enabled <unit>: enable and start the unit unless it already is both.
hv_service_enabled() {
    if systemctl is-enabled --quiet "$1" 2>/dev/null && systemctl is-active --quiet "$1" 2>/dev/null; then
        log_info "service $1 is enabled and running"
        return 0
    fi
    run_or_dry systemctl enable --now "$1"
    HV_CHANGED=1
}

# hv_mkdir <absolute host path> [mode]: create the folder unless it exists.
hv_mkdir() {
    local target
    target="$(hv_path "$1")"
    if [[ -d "$target" ]]; then
        return 0
    fi
    run_or_dry mkdir -p -m "${2:-0755}" "$target"
    HV_CHANGED=1
}

# hv_safe_name <value> <what>: a name made of letters, digits, '_', '.', '-', '/', ':' only.
hv_safe_name() {
    if [[ ! "${1:-}" =~ ^[A-Za-z0-9_.:/-]+$ ]] || [[ "$1" == *..* ]]; then
        log_fatal "invalid $2 '${1:-}' in ${PHOENIX_CONFIG}"
    fi
}
