#!/usr/bin/env bash
# Test: name resolution works inside the container.
# Usage: check_dns_resolution.sh <CTID>   (host; exit 0 = pass)
# Default (docs/features.md): PROBE_NAME, the Docker registry host.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../phoenix_hypervisor_common_utils.sh"
PROBE_NAME="registry-1.docker.io"
phoenix_feature_init "test dns" "$@"

pct_probe "$CTID" getent hosts "$PROBE_NAME" >/dev/null || log_fatal "CT ${CTID} cannot resolve ${PROBE_NAME}"
log_info "PASS: CT ${CTID} resolves ${PROBE_NAME}"
