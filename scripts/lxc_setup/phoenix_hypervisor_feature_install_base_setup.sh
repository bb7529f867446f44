#!/usr/bin/env bash
# Feature "base_setup": base packages, locale and timezone of an Ubuntu container.
# Usage: phoenix_hypervisor_feature_install_base_setup.sh <CTID>   (runs on the Proxmox host)
# Config: timezone <- phoenix_hypervisor_config.json .timezone (skipped when absent).
# Defaults (no config key exists for them; see docs/features.md):
#   packages: BASE_PACKAGES below; locale: DEFAULT_LOCALE below.
# shellcheck disable=SC2016
set -euo pipefail
# shellcheck source=SCRIPTDIR/../phoenix_hypervisor_common_utils.sh
source "$(dirname "${BASH_SOURCE[0]}")/../phoenix_hypervisor_common_utils.sh"

BASE_PACKAGES=(ca-certificates curl wget jq gnupg lsb-release locales tzdata)
DEFAULT_LOCALE="en_US.UTF-8"

phoenix_feature_init base_setup "$@"

# 1. Package lists: update only when the container has none (fresh template).
if pct_check "$CTID" 'ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1'; then
    log_info "apt package lists present"
else
    log_info "no apt package lists yet: running apt-get update"
    apt_update_in_container "$CTID"
fi

# 2. Base packages.
ensure_package_in_container "$CTID" "${BASE_PACKAGES[@]}"

# 3. Locale.
locale_codeset="${DEFAULT_LOCALE#*.}"
locale_short="${DEFAULT_LOCALE%%.*}.$(printf '%s' "$locale_codeset" | tr '[:upper:]' '[:lower:]' | tr -d '-')"
if pct_check "$CTID" 'locale -a 2>/dev/null | grep -qix "$1"' "$locale_short"; then
    log_info "locale ${DEFAULT_LOCALE} already generated"
else
    run_pct_exec "$CTID" locale-gen "$DEFAULT_LOCALE"
fi
if pct_check "$CTID" 'grep -qx "LANG=$1" /etc/default/locale 2>/dev/null' "$DEFAULT_LOCALE"; then
    log_info "LANG is ${DEFAULT_LOCALE}"
else
    run_pct_exec "$CTID" update-locale "LANG=${DEFAULT_LOCALE}"
fi

# 4. Timezone from the hypervisor config.
if tz="$(get_global_config_value '.timezone')"; then
    if [[ ! "$tz" =~ ^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$ ]]; then
        log_fatal "invalid timezone '${tz}' in ${PHOENIX_CONFIG}"
    fi
    if ! pct_check "$CTID" '[ -f "/usr/share/zoneinfo/$1" ]' "$tz"; then
        if is_dry_run; then
            log_warn "timezone '${tz}' not found in the container yet (tzdata may be installed by this run)"
        else
            log_fatal "timezone '${tz}' does not exist in the container (/usr/share/zoneinfo)"
        fi
    fi
    if pct_check "$CTID" '[ "$(readlink /etc/localtime)" = "/usr/share/zoneinfo/$1" ] && [ "$(cat /etc/timezone 2>/dev/null)" = "$1" ]' "$tz"; then
        log_info "timezone is ${tz}"
    else
        run_pct_exec "$CTID" ln -sf "/usr/share/zoneinfo/${tz}" /etc/localtime
        ensure_file_in_container "$CTID" /etc/timezone 0644 "${tz}"$'\n'
    fi
else
    log_info "no timezone in ${PHOENIX_CONFIG}: leaving the container's timezone as it is"
fi

log_info "base setup complete"
