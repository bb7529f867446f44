#!/usr/bin/env bash
# Feature "step_ca": Smallstep's CA server (`step-ca`) and CLI in the container, and the
# step-ca.service unit that runs it from the CA folder. Enabled, not started: the container's
# application script initialises the CA (phoenix_hypervisor_lxc_103.sh) and starts it.
# Usage: phoenix_hypervisor_feature_install_step_ca.sh <CTID>   (runs on the Proxmox host)
# Also writes /etc/step-ca/phoenix-ca.env: the CA's settings for the application script, which
# sees only the container's own config entry.
# Config: LXC entry .mount_points[] holding /etc/step-ca/ssl (checked: the CA's files must live
#         in a host folder so the host and other guests can read the root certificate),
#         .network_config.ip; hypervisor .step_ca.root_ca_name, .dns_name, .provisioner_name.
# Defaults: the Smallstep repository, STEPPATH /etc/step-ca/ssl (phoenix_smallstep.sh), the CA's
#           port CA_PORT below.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"
# shellcheck source=SCRIPTDIR/phoenix_smallstep.sh
source "$(dirname "${BASH_SOURCE[0]}")/phoenix_smallstep.sh"

UNIT_FILE="/etc/systemd/system/step-ca.service"
SETTINGS_FILE="/etc/step-ca/phoenix-ca.env"
CA_PORT=9000

phoenix_feature_init step_ca "$@"

mounted="$(jq -r --arg id "$CTID" --arg p "$CA_STEPPATH" \
    '[.lxc_configs[$id].mount_points[]? | select((.container_path // .mount_point) == $p)] | length' \
    "$(get_lxc_config_file)")"
if [[ "$mounted" == 0 ]]; then
    log_fatal "no mount point holds ${CA_STEPPATH}: the CA's files must be on a host folder (mount_points[].container_path ${CA_STEPPATH})"
fi

if is_package_installed_in_container "$CTID" step-cli && is_package_installed_in_container "$CTID" step-ca; then
    log_info "step-cli and step-ca are already installed"
else
    ensure_smallstep_repo "$CTID"
    ensure_package_in_container "$CTID" step-cli step-ca
fi

unit="[Unit]
Description=Smallstep CA (Phoenix internal CA)
After=network-online.target
Wants=network-online.target
ConditionPathExists=${CA_STEPPATH}/config/ca.json

[Service]
Environment=STEPPATH=${CA_STEPPATH}
ExecStart=/usr/bin/step-ca ${CA_STEPPATH}/config/ca.json --password-file ${CA_STEPPATH}/ca_password.txt
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
"
ensure_unit_in_container "$CTID" "$UNIT_FILE" "$unit"
# setting <value> <what>: one line of letters, digits, blanks and . _ @ * -.
setting() {
    [[ "$1" =~ ^[A-Za-z0-9\ ._@*-]+$ ]] || log_fatal "$2 '$1' is missing or holds characters a CA setting cannot have"
    printf '%s' "$1"
}
name="$(setting "$(get_global_config_value '.step_ca.root_ca_name' || true)" step_ca.root_ca_name)"
dns="$(setting "$(get_global_config_value '.step_ca.dns_name' || true)" step_ca.dns_name)"
prov="$(setting "$(get_global_config_value '.step_ca.provisioner_name' || true)" step_ca.provisioner_name)"
ip="$(jq_get_value "$CTID" '.network_config.ip' || true)"
ip="${ip%%/*}"
[[ "$ip" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || log_fatal "network_config.ip '${ip}' is not a static IPv4 address (the CA's certificate names it)"
ensure_file_in_container "$CTID" "$SETTINGS_FILE" 0644 "NAME=${name}
DNS_NAME=${dns}
PROVISIONER=${prov}
ADDRESS=:${CA_PORT}
IP=${ip}
"

ensure_unit_enabled_in_container "$CTID" step-ca.service
log_info "step_ca feature complete"
