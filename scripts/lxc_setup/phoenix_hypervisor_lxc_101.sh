#!/usr/bin/env bash
# Application script for the Nginx gateway container (101 in the 2025-11-04 deployment). Runs
# INSIDE the container, after features trusted_ca and step_cli. Installs Nginx and makes it
# run; the gateway's site (/etc/nginx/sites-enabled/gateway) is generated, checked with
# `nginx -t` and reloaded by `phoenix sync gateway`, once the internal CA has issued the
# certificate it serves (`phoenix sync certs`, into /etc/nginx/ssl).
# Removes Debian's default site: it claims `default_server` on port 80, as the gateway's does,
# and nginx refuses two.
# Defaults (see docs/services.md): the paths below.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

DEFAULT_SITE="/etc/nginx/sites-enabled/default"
SSL_DIR="/etc/nginx/ssl"

phoenix_app_init nginx-gateway
ensure_local_packages nginx

if [[ -e "$DEFAULT_SITE" || -L "$DEFAULT_SITE" ]]; then
    run_or_dry rm -f "$DEFAULT_SITE"
fi
[[ -d "$SSL_DIR" ]] || run_or_dry install -m 0755 -d "$SSL_DIR"

if systemctl is-enabled --quiet nginx.service; then
    log_info "nginx is enabled"
else
    run_or_dry systemctl enable nginx.service
fi
if systemctl is-active --quiet nginx.service; then
    log_info "nginx is running"
else
    run_or_dry systemctl start nginx.service
fi
