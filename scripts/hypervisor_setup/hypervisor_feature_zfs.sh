#!/usr/bin/env bash
# Host set-up step "zfs": pools, datasets with their properties, Proxmox storages.
# Usage: hypervisor_feature_zfs.sh   (on the Proxmox host, no argument)
# Config: .zfs.pools[] {name, raid_level (single|stripe|mirror|raidz1|raidz2|raidz3), disks[]},
#         .zfs.datasets[] {name, pool, properties "k=v,k=v", proxmox_storage_type (zfspool|dir),
#         proxmox_content_type}. Storage ID of a dataset: "<pool>-<name>".
# Safety: a pool is never created on a disk that holds partitions, a partition table, a file
# system or a member of another pool, unless PHOENIX_WIPE_DISKS=1 (hypervisor-manager setup
# --wipe-disks), which erases the disk first (wipefs -a, sgdisk --zap-all). Every refused disk is
# named with the reason. Existing pools are never touched.
# Datasets: created when absent; properties that differ are set with `zfs set`.
# Storages: registered with `pvesm add zfspool|dir` when `pvesm status` does not list them.
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init zfs
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

npools="$(hv_cfg '.zfs.pools // [] | length')"
ndatasets="$(hv_cfg '.zfs.datasets // [] | length')"
if [[ "${npools:-0}" == 0 && "${ndatasets:-0}" == 0 ]]; then
    hv_nothing_to_do "no zfs.pools or zfs.datasets in the config"
fi
command -v zpool >/dev/null 2>&1 || log_fatal "zpool is not installed (package zfsutils-linux)"

# Properties whose values are sizes: compared as bytes (`zfs get -p`).
SIZE_PROPS=" quota refquota reservation refreservation recordsize volsize volblocksize special_small_blocks "

# to_bytes <value>: "16K" -> 16384, "1.4T" -> 1539316278886, "none" -> 0; other values unchanged.
to_bytes() {
    local v="${1^^}"
    if [[ "$v" == NONE ]]; then
        printf '0\n'
    elif [[ "$v" =~ ^([0-9]+(\.[0-9]+)?)([KMGTPE]?)B?$ ]]; then
        awk -v n="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" 'BEGIN {
            e = index("KMGTPE", u); m = 1; for (i = 0; i < e; i++) m *= 1024
            printf "%.0f\n", int(n * m) }'
    else
        printf '%s\n' "$1"
    fi
}

# disk_problems <disk>: print why the disk is not blank (nothing when it is).
disk_problems() {
    local disk="$1" parts info t pt
    parts="$(lsblk -nr -o TYPE "$disk" 2>/dev/null | grep -c '^part$' || true)"
    if ((parts > 0)); then
        printf 'it holds %s partition(s)\n' "$parts"
    fi
    info="$(blkid -p -o export "$disk" 2>/dev/null || true)"
    pt="$(sed -n 's/^PTTYPE=//p' <<<"$info")"
    t="$(sed -n 's/^TYPE=//p' <<<"$info")"
    if [[ -n "$pt" ]]; then
        printf 'it has a %s partition table\n' "$pt"
    fi
    if [[ "$t" == zfs_member ]]; then
        printf 'it is a member of a ZFS pool (%s)\n' "$(sed -n 's/^LABEL=//p' <<<"$info" | head -n 1)"
    elif [[ -n "$t" ]]; then
        printf 'it holds a %s file system or signature\n' "$t"
    fi
}

# check_disks <pool> <disk...>: every disk exists and is blank (or is wiped with --wipe-disks).
check_disks() {
    local pool="$1" disk problems refused=0
    shift
    for disk in "$@"; do
        if ! lsblk -dn -o NAME "$disk" >/dev/null 2>&1; then
            log_error "pool '${pool}': disk ${disk} does not exist"
            refused=1
            continue
        fi
        problems="$(disk_problems "$disk")"
        [[ -n "$problems" ]] || continue
        if [[ "${PHOENIX_WIPE_DISKS:-0}" == 1 ]]; then
            log_warn "pool '${pool}': wiping ${disk} (--wipe-disks): $(paste -sd ';' <<<"$problems")"
            run_or_dry wipefs -a "$disk"
            run_or_dry sgdisk --zap-all "$disk"
        else
            log_error "refusing to create pool '${pool}' on ${disk}: $(paste -sd ';' <<<"$problems" | sed 's/;/; /g'); pass --wipe-disks to erase it"
            refused=1
        fi
    done
    return "$refused"
}

ensure_pool() {
    local name="$1" level="$2" disks=() vdev=()
    # shellcheck disable=SC2016 # $n is a jq variable
    mapfile -t disks < <(hv_cfg '.zfs.pools[] | select(.name == $n) | .disks[]' --arg n "$name")
    hv_safe_name "$name" "pool name"
    if zpool list -H -o name "$name" >/dev/null 2>&1; then
        log_info "pool ${name} exists"
        return 0
    fi
    ((${#disks[@]} > 0)) || log_fatal "pool '${name}' has no disks"
    local d
    for d in "${disks[@]}"; do
        [[ "$d" =~ ^/dev/[A-Za-z0-9_./:+-]+$ ]] || log_fatal "pool '${name}': invalid disk path '${d}'"
    done
    case "$level" in
        single | stripe) vdev=() ;;
        mirror) ((${#disks[@]} >= 2)) || log_fatal "pool '${name}': a mirror needs at least 2 disks"; vdev=(mirror) ;;
        raidz1 | raidz2 | raidz3) vdev=("$level") ;;
        *) log_fatal "pool '${name}': unknown raid_level '${level}' (single, mirror, raidz1, raidz2, raidz3)" ;;
    esac
    check_disks "$name" "${disks[@]}" || log_fatal "pool '${name}' not created: see the disks named above"
    local force=()
    [[ "${PHOENIX_WIPE_DISKS:-0}" == 1 ]] && force=(-f)
    log_info "creating pool ${name} (${level}) on ${disks[*]}"
    run_or_dry zpool create "${force[@]}" -o ashift=12 "$name" "${vdev[@]}" "${disks[@]}"
}

ensure_dataset() {
    local ds="$1" props="$2" kv key want have
    hv_safe_name "$ds" "dataset"
    local opts=()
    IFS=',' read -r -a kvs <<<"$props"
    for kv in "${kvs[@]}"; do
        [[ -n "$kv" ]] || continue
        [[ "$kv" =~ ^[a-z0-9_:.]+=[A-Za-z0-9_.:/+-]+$ ]] || log_fatal "dataset ${ds}: invalid property '${kv}'"
        opts+=(-o "$kv")
    done
    if ! zfs list -H -o name "$ds" >/dev/null 2>&1; then
        log_info "creating dataset ${ds}"
        run_or_dry zfs create "${opts[@]}" "$ds"
        return 0
    fi
    for kv in "${kvs[@]}"; do
        [[ -n "$kv" ]] || continue
        key="${kv%%=*}"
        want="${kv#*=}"
        if [[ "$SIZE_PROPS" == *" ${key} "* ]]; then
            have="$(zfs get -Hp -o value "$key" "$ds")"
            [[ "$(to_bytes "$want")" == "$have" ]] && continue
        else
            have="$(zfs get -H -o value "$key" "$ds")"
            [[ "$want" == "$have" ]] && continue
        fi
        log_info "dataset ${ds}: ${key} is '${have}', want '${want}'"
        run_or_dry zfs set "${key}=${want}" "$ds"
    done
    log_info "dataset ${ds} is in place"
}

ensure_storage() {
    local id="$1" ds="$2" type="$3" content="$4" mp
    hv_safe_name "$id" "storage ID"
    if awk -v s="$id" 'NR > 1 && $1 == s { found = 1 } END { exit !found }' <<<"$STORAGES"; then
        log_info "storage ${id} is registered"
        return 0
    fi
    [[ -z "$content" || "$content" =~ ^[a-z,]+$ ]] || log_fatal "storage ${id}: invalid content '${content}'"
    local ct=()
    [[ -n "$content" ]] && ct=(--content "$content")
    case "$type" in
        zfspool) run_or_dry pvesm add zfspool "$id" --pool "$ds" "${ct[@]}" ;;
        dir)
            mp="$(zfs get -H -o value mountpoint "$ds" 2>/dev/null || printf '/%s' "$ds")"
            run_or_dry pvesm add dir "$id" --path "$mp" --is_mountpoint yes "${ct[@]}"
            ;;
        *) log_fatal "dataset ${ds}: unknown proxmox_storage_type '${type}' (zfspool or dir)" ;;
    esac
}

while IFS=$'\x1f' read -r name level; do
    ensure_pool "$name" "$level"
done < <(hv_cfg '.zfs.pools[]? | [.name, .raid_level] | join("\u001f")')

STORAGES="$(pvesm status 2>/dev/null || true)"
while IFS=$'\x1f' read -r name pool props type content; do
    ensure_dataset "${pool}/${name}" "$props"
    if [[ -n "$type" ]]; then
        ensure_storage "${pool}-${name}" "${pool}/${name}" "$type" "$content"
    fi
done < <(hv_cfg '.zfs.datasets[]? | [.name, .pool, (.properties // ""), (.proxmox_storage_type // ""), (.proxmox_content_type // "")] | join("\u001f")')
log_info "ZFS set-up complete"
