#!/usr/bin/env bash
# phoenix_orchestrator.sh - DEPRECATED entry point of the Bash orchestrator, kept so that old
# commands, cron jobs and runbooks keep working. It translates the old command line into the new
# `phoenix` one and execs it; it never re-parses anything through a shell.
#
#   old                                        new
#   phoenix_orchestrator.sh <ID>...            phoenix create -- <ID>...
#   --delete <ID>...                           phoenix delete -- <ID>...
#   --reconfigure <ID>...                      phoenix reconfigure -- <ID>...
#   --setup-hypervisor [--wipe-disks]          phoenix setup [--wipe-disks]
#   --test <ID>... [--suite S]                 phoenix test [--suite S] -- <ID>...
#   --smoke-test                               phoenix test --suite smoke   (no target: the host)
#   --LetsGo                                   phoenix LetsGo
#   --create-vm <VMID> | --start-vm <VMID>     phoenix create|start|stop|delete -- <VMID>
#     | --stop-vm <VMID> | --delete-vm <VMID>    (older releases; --create-vm took a VM name:
#                                                names are refused with the ID to use instead)
#   --provision-template                       refused: name the template, phoenix create <VMID>
#   --dry-run (with any of the above)          ... --dry-run
#   -h | --help                                this help
# Options come right after the verb and targets after "--", so a target can never be taken for an
# option. Unknown options, or two verbs at once: usage on stderr, exit 2.
# PHOENIX_BIN: the phoenix executable; default "phoenix" in this script's folder, else on PATH.
set -euo pipefail

prog="$(basename "$0")"
usage() {
    cat <<USAGE
Usage: ${prog} [--dry-run] <ID>...                  create guests   (phoenix create)
       ${prog} [--dry-run] --delete <ID>...         delete guests   (phoenix delete)
       ${prog} [--dry-run] --reconfigure <ID>...    reconfigure     (phoenix reconfigure)
       ${prog} [--dry-run] --setup-hypervisor [--wipe-disks]       (phoenix setup)
       ${prog} [--dry-run] --test <ID>... [--suite NAME]           (phoenix test)
       ${prog} [--dry-run] --smoke-test                             (phoenix test --suite smoke)
       ${prog} [--dry-run] --LetsGo                                 (phoenix LetsGo)
       ${prog} [--dry-run] --create-vm|--start-vm|--stop-vm|--delete-vm <VMID>
                                                  (phoenix create|start|stop|delete)
${prog} is deprecated: use 'phoenix' directly.
USAGE
}
bad_usage() {
    printf '%s: %s\n' "$prog" "$1" >&2
    usage >&2
    exit 2
}

# refuse <message>: an old option that has no one-to-one mapping; says what to run instead.
refuse() {
    printf '%s: %s\n' "$prog" "$1" >&2
    exit 2
}

verb=""
set_verb() {
    if [[ -n "$verb" && "$verb" != "$1" ]]; then
        bad_usage "options for '${verb}' and '$1' cannot be combined"
    fi
    verb="$1"
}

targets=()
dry_run=0
wipe_disks=0
suite=""
while (($# > 0)); do
    case "$1" in
        -h | --help)
            usage
            exit 0
            ;;
        --dry-run) dry_run=1 ;;
        --delete) set_verb delete ;;
        --reconfigure) set_verb reconfigure ;;
        --setup-hypervisor) set_verb setup ;;
        --wipe-disks) wipe_disks=1 ;;
        --test) set_verb test ;;
        --suite)
            (($# >= 2)) || bad_usage "--suite needs a suite name"
            suite="$2"
            shift
            ;;
        --suite=*) suite="${1#--suite=}" ;;
        --smoke-test)
            set_verb test
            suite="smoke"
            ;;
        --LetsGo | --letsgo) set_verb LetsGo ;;
        --create-vm | --start-vm | --stop-vm | --delete-vm)
            vm_verb="${1#--}"
            vm_verb="${vm_verb%-vm}"
            (($# >= 2)) || bad_usage "$1 needs a VM ID"
            set_verb "$vm_verb"
            if [[ ! "$2" =~ ^[0-9]+$ ]]; then
                refuse "$1 '$2': Phoenix names VMs by ID; use: phoenix ${vm_verb} <VMID> (the vmid of '$2' in phoenix_vm_configs.json; 'phoenix status' lists them)"
            fi
            targets+=("$2")
            shift
            ;;
        --provision-template)
            refuse "--provision-template: templates are guests like any other; use: phoenix create <VMID> (the VM with \"is_template\": true in phoenix_vm_configs.json)"
            ;;
        --)
            shift
            targets+=("$@")
            break
            ;;
        -*) bad_usage "unknown option '$1'" ;;
        *) targets+=("$1") ;;
    esac
    shift
done

verb="${verb:-create}"
case "$verb" in
    create | delete | reconfigure)
        ((${#targets[@]} > 0)) || bad_usage "'${verb}' needs at least one guest ID"
        ;;
    setup | LetsGo)
        ((${#targets[@]} == 0)) || bad_usage "'${verb}' takes no guest ID (got: ${targets[*]})"
        ;;
esac
if ((wipe_disks)) && [[ "$verb" != setup ]]; then
    bad_usage "--wipe-disks only goes with --setup-hypervisor"
fi
if [[ -n "$suite" && "$verb" != test ]]; then
    bad_usage "--suite only goes with --test"
fi

args=("$verb")
[[ -n "$suite" ]] && args+=(--suite "$suite")
((wipe_disks)) && args+=(--wipe-disks)
((dry_run)) && args+=(--dry-run)
((${#targets[@]} > 0)) && args+=(-- "${targets[@]}")

if [[ -z "${PHOENIX_BIN:-}" ]]; then
    PHOENIX_BIN="$(dirname "$0")/phoenix"
    if [[ ! -x "$PHOENIX_BIN" ]]; then
        PHOENIX_BIN="$(command -v phoenix || true)"
    fi
fi
if [[ -z "$PHOENIX_BIN" || ! -x "$PHOENIX_BIN" ]]; then
    printf '%s: cannot find the phoenix executable (set PHOENIX_BIN)\n' "$prog" >&2
    exit 1
fi

printf '%s: deprecated, use: phoenix %s\n' "$prog" "${args[*]}" >&2
exec "$PHOENIX_BIN" "${args[@]}"
