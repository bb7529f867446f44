#!/usr/bin/env bash
# Test: the Docker daemon inside the container is active and answers.
# Usage: check_docker_service.sh <CTID>   (host; exit 0 = pass)
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../phoenix_hypervisor_common_utils.sh"
phoenix_feature_init "test docker service" "$@"

pct_probe "$CTID" systemctl is-active --quiet docker || log_fatal "docker.service is not active in CT ${CTID}"
pct_probe "$CTID" docker info >/dev/null 2>&1 || log_fatal "'docker info' fails in CT ${CTID}"
log_info "PASS: docker is active and answers in CT ${CTID}"
