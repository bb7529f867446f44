#!/usr/bin/env bash
# Scripts run inside guests are constant single-quoted strings whose values arrive as "$1"...:
# shellcheck disable=SC2016
# phoenix_hypervisor_common_utils.sh - helper library for Phoenix feature, application, health-check
# and test scripts. Sourced, never executed. Installed as <base>/bin/phoenix_hypervisor_common_utils.sh.
#
# Contract (see docs/features.md):
#   * logging:  log_debug log_info log_warn log_error log_fatal (all to stderr; log_fatal exits 1)
#   * config:   jq_get_value <ctid> <jq path>, jq_get_vm_value <vmid> <jq path>,
#               get_global_config_value <jq path>, get_lxc_top_value <jq path>,
#               is_feature_present_on_container <ctid> <feature>, guest_config_value <jq path>
#   * running:  run_or_dry <argv...>, pct_exec/run_pct_exec <ctid> <argv...>, pct_probe <ctid> <argv...>,
#               pct_check <ctid> <sh script> [args...], pct_push_file <ctid> <src> <dest> [perms],
#               ensure_file_in_container <ctid> <dest> <perms> <content>,
#               ensure_package_in_container <ctid> <pkg...>, is_command_available [<ctid>] <command>
#   * checking: validate_ctid validate_name validate_port validate_url validate_image validate_version
# Commands are always argv arrays: nothing here builds a shell string from a value or uses eval.
# Where a command must run through a shell inside a guest (pipes, redirections, `command -v`), the
# shell script is a constant and every value reaches it as a positional parameter ("$1", "$2", ...).

# Guard against double sourcing.
if [[ -n "${_PHOENIX_COMMON_UTILS_LOADED:-}" ]]; then
    return 0
fi
_PHOENIX_COMMON_UTILS_LOADED=1

# --------------------------------------------------------------------------------------------------
# Environment contract (docs/architecture.md). Every value can be given by hand.
# --------------------------------------------------------------------------------------------------
PHOENIX_BASE_DIR="${PHOENIX_BASE_DIR:-/usr/local/phoenix_hypervisor}"
PHOENIX_CONFIG="${PHOENIX_CONFIG:-${PHOENIX_BASE_DIR}/etc/phoenix_hypervisor_config.json}"
PHOENIX_SCRIPTS_DIR="${PHOENIX_SCRIPTS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
PHOENIX_PVE_DIR="${PHOENIX_PVE_DIR:-/etc/pve}"
PHOENIX_HOST_ROOT="${PHOENIX_HOST_ROOT:-}"
PHOENIX_DRY_RUN="${PHOENIX_DRY_RUN:-0}"
export PHOENIX_BASE_DIR PHOENIX_CONFIG PHOENIX_SCRIPTS_DIR PHOENIX_PVE_DIR PHOENIX_HOST_ROOT PHOENIX_DRY_RUN

# Names used by scripts written for the Bash orchestrator.
HYPERVISOR_CONFIG_FILE="${HYPERVISOR_CONFIG_FILE:-$PHOENIX_CONFIG}"

# Context put in front of every log line, e.g. "CT 950 docker". Scripts set it with phoenix_set_context.
PHOENIX_LOG_CONTEXT="${PHOENIX_LOG_CONTEXT:-}"
_PHOENIX_ERROR_LOGGED=0
_PHOENIX_APT_UPDATED=""

# --------------------------------------------------------------------------------------------------
# Logging. Everything goes to stderr so that functions printing values stay usable in $(...).
# PHOENIX_LOG_FILE (optional): also append every line there. PHOENIX_DEBUG=1: show log_debug.
# --------------------------------------------------------------------------------------------------
_phoenix_log() {
    local level="$1"
    shift
    local line
    line="$(date '+%Y-%m-%d %H:%M:%S') [${level}] $(basename "${0:-phoenix}")"
    if [[ -n "$PHOENIX_LOG_CONTEXT" ]]; then
        line+=" (${PHOENIX_LOG_CONTEXT})"
    fi
    line+=": $*"
    printf '%s\n' "$line" >&2
    if [[ -n "${PHOENIX_LOG_FILE:-}" ]]; then
        printf '%s\n' "$line" >>"$PHOENIX_LOG_FILE" 2>/dev/null || true
    fi
}
log_debug() {
    case "${PHOENIX_DEBUG:-0}" in
        1 | true | yes) _phoenix_log DEBUG "$@" ;;
    esac
    return 0
}
log_info() { _phoenix_log INFO "$@"; }
log_success() { _phoenix_log INFO "$@"; }
log_warn() { _phoenix_log WARN "$@"; }
log_error() {
    _PHOENIX_ERROR_LOGGED=1
    _phoenix_log ERROR "$@"
}
log_fatal() {
    log_error "$@"
    exit 1
}

# phoenix_set_context <text>: prefix for log lines ("CT 950 docker").
phoenix_set_context() { PHOENIX_LOG_CONTEXT="$*"; }

# phoenix_install_err_trap: on an unexpected failure under `set -e`, print one line naming the
# context, the line and the command, unless an error was already logged for it.
phoenix_install_err_trap() {
    set -E
    trap '_phoenix_on_err $? "${BASH_SOURCE[0]}" "$LINENO" "$BASH_COMMAND"' ERR
}
_phoenix_on_err() {
    local rc="$1" file="$2" line="$3" cmd="$4"
    if [[ "$_PHOENIX_ERROR_LOGGED" != 1 ]]; then
        log_error "failed (exit ${rc}) at $(basename "$file"):${line}: ${cmd}"
    fi
    trap - ERR
    exit "$rc"
}

# --------------------------------------------------------------------------------------------------
# Validation of values that come from config or the command line.
# --------------------------------------------------------------------------------------------------
validate_ctid() {
    local id="${1:-}"
    if [[ ! "$id" =~ ^[0-9]+$ ]] || ((${#id} > 9)) || ((10#$id < 100)); then
        log_error "invalid guest ID '${id}': expected an integer from 100 to 999999999"
        return 1
    fi
}
validate_vmid() { validate_ctid "$@"; }
validate_name() {
    if [[ ! "${1:-}" =~ ^[A-Za-z0-9_.-]+$ ]]; then
        log_error "invalid name '${1:-}' (${2:-value}): only letters, digits, '_', '.', '-' are allowed"
        return 1
    fi
}
validate_port() {
    local p="${1:-}"
    if [[ ! "$p" =~ ^[0-9]{1,5}$ ]] || ((10#$p < 1 || 10#$p > 65535)); then
        log_error "invalid port '${p}' (${2:-port})"
        return 1
    fi
}
validate_url() {
    if [[ ! "${1:-}" =~ ^https?://[A-Za-z0-9._~:/?#@!\&+,\;=%-]+$ ]]; then
        log_error "invalid URL '${1:-}' (${2:-url})"
        return 1
    fi
}
validate_image() {
    if [[ ! "${1:-}" =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]]; then
        log_error "invalid container image '${1:-}' (${2:-image})"
        return 1
    fi
}
validate_version() {
    if [[ ! "${1:-}" =~ ^[0-9]+(\.[0-9A-Za-z]+)*$ ]]; then
        log_error "invalid version '${1:-}' (${2:-version})"
        return 1
    fi
}
validate_package_name() {
    if [[ ! "${1:-}" =~ ^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$ ]]; then
        log_error "invalid package name '${1:-}'"
        return 1
    fi
}
validate_jq_path() {
    local re='^[.([]'
    if [[ ! "${1:-}" =~ $re ]]; then
        log_error "invalid jq path '${1:-}': it must start with '.', '(' or '['"
        return 1
    fi
}

# --------------------------------------------------------------------------------------------------
# Config access.
# --------------------------------------------------------------------------------------------------
is_dry_run() {
    case "$PHOENIX_DRY_RUN" in
        1 | true | yes) return 0 ;;
        *) return 1 ;;
    esac
}

_phoenix_require_file() {
    if [[ ! -r "$1" ]]; then
        log_error "config file '$1' is not readable"
        return 1
    fi
}

# Path of the LXC / VM config: env, else core_paths of the hypervisor config, else <base>/etc/.
# _phoenix_core_path <value from the environment> <core_paths key> <default file name>
_phoenix_core_path() {
    if [[ -n "$1" ]]; then
        printf '%s\n' "$1"
        return 0
    fi
    local p=""
    if [[ -r "$PHOENIX_CONFIG" ]]; then
        p="$(jq -r --arg k "$2" '.core_paths[$k] // empty' "$PHOENIX_CONFIG" 2>/dev/null || true)"
    fi
    printf '%s\n' "${p:-${PHOENIX_BASE_DIR}/etc/$3}"
}
get_lxc_config_file() {
    _phoenix_core_path "${PHOENIX_LXC_CONFIG:-}" lxc_config_file phoenix_lxc_configs.json
}
get_vm_config_file() {
    _phoenix_core_path "${PHOENIX_VM_CONFIG:-}" vm_config_file phoenix_vm_configs.json
}

# _phoenix_jq <file> <filter> [jq args...]: print non-null results (-r); return 1 when none.
_phoenix_jq() {
    local file="$1" filter="$2"
    shift 2
    _phoenix_require_file "$file" || return 1
    local out
    if ! out="$(jq -r "$@" "${filter} | select(. != null)" "$file")"; then
        log_error "jq failed on '${file}' with filter '${filter}'"
        return 1
    fi
    [[ -n "$out" ]] || return 1
    printf '%s\n' "$out"
}

# jq_get_value <ctid> <jq path>: value(s) from the container's entry in the LXC config.
jq_get_value() {
    local ctid="$1" path="$2"
    validate_ctid "$ctid" || return 1
    validate_jq_path "$path" || return 1
    _phoenix_jq "$(get_lxc_config_file)" ".lxc_configs[\$ctid] | ${path}" --arg ctid "$ctid"
}

# get_lxc_top_value <jq path>: value from the top level of the LXC config (nvidia_driver_version...).
get_lxc_top_value() {
    validate_jq_path "$1" || return 1
    _phoenix_jq "$(get_lxc_config_file)" "$1"
}

# jq_get_vm_value <vmid> <jq path>: value from the VM's entry merged over vm_defaults.
jq_get_vm_value() {
    local vmid="$1" path="$2"
    validate_vmid "$vmid" || return 1
    validate_jq_path "$path" || return 1
    _phoenix_jq "$(get_vm_config_file)" \
        "(first(.vms[] | select((.vmid | tostring) == \$vmid)) // empty) as \$vm | ((.vm_defaults // {}) * \$vm) | ${path}" \
        --arg vmid "$vmid"
}

# get_global_config_value <jq path>: value from phoenix_hypervisor_config.json.
get_global_config_value() {
    validate_jq_path "$1" || return 1
    _phoenix_jq "$PHOENIX_CONFIG" "$1"
}

# lxc_entry_json <ctid>: the container's JSON object (compact), e.g. for guest_config.json.
lxc_entry_json() {
    validate_ctid "$1" || return 1
    _phoenix_jq "$(get_lxc_config_file)" '.lxc_configs[$ctid]' -c --arg ctid "$1"
}

# is_feature_present_on_container <ctid> <feature>: true when the container or any container it is
# cloned from (clone_from_ctid chain) lists the feature.
is_feature_present_on_container() {
    local ctid="$1" feature="$2" depth=0 parent
    validate_ctid "$ctid" || return 1
    while [[ -n "$ctid" ]] && ((depth < 32)); do
        if jq -e --arg ctid "$ctid" --arg f "$feature" \
            '(.lxc_configs[$ctid].features // []) | index($f) != null' "$(get_lxc_config_file)" >/dev/null 2>&1; then
            return 0
        fi
        parent="$(jq_get_value "$ctid" '.clone_from_ctid' 2>/dev/null || true)"
        [[ "$parent" =~ ^[0-9]+$ ]] || return 1
        ctid="$parent"
        depth=$((depth + 1))
    done
    return 1
}

# guest_config_value <jq path>: inside a guest, value from guest_config.json (application scripts;
# PHOENIX_GUEST_CONFIG overrides the path) or vm_config.json (VM feature scripts).
guest_config_value() {
    validate_jq_path "$1" || return 1
    local file="${PHOENIX_GUEST_CONFIG:-$PWD/guest_config.json}"
    _phoenix_jq "$file" "$1"
}

# --------------------------------------------------------------------------------------------------
# Running commands.
# --------------------------------------------------------------------------------------------------
# format_argv <argv...>: one line, each word quoted only when needed.
format_argv() {
    local out="" a q
    for a in "$@"; do
        if [[ "$a" =~ ^[A-Za-z0-9_./:=,+@%^-]+$ ]]; then
            q="$a"
        else
            printf -v q '%q' "$a"
        fi
        out+="${out:+ }${q}"
    done
    printf '%s\n' "$out"
}

# run_or_dry <argv...>: run the command, or print it prefixed [dry-run] (stdout) in dry-run mode.
# On failure, logs one error line naming the command and returns its exit code.
run_or_dry() {
    if is_dry_run; then
        printf '[dry-run] %s\n' "$(format_argv "$@")"
        return 0
    fi
    log_debug "run: $(format_argv "$@")"
    local rc=0
    "$@" || rc=$?
    if ((rc != 0)); then
        log_error "command failed (exit ${rc}): $(format_argv "$@")"
    else
        phoenix_note_change "$(format_argv "$@")"
    fi
    return "$rc"
}

# phoenix_note_change <what>: tell the caller something changed. Appends one line to
# $PHOENIX_CHANGES_FILE when the manager set it (so its recap counts the step as changed rather
# than ok); nothing in dry-run or when unset.
phoenix_note_change() {
    if [[ -n "${PHOENIX_CHANGES_FILE:-}" ]] && ! is_dry_run; then
        printf '%s\n' "$*" >>"$PHOENIX_CHANGES_FILE" || true
    fi
    return 0
}

# pct_exec / run_pct_exec <ctid> <argv...>: mutating command inside a container (dry-run aware).
run_pct_exec() {
    local ctid="$1"
    shift
    validate_ctid "$ctid" || return 1
    run_or_dry pct exec "$ctid" -- "$@"
}
pct_exec() { run_pct_exec "$@"; }

# pct_probe <ctid> <argv...>: read-only command inside a container; always runs, even in dry-run.
# Prints the command's stdout and returns its exit code.
pct_probe() {
    local ctid="$1"
    shift
    validate_ctid "$ctid" || return 1
    log_debug "probe: $(format_argv pct exec "$ctid" -- "$@")"
    pct exec "$ctid" -- "$@"
}

# pct_check <ctid> <sh script> [args...]: read-only predicate inside a container, written as a
# constant sh script taking its values as "$1"... ($0 is "phoenix-probe"). Exit 0 = true.
pct_check() {
    local ctid="$1" script="$2"
    shift 2
    pct_probe "$ctid" sh -c "$script" phoenix-probe "$@" >/dev/null 2>&1
}

# pct_read <ctid> <sh script> [args...]: read-only query printing a value (same form as pct_check).
pct_read() {
    local ctid="$1" script="$2"
    shift 2
    pct_probe "$ctid" sh -c "$script" phoenix-probe "$@" 2>/dev/null
}

# pct_push_file <ctid> <local file> <destination> [perms]: copy a host file into the container.
pct_push_file() {
    local ctid="$1" src="$2" dest="$3" perms="${4:-}"
    validate_ctid "$ctid" || return 1
    local args=(pct push "$ctid" "$src" "$dest")
    if [[ -n "$perms" ]]; then
        args+=(--perms "$perms")
    fi
    run_or_dry "${args[@]}"
}

# is_command_available [<ctid>] <command>: with two arguments, inside the container; with one, on
# the host.
is_command_available() {
    if (($# >= 2)); then
        pct_check "$1" 'command -v "$1"' "$2"
    else
        command -v "$1" >/dev/null 2>&1
    fi
}

# container_file_matches <ctid> <path> <content>: true when the file holds exactly <content>.
container_file_matches() {
    local ctid="$1" path="$2" content="$3" sum
    sum="$(printf '%s' "$content" | sha256sum | cut -d' ' -f1)"
    pct_check "$ctid" '[ -f "$1" ] && printf "%s  %s\n" "$2" "$1" | sha256sum -c --status -' "$path" "$sum"
}

# ensure_file_in_container <ctid> <dest> <perms> <content>: write the file only when it differs.
# Returns 0 when unchanged, 0 and sets PHOENIX_CHANGED=1 when written.
export PHOENIX_CHANGED=0
ensure_file_in_container() {
    local ctid="$1" dest="$2" perms="$3" content="$4" tmp rc=0
    if container_file_matches "$ctid" "$dest" "$content"; then
        log_info "${dest} is up to date"
        return 0
    fi
    run_pct_exec "$ctid" mkdir -p "$(dirname "$dest")" || return 1
    tmp="$(mktemp)"
    printf '%s' "$content" >"$tmp"
    pct_push_file "$ctid" "$tmp" "$dest" "$perms" || rc=$?
    rm -f "$tmp"
    ((rc == 0)) || return "$rc"
    log_info "wrote ${dest}"
    PHOENIX_CHANGED=1
}

# is_package_installed_in_container <ctid> <pkg>: dpkg reports it as installed ("ii").
is_package_installed_in_container() {
    pct_check "$1" 'dpkg-query -W -f="\${db:Status-Abbrev}" "$1" 2>/dev/null | grep -q "^ii"' "${2%%=*}"
}

# apt_update_in_container <ctid>: apt-get update, at most once per script run.
apt_update_in_container() {
    local ctid="$1"
    if [[ "$_PHOENIX_APT_UPDATED" == *" $ctid "* ]]; then
        return 0
    fi
    run_pct_exec "$ctid" env DEBIAN_FRONTEND=noninteractive apt-get update || return 1
    _PHOENIX_APT_UPDATED+=" $ctid "
}

# ensure_package_in_container <ctid> <pkg...>: install the packages that are missing.
ensure_package_in_container() {
    local ctid="$1" pkg
    shift
    validate_ctid "$ctid" || return 1
    local missing=()
    for pkg in "$@"; do
        validate_package_name "$pkg" || return 1
        if is_package_installed_in_container "$ctid" "$pkg"; then
            log_debug "package ${pkg} already installed"
        else
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        log_info "packages already installed: $*"
        return 0
    fi
    log_info "installing packages: ${missing[*]}"
    apt_update_in_container "$ctid" || return 1
    run_pct_exec "$ctid" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# ensure_unit_in_container <ctid> <unit file> <text>: the unit file written when it differs (then
# systemctl daemon-reload); PHOENIX_CHANGED=1 when written.
ensure_unit_in_container() {
    local ctid="$1" file="$2" text="$3"
    PHOENIX_CHANGED=0
    ensure_file_in_container "$ctid" "$file" 0644 "$text"
    if [[ "$PHOENIX_CHANGED" == 1 ]]; then
        run_pct_exec "$ctid" systemctl daemon-reload
    fi
}

# ensure_unit_enabled_in_container <ctid> <unit>: systemctl enable (not start), only when needed.
ensure_unit_enabled_in_container() {
    local ctid="$1" unit="$2"
    if pct_check "$ctid" 'systemctl is-enabled --quiet "$1"' "$unit"; then
        log_info "${unit} is enabled"
        return 0
    fi
    run_pct_exec "$ctid" systemctl enable "$unit"
}

# ensure_service_enabled_in_container <ctid> <unit>: systemctl enable --now, only when needed.
ensure_service_enabled_in_container() {
    local ctid="$1" unit="$2"
    if pct_check "$ctid" 'systemctl is-enabled --quiet "$1" && systemctl is-active --quiet "$1"' "$unit"; then
        log_info "service ${unit} is enabled and running"
        return 0
    fi
    run_pct_exec "$ctid" systemctl enable --now "$unit"
}

# --------------------------------------------------------------------------------------------------
# Feature script entry: phoenix_feature_init <feature> "$@" validates the CTID argument, sets the
# log context and the error trap, and exports CTID.
# --------------------------------------------------------------------------------------------------
phoenix_feature_init() {
    local feature="$1"
    shift
    if (($# != 1)); then
        log_fatal "usage: $(basename "$0") <CTID>"
    fi
    validate_ctid "$1" || log_fatal "feature ${feature}: invalid CTID argument '$1'"
    CTID="$1"
    export CTID
    phoenix_set_context "CT ${CTID} ${feature}"
    phoenix_install_err_trap
    command -v jq >/dev/null 2>&1 || log_fatal "jq is required on the host"
    if ! jq -e --arg ctid "$CTID" '.lxc_configs | has($ctid)' "$(get_lxc_config_file)" >/dev/null 2>&1; then
        log_fatal "container ${CTID} is not defined in $(get_lxc_config_file)"
    fi
    if is_dry_run; then
        log_info "dry-run: mutating commands are printed, not run"
    fi
}

# Container-side port for a "host:container" entry of the ports list whose container side is <want>,
# or the host side of that mapping; used to publish ports from the config.
# ports_mapping_for <container port> <ports...>: prints "host:container" for the matching entry,
# or "<want>:<want>" when none matches.
ports_mapping_for() {
    local want="$1" p
    shift
    for p in "$@"; do
        if [[ "$p" =~ ^([0-9]{1,5}):([0-9]{1,5})$ ]] && [[ "${BASH_REMATCH[2]}" == "$want" ]]; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    printf '%s:%s\n' "$want" "$want"
}

# --------------------------------------------------------------------------------------------------
# Guest side: used by application scripts that run INSIDE a container (cwd holds guest_config.json,
# env PHOENIX_CTID) and by nothing on the host.
# --------------------------------------------------------------------------------------------------
# phoenix_app_init <name>: check the environment lxc-manager provides and set the log context.
phoenix_app_init() {
    local name="$1"
    phoenix_set_context "CT ${PHOENIX_CTID:-?} app ${name}"
    phoenix_install_err_trap
    validate_ctid "${PHOENIX_CTID:-}" || log_fatal "PHOENIX_CTID is not set to a valid container ID"
    command -v jq >/dev/null 2>&1 || log_fatal "jq is required in the container (feature base_setup installs it)"
    local cfg="${PHOENIX_GUEST_CONFIG:-$PWD/guest_config.json}"
    jq -e 'type == "object"' "$cfg" >/dev/null 2>&1 || log_fatal "guest config '${cfg}' is missing or not a JSON object"
}

# guest_ports: the container's "host:container" port mappings, validated, one per line.
guest_ports() {
    local p
    while IFS= read -r p; do
        [[ -n "$p" ]] || continue
        [[ "$p" =~ ^([0-9]{1,5}):([0-9]{1,5})$ ]] || log_fatal "invalid port mapping '${p}' in guest config (expected host:container)"
        local host_port="${BASH_REMATCH[1]}" guest_port="${BASH_REMATCH[2]}"
        { validate_port "$host_port" && validate_port "$guest_port"; } || log_fatal "invalid port mapping '${p}'"
        printf '%s\n' "$p"
    done < <(guest_config_value '.ports[]?' || true)
}

# guest_volume_mount <name> <default>: mount_point of the volume/zfs_volume called <name>.
guest_volume_mount() {
    local mp
    mp="$(guest_config_value "((.volumes // []) + (.zfs_volumes // []) | map(select(.name == \"$1\")) | .[0].mount_point)" || true)"
    mp="${mp:-$2}"
    [[ "$mp" =~ ^/[A-Za-z0-9_./-]*$ ]] || log_fatal "invalid mount point '${mp}' for $1"
    printf '%s\n' "$mp"
}

# ensure_local_file <path> <mode> <content>: write only when different; sets PHOENIX_CHANGED=1.
ensure_local_file() {
    local path="$1" mode="$2" content="$3"
    if [[ -f "$path" ]] && [[ "$(cat "$path"; printf x)" == "${content}x" ]]; then
        log_info "${path} is up to date"
        return 0
    fi
    if is_dry_run; then
        printf '[dry-run] write %s (mode %s)\n' "$path" "$mode"
        return 0
    fi
    mkdir -p "$(dirname "$path")"
    local tmp
    tmp="$(mktemp "$(dirname "$path")/.phoenix.XXXXXX")"
    printf '%s' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$path"
    log_info "wrote ${path}"
    phoenix_note_change "wrote ${path}"
    PHOENIX_CHANGED=1
}

# ensure_local_packages <pkg...>: apt-get install the missing ones (apt-get update first).
ensure_local_packages() {
    local pkg missing=()
    for pkg in "$@"; do
        validate_package_name "$pkg" || return 1
        if ! dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii'; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        log_info "packages already installed: $*"
        return 0
    fi
    log_info "installing packages: ${missing[*]}"
    run_or_dry env DEBIAN_FRONTEND=noninteractive apt-get update
    run_or_dry env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# ensure_docker_container <name> <image> [docker run options...]: the container runs <image>.
# Running with the same image: nothing. Stopped: started. Other image: replaced (data lives in
# volumes or bind mounts). Missing: `docker run -d --name <name> --restart unless-stopped ...`.
ensure_docker_container() {
    local name="$1" image="$2"
    shift 2
    validate_name "$name" "container name" || return 1
    validate_image "$image" || return 1
    command -v docker >/dev/null 2>&1 || log_fatal "docker is not installed in this container (feature docker)"
    local current running
    current="$(docker inspect -f '{{.Config.Image}}' "$name" 2>/dev/null || true)"
    if [[ -n "$current" && "$current" != "$image" ]]; then
        log_info "container ${name} runs ${current}, want ${image}: replacing it"
        run_or_dry docker rm -f "$name"
        current=""
    fi
    if [[ -n "$current" ]]; then
        running="$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)"
        if [[ "$running" == true ]]; then
            log_info "container ${name} is running (${image})"
            return 0
        fi
        log_info "container ${name} is stopped: starting it"
        run_or_dry docker start "$name"
        return 0
    fi
    if ! docker image inspect "$image" >/dev/null 2>&1; then
        run_or_dry docker pull "$image"
    fi
    run_or_dry docker run -d --name "$name" --restart unless-stopped "$@" "$image"
}

# wait_for_http <url> [retries] [interval seconds]: until curl gets a 2xx/3xx answer.
wait_for_http() {
    local url="$1" retries="${2:-30}" interval="${3:-5}" i
    is_dry_run && return 0
    for ((i = 1; i <= retries; i++)); do
        if curl -fsS -o /dev/null --max-time 10 "$url" 2>/dev/null; then
            log_info "${url} answers"
            return 0
        fi
        sleep "$interval"
    done
    log_error "${url} did not answer after ${retries} tries, ${interval}s apart"
    return 1
}
