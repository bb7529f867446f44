#!/usr/bin/env bash
# VM feature "trusted_ca": the deployment's internal root certificate in the VM's trust store.
# Runs INSIDE the VM as root. The root is read from the VM's CA folder, the volume mounted at
# /etc/step-ca/certs (an NFS export of the host, where the host puts the internal root).
# Exit 0 = done or already done; 1 = failure (one line on stderr). Idempotent, non-interactive.
# Defaults (see docs/services.md): ROOT_SOURCE and TRUST_FILE below. Docker is restarted when the
# trust store changed and Docker runs, so pulls from internal registries trust the CA.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

ROOT_SOURCE="/etc/step-ca/certs/root_ca.crt"
TRUST_FILE="/usr/local/share/ca-certificates/phoenix_root_ca.crt"
BUNDLE="/etc/ssl/certs/ca-certificates.crt"

log() { printf '%s [INFO] VM %s trusted_ca: %s\n' "$(date '+%F %T')" "${PHOENIX_VMID:-?}" "$*" >&2; }
die() { printf '%s [ERROR] VM %s trusted_ca: %s\n' "$(date '+%F %T')" "${PHOENIX_VMID:-?}" "$*" >&2; exit 1; }
trap 'die "failed (exit $?) at line ${LINENO}: ${BASH_COMMAND}"' ERR

[[ "$(id -u)" == 0 ]] || die "must run as root"
[[ -s "$ROOT_SOURCE" ]] || die "${ROOT_SOURCE} does not exist: the VM's volume at $(dirname "$ROOT_SOURCE") must hold the internal root certificate (the host copies it there)"
grep -q -- '-----BEGIN CERTIFICATE-----' "$ROOT_SOURCE" || die "${ROOT_SOURCE} is not a PEM certificate"
# Trusted: the file in place and its certificate in the bundle (a run that failed in
# update-ca-certificates left the first without the second).
if cmp -s "$ROOT_SOURCE" "$TRUST_FILE" && grep -qxF -- "$(sed -n 2p "$ROOT_SOURCE")" "$BUNDLE"; then
    log "the internal root is already trusted"
    exit 0
fi
dpkg-query -W -f='${db:Status-Abbrev}' ca-certificates 2>/dev/null | grep -q '^ii' ||
    { apt-get update && apt-get install -y ca-certificates; }
install -m 0644 "$ROOT_SOURCE" "$TRUST_FILE"
update-ca-certificates
if systemctl is-active --quiet docker 2>/dev/null; then
    systemctl restart docker
fi
log "the internal root is trusted"
