#!/usr/bin/env bash
# Host set-up step "nvidia": NVIDIA driver on the host and GPU initialisation (for containers
# that share the GPU).
# Usage: hypervisor_feature_nvidia.sh   (on the Proxmox host, no argument)
# Config: .nvidia_driver {install (only true does anything), version, runfile_url}.
# Steps, each only when needed: nouveau blacklisted (/etc/modprobe.d/blacklist-nouveau.conf,
# initramfs rebuilt on change); kernel headers, dkms and build-essential installed; when
# `nvidia-smi` does not report <version>: the runfile is downloaded once to
# /var/cache/phoenix/nvidia/ and run (`sh <runfile> --silent --dkms`), then nvidia-smi must report
# <version>; /etc/modules-load.d/nvidia.conf loads nvidia and nvidia_uvm at boot, nvidia_uvm is
# loaded now when /proc/modules lacks it; persistence mode is switched on (nvidia-smi -pm 1).
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init nvidia
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

if [[ "$(hv_cfg '.nvidia_driver.install // false')" != true ]]; then
    hv_nothing_to_do "nvidia_driver.install is not true"
fi
version="$(hv_cfg '.nvidia_driver.version')"
url="$(hv_cfg '.nvidia_driver.runfile_url')"
validate_version "$version" "nvidia_driver.version" || log_fatal "nvidia_driver.version is missing or invalid"
validate_url "$url" "nvidia_driver.runfile_url" || log_fatal "nvidia_driver.runfile_url is missing or invalid"

running_version() {
    nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '[:space:]' || true
}

HV_CHANGED=0
hv_write /etc/modprobe.d/blacklist-nouveau.conf 0644 "# Written by Phoenix (hypervisor setup step nvidia)
blacklist nouveau
options nouveau modeset=0
"
if [[ "$HV_CHANGED" == 1 ]]; then
    run_or_dry update-initramfs -u -k all
fi

current="$(running_version)"
if [[ "$current" == "$version" ]]; then
    log_info "NVIDIA driver ${version} is installed and running"
else
    log_info "NVIDIA driver is '${current:-not installed}', want ${version}"
    hv_packages proxmox-default-headers dkms build-essential
    cache="$(hv_path /var/cache/phoenix/nvidia)"
    runfile="${cache}/$(basename "$url")"
    [[ "$(basename "$url")" =~ ^[A-Za-z0-9._-]+\.run$ ]] || log_fatal "runfile_url must name a .run file: ${url}"
    if [[ -s "$runfile" ]]; then
        log_info "using the downloaded ${runfile}"
    else
        run_or_dry mkdir -p "$cache"
        run_or_dry curl -fL --retry 3 -o "$runfile" "$url"
    fi
    run_or_dry sh "$runfile" --silent --dkms
    if ! is_dry_run; then
        current="$(running_version)"
        [[ "$current" == "$version" ]] ||
            log_fatal "the NVIDIA installer finished but nvidia-smi reports '${current:-no driver}', want ${version}"
        log_info "NVIDIA driver ${version} installed"
    fi
fi

hv_write /etc/modules-load.d/nvidia.conf 0644 "# Written by Phoenix (hypervisor setup step nvidia)
nvidia
nvidia_uvm
"
if grep -q '^nvidia_uvm ' "$(hv_path /proc/modules)" 2>/dev/null; then
    log_info "kernel module nvidia_uvm is loaded"
else
    run_or_dry modprobe nvidia_uvm
fi
if [[ "$(nvidia-smi --query-gpu=persistence_mode --format=csv,noheader 2>/dev/null | head -n 1)" == Enabled ]]; then
    log_info "GPU persistence mode is on"
else
    run_or_dry nvidia-smi -pm 1
fi
log_info "NVIDIA set-up complete"
