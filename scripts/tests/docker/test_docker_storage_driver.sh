#!/usr/bin/env bash
# Test: Docker uses an overlay storage driver (vfs works but copies every layer: far too slow).
# Usage: test_docker_storage_driver.sh <CTID>   (host; exit 0 = pass)
# Accepted (docs/features.md): overlay2, fuse-overlayfs, overlayfs (containerd snapshotter).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../phoenix_hypervisor_common_utils.sh"
ACCEPTED_DRIVERS=(overlay2 fuse-overlayfs overlayfs)
phoenix_feature_init "test docker storage driver" "$@"

driver="$(pct_probe "$CTID" docker info --format '{{.Driver}}' 2>/dev/null | head -n 1 | tr -d '[:space:]')" ||
    log_fatal "'docker info' failed in CT ${CTID}"
for d in "${ACCEPTED_DRIVERS[@]}"; do
    if [[ "$driver" == "$d" ]]; then
        log_info "PASS: CT ${CTID} uses storage driver ${driver}"
        exit 0
    fi
done
log_fatal "CT ${CTID} uses storage driver '${driver:-unknown}', expected one of: ${ACCEPTED_DRIVERS[*]}"
