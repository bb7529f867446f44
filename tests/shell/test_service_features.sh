#!/usr/bin/env bash
# The service layer's LXC features (step_cli, step_ca, trusted_ca) against the 2025-11-04
# fixture (the repo's copy) with the fake `pct`: fresh container (installs), converged (probes
# only), dry run (nothing changes, changes printed), and the failures they must report.
# Prints "N passed, M failed"; exit 1 on failure.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fixture="${root}/tests/fixtures/upstream-2025-11-04/etc"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "${work}/bin" "${work}/hostroot"
ln -s "${root}/tests/shell/lib/fake_pct" "${work}/bin/pct"
export PATH="${work}/bin:${PATH}"
export PHOENIX_CONFIG="${fixture}/phoenix_hypervisor_config.json"
export PHOENIX_LXC_CONFIG="${fixture}/phoenix_lxc_configs.json"
export PHOENIX_VM_CONFIG="${fixture}/phoenix_vm_configs.json"
export PHOENIX_BASE_DIR="${work}/base" PHOENIX_SCRIPTS_DIR="${root}/scripts" PHOENIX_HOST_ROOT="${work}/hostroot"
export FAKE_LOG="${work}/pct.log" FAKE_RULES="${work}/rules" FAKE_PUSHED="${work}/pushed"
lxc="${root}/scripts/lxc_setup"
passed=0
failed=0
ok() { passed=$((passed + 1)); }
ko() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*" >&2; }

# run <state> <feature> <ctid>: sets rc, out, err.
run() {
    : >"$FAKE_LOG"
    : >"$FAKE_RULES"
    rm -rf "$FAKE_PUSHED"
    rc=0
    local s="${lxc}/phoenix_hypervisor_feature_install_$2.sh"
    case "$1" in
        fresh) out="$(FAKE_PROBE_RC=1 PHOENIX_DRY_RUN=0 "$s" "$3" 2>"${work}/err")" || rc=$? ;;
        converged) out="$(FAKE_PROBE_RC=0 PHOENIX_DRY_RUN=0 "$s" "$3" 2>"${work}/err")" || rc=$? ;;
        dry-run) out="$(FAKE_PROBE_RC=1 PHOENIX_DRY_RUN=1 "$s" "$3" 2>"${work}/err")" || rc=$? ;;
    esac
    err="$(cat "${work}/err")"
}
mutating() { grep -v -- 'phoenix-probe' "$FAKE_LOG" || true; }

# expect <feature> <ctid> <substring of a call the fresh run must issue>...
expect() {
    local f="$1" id="$2" s
    shift 2
    run fresh "$f" "$id"
    if ((rc != 0)); then ko "fresh $f $id: exit $rc: $err"; else
        for s in "$@"; do
            if grep -qF -- "$s" "$FAKE_LOG"; then ok; else ko "fresh $f $id: no call containing '$s'"; fi
        done
    fi
    run converged "$f" "$id"
    if ((rc != 0)); then ko "converged $f $id: exit $rc: $err"
    elif [[ -n "$(mutating)" ]]; then ko "converged $f $id: not idempotent: $(mutating | head -3)"
    else ok; fi
    run dry-run "$f" "$id"
    if ((rc != 0)); then ko "dry-run $f $id: exit $rc: $err"
    elif [[ -n "$(mutating)" ]]; then ko "dry-run $f $id: ran changes: $(mutating | head -3)"
    elif ! grep -qF -- '[dry-run]' <<<"$out"; then ko "dry-run $f $id: printed nothing"
    else ok; fi
}

expect step_cli 101 'curl -fsSL https://packages.smallstep.com/keys/apt/repo-signing-key.gpg -o /etc/apt/keyrings/smallstep.asc' \
    'pct push 101 ' 'apt-get install -y step-cli'
run fresh step_cli 101
if grep -qx 'deb \[signed-by=/etc/apt/keyrings/smallstep.asc\] https://packages.smallstep.com/stable/debian debs main' \
    "${FAKE_PUSHED}/101/etc/apt/sources.list.d/smallstep.list" 2>/dev/null; then ok; else ko "smallstep.list content"; fi

expect step_ca 103 'apt-get install -y step-cli step-ca' 'systemctl daemon-reload' 'systemctl enable step-ca.service'
run fresh step_ca 103
unit="${FAKE_PUSHED}/103/etc/systemd/system/step-ca.service"
if grep -qx 'ExecStart=/usr/bin/step-ca /etc/step-ca/ssl/config/ca.json --password-file /etc/step-ca/ssl/ca_password.txt' "$unit" 2>/dev/null; then ok; else ko "step-ca unit: $(cat "$unit" 2>/dev/null)"; fi
if grep -q 'systemctl enable --now\|systemctl start' "$FAKE_LOG"; then ko "step_ca started the CA before it is initialised"; else ok; fi
settings="${FAKE_PUSHED}/103/etc/step-ca/phoenix-ca.env"
if [[ "$(cat "$settings" 2>/dev/null)" == $'NAME=ThinkHeads Internal CA\nDNS_NAME=ca.internal.thinkheads.ai\nPROVISIONER=admin@thinkheads.ai\nADDRESS=:9000\nIP=10.0.0.10' ]]; then ok; else ko "CA settings: $(cat "$settings" 2>/dev/null)"; fi
# Without the CA folder on a host mount the CA's root could not be shared: refused.
run fresh step_ca 900
if ((rc != 0)) && grep -q 'CT 900 step_ca.*/etc/step-ca/ssl' <<<"$err"; then ok; else ko "step_ca on 900: rc $rc: $err"; fi

# trusted_ca before the CA exported its root: a clear failure naming the CA container.
run fresh trusted_ca 101
if ((rc != 0)) && grep -q 'CT 103 must be created first' <<<"$err"; then ok; else ko "trusted_ca without root: rc $rc: $err"; fi
mkdir -p "${PHOENIX_HOST_ROOT}/mnt/pve/quickOS/lxc-persistent-data/103/ssl"
printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' \
    >"${PHOENIX_HOST_ROOT}/mnt/pve/quickOS/lxc-persistent-data/103/ssl/phoenix_root_ca.crt"
expect trusted_ca 101 'pct push 101 ' 'update-ca-certificates'
run fresh trusted_ca 102
if cmp -s "${FAKE_PUSHED}/102/usr/local/share/ca-certificates/phoenix_root_ca.crt" \
    "${PHOENIX_HOST_ROOT}/mnt/pve/quickOS/lxc-persistent-data/103/ssl/phoenix_root_ca.crt"; then ok; else ko "trusted_ca pushed another file"; fi

# Arguments.
for f in step_cli step_ca trusted_ca; do
    s="${lxc}/phoenix_hypervisor_feature_install_${f}.sh"
    if "$s" >/dev/null 2>&1; then ko "$f without argument exited 0"; else ok; fi
    if "$s" '101; id' >/dev/null 2>&1; then ko "$f accepted '101; id'"; else ok; fi
done

echo "${passed} passed, ${failed} failed"
((failed == 0))
