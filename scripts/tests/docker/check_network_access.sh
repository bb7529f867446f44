#!/usr/bin/env bash
# Test: the container has its configured default gateway and reaches an HTTPS service outside.
# Usage: check_network_access.sh <CTID>   (host; exit 0 = pass)
# Config: LXC entry .network_config.gw. Default (docs/features.md): PROBE_URL, the Docker registry
# the container pulls from (any HTTP answer counts, 401 included).
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../phoenix_hypervisor_common_utils.sh"
PROBE_URL="https://registry-1.docker.io/v2/"
phoenix_feature_init "test network access" "$@"

if gw="$(jq_get_value "$CTID" '.network_config.gw')"; then
    [[ "$gw" =~ ^[0-9.]+$ ]] || log_fatal "invalid gateway '${gw}' in config"
    pct_check "$CTID" 'ip route show default | grep -q " via $1 "' "$gw" ||
        log_fatal "CT ${CTID} has no default route via ${gw}"
fi
pct_probe "$CTID" curl -sS -o /dev/null --max-time 15 "$PROBE_URL" ||
    log_fatal "CT ${CTID} cannot reach ${PROBE_URL}"
log_info "PASS: CT ${CTID} routes via ${gw:-its gateway} and reaches ${PROBE_URL}"
