#!/usr/bin/env bash
# install.sh - build Phoenix and lay it out as installed on a Proxmox host.
# Usage: scripts/install.sh [--prefix DIR] [--bin-dir DIR] [--link-dir DIR | --no-link] [--dry-run]
#   --prefix DIR    installation base (default /usr/local/phoenix_hypervisor, the Bash
#                   orchestrator's, so existing config files and paths keep working)
#   --bin-dir DIR   install the prebuilt binaries in DIR; nothing is built and cargo is not needed
#                   (default: build with cargo, then take <repo>/target/release, or
#                   $CARGO_TARGET_DIR/release)
#   --link-dir DIR  where the `phoenix` command goes on PATH (default /usr/local/bin, where the
#                   Bash orchestrator's `phoenix` symlink lives): DIR/phoenix -> <prefix>/bin/phoenix
#   --no-link       leave DIR/phoenix alone
#   --dry-run       print what would be installed, change nothing
# Whatever is replaced that Phoenix did not install (the Bash CLI's DIR/phoenix, an old bin/
# folder with phoenix-cli and the Bash managers) is first copied to <prefix>/backup/<time>/,
# and the script says so. The old names bin/phoenix-cli and bin/phoenix-global then run Phoenix.
# Environment: PHOENIX_INSTALL_SKIP_BUILD=1 skips the build as --bin-dir does.
# Layout (see docs/install.md): bin/phoenix, bin/managers/{lxc,vm,hypervisor}-manager (plus
# lxc-manager.sh, vm-manager.sh, hypervisor-manager.sh symlinks), bin/pve-sim, bin/lxc_setup/,
# bin/vm_features/, bin/hypervisor_setup/, bin/health_checks/, bin/tests/,
# bin/phoenix_hypervisor_common_utils.sh, bin/phoenix_orchestrator.sh, etc/ (config files are
# never overwritten; shipped AppArmor profiles are updated), schemas/, lib/,
# share/man/man1/phoenix.1 and shell completions under share/. The installed binaries read
# <prefix>/etc/phoenix_hypervisor_config.json unless --config or PHOENIX_CONFIG says otherwise.
# Re-running it upgrades in place: programs and scripts are replaced, configuration is kept.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="/usr/local/phoenix_hypervisor"
bin_dir=""
link_dir="/usr/local/bin"
dry_run=0
backup=""
stamp="$(date +%Y%m%d-%H%M%S)"

die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}
note() { printf 'install.sh: %s\n' "$*" >&2; }

while (($# > 0)); do
    case "$1" in
        --prefix) (($# >= 2)) || die "--prefix needs a folder"; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --bin-dir) (($# >= 2)) || die "--bin-dir needs a folder"; bin_dir="$2"; shift 2 ;;
        --bin-dir=*) bin_dir="${1#--bin-dir=}"; shift ;;
        --link-dir) (($# >= 2)) || die "--link-dir needs a folder"; link_dir="$2"; shift 2 ;;
        --link-dir=*) link_dir="${1#--link-dir=}"; shift ;;
        --no-link) link_dir=""; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h | --help) sed -n '2,28s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ "$prefix" == /* ]] || prefix="$(pwd)/${prefix}"
[[ -z "$bin_dir" || "$bin_dir" == /* ]] || bin_dir="$(pwd)/${bin_dir}"
[[ -z "$link_dir" || "$link_dir" == /* ]] || link_dir="$(pwd)/${link_dir}"

# do <argv...>: run, or print in dry-run mode.
do_() {
    if ((dry_run)); then
        printf '[dry-run] %s\n' "$*"
    else
        "$@"
    fi
}

build() {
    if [[ -n "$bin_dir" ]]; then
        note "installing the prebuilt binaries in ${bin_dir} (not building)"
        return 0
    fi
    if [[ "${PHOENIX_INSTALL_SKIP_BUILD:-0}" == 1 ]]; then
        note "PHOENIX_INSTALL_SKIP_BUILD=1: not building"
        return 0
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo is not installed (https://rustup.rs), or build elsewhere and use --bin-dir"
    note "building: cargo build --release --workspace"
    do_ cargo build --release --workspace --manifest-path "${repo}/Cargo.toml"
}

# install_file <mode> <src> <dest>: atomic copy (temp file + rename).
install_file() {
    local mode="$1" src="$2" dest="$3"
    do_ install -D -m "$mode" "$src" "${dest}.phoenix-new"
    do_ mv -f "${dest}.phoenix-new" "$dest"
}

# install_tree <src dir> <dest dir>: every file, scripts keep their executable bit.
install_tree() {
    local src="$1" dest="$2" f rel mode
    [[ -d "$src" ]] || die "missing folder ${src}"
    while IFS= read -r -d '' f; do
        rel="${f#"${src}"/}"
        mode=0644
        [[ -x "$f" || "$f" == *.sh ]] && mode=0755
        install_file "$mode" "$f" "${dest}/${rel}"
    done < <(find "$src" -type f -print0)
}

# keep_config <src> <dest>: copy a configuration file only when none is installed.
keep_config() {
    if [[ -e "$2" ]]; then
        note "keeping existing $2"
    else
        install_file 0644 "$1" "$2"
    fi
}

# backup_path <path>: moves <path> (a file, a symlink or a folder) into the backup folder under its
# absolute path, and says so.
backup_path() {
    local path="$1" what
    backup="${prefix}/backup/${stamp}"
    if [[ -L "$path" ]]; then
        what="a symlink to $(readlink "$path")"
    elif [[ -d "$path" ]]; then
        what="a folder"
    else
        what="a file"
    fi
    do_ mkdir -p "$(dirname "${backup}${path}")"
    do_ mv "$path" "${backup}${path}"
    if ((dry_run)); then
        note "would replace ${path} (${what}), keeping the old one as ${backup}${path}"
    else
        note "replaced ${path} (${what}); the old one is kept as ${backup}${path}"
    fi
}

# link_to <target> <link>: <link> becomes a symlink to <target>; anything else there is backed up.
link_to() {
    local target="$1" link="$2"
    if [[ -L "$link" && "$(readlink "$link")" == "$target" ]]; then
        return 0
    fi
    if [[ -e "$link" || -L "$link" ]]; then
        backup_path "$link"
    fi
    do_ ln -sfn "$target" "$link"
}

# A Bash orchestrator installed here (its CLI or managers are files, where Phoenix installs
# symlinks): its whole bin/ is copied to the backup folder before anything is replaced.
backup_bash_install() {
    local f bash_era=0
    for f in bin/phoenix-cli bin/phoenix-global bin/managers/lxc-manager.sh \
        bin/managers/vm-manager.sh bin/managers/hypervisor-manager.sh; do
        if [[ -f "${prefix}/${f}" && ! -L "${prefix}/${f}" ]]; then
            bash_era=1
        fi
    done
    # An older Bash CLI was bin/phoenix itself, a script sourcing the Bash utilities.
    if [[ -f "${prefix}/bin/phoenix" ]] && grep -qI 'phoenix_hypervisor_common_utils' "${prefix}/bin/phoenix"; then
        bash_era=1
    fi
    ((bash_era)) || return 0
    backup="${prefix}/backup/${stamp}"
    do_ mkdir -p "${backup}${prefix}"
    do_ cp -a "${prefix}/bin" "${backup}${prefix}/bin"
    note "found the Bash orchestrator in ${prefix}/bin: copied it to ${backup}${prefix}/bin before replacing it"
}

install_binaries() {
    local b
    for b in phoenix lxc-manager vm-manager hypervisor-manager pve-sim; do
        [[ -x "${bin_dir}/${b}" ]] || die "no binary ${bin_dir}/${b} (build first, or pass --bin-dir)"
    done
    install_file 0755 "${bin_dir}/phoenix" "${prefix}/bin/phoenix"
    install_file 0755 "${bin_dir}/pve-sim" "${prefix}/bin/pve-sim"
    for b in lxc-manager vm-manager hypervisor-manager; do
        install_file 0755 "${bin_dir}/${b}" "${prefix}/bin/managers/${b}"
        link_to "$b" "${prefix}/bin/managers/${b}.sh"
    done
    # The Bash CLI's names (phoenix-global is what /usr/local/bin/phoenix pointed to).
    for b in phoenix-cli phoenix-global; do
        if [[ -e "${prefix}/bin/${b}" || -L "${prefix}/bin/${b}" ]]; then
            link_to phoenix "${prefix}/bin/${b}"
        fi
    done
}

# The `phoenix` command on PATH: <link_dir>/phoenix, then a check that PATH finds it.
install_link() {
    [[ -n "$link_dir" ]] || return 0
    do_ mkdir -p "$link_dir"
    link_to "${prefix}/bin/phoenix" "${link_dir}/phoenix"
    ((dry_run)) && return 0
    case ":${PATH}:" in
        *":${link_dir}:"*) ;;
        *)
            note "${link_dir} is not on PATH: run ${prefix}/bin/phoenix, or add ${link_dir} to PATH"
            return 0
            ;;
    esac
    hash -r
    local found
    found="$(command -v phoenix || true)"
    if [[ "$(readlink -f "$found")" != "$(readlink -f "${prefix}/bin/phoenix")" ]]; then
        note "warning: 'phoenix' on PATH is still ${found}, found before ${link_dir}: remove it or put ${link_dir} first"
    fi
}

install_scripts() {
    local d
    for d in lxc_setup vm_features hypervisor_setup health_checks tests; do
        install_tree "${repo}/scripts/${d}" "${prefix}/bin/${d}"
    done
    install_file 0644 "${repo}/scripts/phoenix_hypervisor_common_utils.sh" "${prefix}/bin/phoenix_hypervisor_common_utils.sh"
    install_file 0755 "${repo}/scripts/legacy/phoenix_orchestrator.sh" "${prefix}/bin/phoenix_orchestrator.sh"
}

install_etc() {
    local f rel
    while IFS= read -r -d '' f; do
        rel="${f#"${repo}/etc/"}"
        case "$rel" in
            apparmor/*) install_file 0644 "$f" "${prefix}/etc/${rel}" ;;
            *) keep_config "$f" "${prefix}/etc/${rel}" ;;
        esac
    done < <(find "${repo}/etc" -type f -print0)
    install_tree "${repo}/schemas" "${prefix}/schemas"
    do_ mkdir -p "${prefix}/lib"
}

# Completions and man page come from the dispatcher's own command-line definition.
install_docs() {
    local phoenix="${prefix}/bin/phoenix" tmp shell dest
    if ((dry_run)); then
        printf '[dry-run] generate the man page and shell completions with %s\n' "$phoenix"
        return 0
    fi
    tmp="$(mktemp)"
    if ! "$phoenix" --generate-man >"$tmp" 2>/dev/null || [[ ! -s "$tmp" ]]; then
        note "skipping man page and completions: ${phoenix} has no --generate-man"
        rm -f "$tmp"
        return 0
    fi
    install_file 0644 "$tmp" "${prefix}/share/man/man1/phoenix.1"
    for shell in bash zsh fish; do
        case "$shell" in
            bash) dest="${prefix}/share/bash-completion/completions/phoenix" ;;
            zsh) dest="${prefix}/share/zsh/site-functions/_phoenix" ;;
            fish) dest="${prefix}/share/fish/vendor_completions.d/phoenix.fish" ;;
        esac
        if "$phoenix" --generate-completions "$shell" >"$tmp" 2>/dev/null && [[ -s "$tmp" ]]; then
            install_file 0644 "$tmp" "$dest"
        else
            note "skipping ${shell} completions: ${phoenix} has no --generate-completions ${shell}"
        fi
    done
    rm -f "$tmp"
}

main() {
    build
    if [[ -z "$bin_dir" ]]; then
        bin_dir="${CARGO_TARGET_DIR:-${repo}/target}/release"
    fi
    note "installing into ${prefix}"
    backup_bash_install
    do_ mkdir -p "${prefix}/bin/managers" "${prefix}/etc"
    install_binaries
    install_scripts
    install_etc
    install_docs
    install_link
    if [[ -n "$backup" ]]; then
        note "backups of what was replaced: ${backup}"
    fi
    note "done: ${prefix}/bin/phoenix --help (config: ${prefix}/etc/phoenix_hypervisor_config.json)"
}

main
