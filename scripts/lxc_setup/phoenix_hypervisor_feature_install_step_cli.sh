#!/usr/bin/env bash
# Feature "step_cli": Smallstep's `step` command in a container, from Smallstep's apt repository.
# Usage: phoenix_hypervisor_feature_install_step_cli.sh <CTID>   (runs on the Proxmox host)
# Config: none besides the container's existence.
# Defaults: the Smallstep repository (phoenix_smallstep.sh).
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"
# shellcheck source=SCRIPTDIR/phoenix_smallstep.sh
source "$(dirname "${BASH_SOURCE[0]}")/phoenix_smallstep.sh"

phoenix_feature_init step_cli "$@"

if is_package_installed_in_container "$CTID" step-cli; then
    log_info "step-cli is already installed"
else
    ensure_smallstep_repo "$CTID"
    ensure_package_in_container "$CTID" step-cli
fi
log_info "step_cli feature complete"
