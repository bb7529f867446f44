#!/usr/bin/env bash
# Host set-up step "vfio": PCI passthrough to VMs (VFIO modules, devices bound to vfio-pci).
# Usage: hypervisor_feature_vfio.sh   (on the Proxmox host, no argument)
# Config: .vfio.pci_ids[] ("vendor:device", e.g. "10de:2204"; from `lspci -nn`). Absent or empty:
# nothing to do. Writes /etc/modules-load.d/vfio.conf (vfio, vfio_iommu_type1, vfio_pci) and
# /etc/modprobe.d/vfio.conf (options vfio-pci ids=...); runs `update-initramfs -u -k all` when
# either changed. A reboot makes the binding effective; IOMMU must be enabled in the firmware (and
# on older kernels with intel_iommu=on on the kernel command line).
set -euo pipefail
# shellcheck source=SCRIPTDIR/hypervisor_setup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/hypervisor_setup_lib.sh"
hv_init vfio
[[ $# -eq 0 ]] || log_fatal "usage: $(basename "$0") (no arguments)"

mapfile -t ids < <(hv_cfg '.vfio.pci_ids[]?')
if ((${#ids[@]} == 0)); then
    hv_nothing_to_do "no vfio.pci_ids in the config (no PCI device is passed through)"
fi
for id in "${ids[@]}"; do
    [[ "$id" =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$ ]] || log_fatal "invalid vfio.pci_ids entry '${id}' (expected vendor:device, e.g. 10de:2204)"
done
joined="$(IFS=,; printf '%s' "${ids[*],,}")"

HV_CHANGED=0
hv_write /etc/modules-load.d/vfio.conf 0644 "# Written by Phoenix (hypervisor setup step vfio)
vfio
vfio_iommu_type1
vfio_pci
"
hv_write /etc/modprobe.d/vfio.conf 0644 "# Written by Phoenix (hypervisor setup step vfio)
options vfio-pci ids=${joined}
"
if [[ "$HV_CHANGED" == 1 ]]; then
    log_info "VFIO configuration changed: rebuilding the initramfs (reboot to bind ${joined})"
    run_or_dry update-initramfs -u -k all
else
    log_info "VFIO configuration is in place (devices ${joined})"
fi
