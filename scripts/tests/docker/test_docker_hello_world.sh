#!/usr/bin/env bash
# Test: the container can pull and run a container (docker run --rm hello-world).
# Usage: test_docker_hello_world.sh <CTID>   (host; exit 0 = pass)
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../phoenix_hypervisor_common_utils.sh"
phoenix_feature_init "test docker hello-world" "$@"

if ! out="$(pct_probe "$CTID" docker run --rm hello-world 2>&1)"; then
    log_fatal "'docker run --rm hello-world' failed in CT ${CTID}: $(tail -n 1 <<<"$out")"
fi
log_info "PASS: hello-world ran in CT ${CTID}"
