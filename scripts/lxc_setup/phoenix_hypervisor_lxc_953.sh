#!/usr/bin/env bash
# Application script for CT 953: the Nginx gateway. Runs INSIDE the container.
# The site files live on the host (hypervisor shared_volumes.nginx_sites, mounted at
# /etc/nginx/sites-available) with certificates in /etc/nginx/ssl. This script installs nginx,
# enables every site file found there, removes links to sites that are gone, checks the
# configuration and (re)loads nginx only when something changed.
set -euo pipefail
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -r "${_here}/phoenix_hypervisor_common_utils.sh" ]]; then
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/phoenix_hypervisor_common_utils.sh" # pushed next to the script in the container
else
    # shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
    source "${_here}/../phoenix_hypervisor_common_utils.sh" # checkout / installed layout
fi

SITES_AVAILABLE="/etc/nginx/sites-available"
SITES_ENABLED="/etc/nginx/sites-enabled"

phoenix_app_init nginx
ensure_local_packages nginx curl

changed=0
run_or_dry mkdir -p "$SITES_ENABLED"
shopt -s nullglob
for site in "${SITES_AVAILABLE}"/*; do
    [[ -f "$site" ]] || continue
    name="$(basename "$site")"
    if ! validate_name "$name" "site file"; then
        log_warn "skipping site file with an unusual name: ${name}"
        continue
    fi
    link="${SITES_ENABLED}/${name}"
    if [[ -L "$link" && "$(readlink "$link")" == "$site" ]]; then
        continue
    fi
    run_or_dry ln -sfn "$site" "$link"
    log_info "enabled site ${name}"
    changed=1
done
for link in "${SITES_ENABLED}"/*; do
    if [[ -L "$link" && ! -e "$link" ]]; then
        run_or_dry rm -f "$link"
        log_info "removed link to missing site $(basename "$link")"
        changed=1
    fi
done
shopt -u nullglob

if ! is_dry_run && ! nginx -t >/dev/null 2>&1; then
    nginx -t || true
    log_fatal "nginx configuration test failed"
fi
if ! systemctl is-active --quiet nginx; then
    run_or_dry systemctl enable --now nginx
elif ((changed)); then
    run_or_dry systemctl reload nginx
else
    log_info "nginx is running and its sites are unchanged"
fi
systemctl is-enabled --quiet nginx || run_or_dry systemctl enable nginx
log_info "nginx gateway ready"
