#!/usr/bin/env bash
# Runs every LXC feature script (and the NVIDIA health check) against the fixture config with a
# fake `pct` (tests/shell/lib/fake_pct) in three states of the container:
#   fresh      probes answer "absent": the install commands must be issued;
#   converged  probes answer "present": only probes may be issued (idempotency);
#   dry-run    fresh container, PHOENIX_DRY_RUN=1: only probes run, changes are printed "[dry-run] ...".
# Plus argument validation and failure reporting. Prints "N passed, M failed"; exit 1 on failure.
# Fixtures: $PHOENIX_FIXTURES, default ../shared/fixtures/upstream-2025-10-01 beside the repo.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fixtures="${PHOENIX_FIXTURES:-${root}/../shared/fixtures/upstream-2025-10-01}"
[[ -r "${fixtures}/phoenix_lxc_configs.json" ]] || { echo "fixtures not found in ${fixtures}" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "${work}/bin" "${work}/hostroot"
ln -s "${root}/tests/shell/lib/fake_pct" "${work}/bin/pct"

export PATH="${work}/bin:${PATH}"
export PHOENIX_CONFIG="${fixtures}/phoenix_hypervisor_config.json"
export PHOENIX_LXC_CONFIG="${fixtures}/phoenix_lxc_configs.json"
export PHOENIX_VM_CONFIG="${fixtures}/phoenix_vm_configs.json"
export PHOENIX_BASE_DIR="${work}/base" PHOENIX_SCRIPTS_DIR="${root}/scripts" PHOENIX_HOST_ROOT="${work}/hostroot"
export FAKE_LOG="${work}/pct.log" FAKE_RULES="${work}/rules" FAKE_PUSHED="${work}/pushed"
lxc="${root}/scripts/lxc_setup"

passed=0
failed=0
ok() { passed=$((passed + 1)); }
ko() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*" >&2; }

# Rules for a fresh Ubuntu 24.04 container: data probes answer; installers make their tool appear.
# shellcheck disable=SC2016 # rule patterns are the constant probe scripts, $1 included
fresh_rules() {
    printf '%s\t0\t%s\n' 'dpkg --print-architecture' amd64 'VERSION_CODENAME' noble >"$FAKE_RULES"
    printf '%s\t0\t\t%s\n' 'command -v "$1" phoenix-probe ollama' 'ollama-install' \
        'systemctl cat "$1" >/dev/null 2>&1 phoenix-probe ollama.service' 'ollama-install' \
        '[ -f "/usr/share/zoneinfo/$1" ] phoenix-probe' 'apt-get install' >>"$FAKE_RULES"
}

# run_feature <state> <feature or script path> <ctid>: sets rc, out, err; fresh log/pushed.
run_feature() {
    local state="$1" script="$2" ctid="$3"
    [[ "$script" == */* ]] || script="${lxc}/phoenix_hypervisor_feature_install_${script}.sh"
    : >"$FAKE_LOG"
    rm -rf "$FAKE_PUSHED"
    fresh_rules
    rc=0
    case "$state" in
        fresh) out="$(FAKE_PROBE_RC=1 PHOENIX_DRY_RUN=0 "$script" "$ctid" 2>"${work}/err")" || rc=$? ;;
        converged) : >"$FAKE_RULES"; out="$(FAKE_PROBE_RC=0 PHOENIX_DRY_RUN=0 "$script" "$ctid" 2>"${work}/err")" || rc=$? ;;
        dry-run) out="$(FAKE_PROBE_RC=1 PHOENIX_DRY_RUN=1 "$script" "$ctid" 2>"${work}/err")" || rc=$? ;;
    esac
    err="$(cat "${work}/err")"
}
mutating_calls() { grep -v -- 'phoenix-probe' "$FAKE_LOG" || true; }
called() { grep -qF -- "$1" "$FAKE_LOG"; }
name() { printf '%s %s %s' "$1" "$2" "$3"; }

# expect_install <feature> <ctid> <substring of a call the fresh run must issue>...
expect_install() {
    local f="$1" id="$2" s
    shift 2
    run_feature fresh "$f" "$id"
    if ((rc != 0)); then ko "$(name fresh "$f" "$id"): exit ${rc}: ${err}"; else
        for s in "$@"; do
            if called "$s"; then ok; else ko "$(name fresh "$f" "$id"): no call containing '${s}'"; fi
        done
    fi
    run_feature converged "$f" "$id"
    if ((rc != 0)); then ko "$(name converged "$f" "$id"): exit ${rc}: ${err}"
    elif [[ -n "$(mutating_calls)" ]]; then ko "$(name converged "$f" "$id"): not idempotent, issued: $(mutating_calls | head -3)"
    else ok; fi
    run_feature dry-run "$f" "$id"
    if ((rc != 0)); then ko "$(name dry-run "$f" "$id"): exit ${rc}: ${err}"
    elif [[ -n "$(mutating_calls)" ]]; then ko "$(name dry-run "$f" "$id"): ran changes: $(mutating_calls | head -3)"
    elif ! grep -qF -- "[dry-run] pct " <<<"$out"; then ko "$(name dry-run "$f" "$id"): printed no [dry-run] line"
    elif [[ -n "${1:-}" ]] && ! grep -qF -- "$1" <<<"$out"; then ko "$(name dry-run "$f" "$id"): '[dry-run]' output lacks '$1'"
    else ok; fi
}

expect_install base_setup 900 'apt-get install -y ca-certificates curl wget jq' 'locale-gen en_US.UTF-8' \
    'ln -sf /usr/share/zoneinfo/America/New_York /etc/localtime' 'pct push 900 '
expect_install docker 902 'docker-ce docker-ce-cli containerd.io' 'curl -fsSL https://download.docker.com/linux/ubuntu/gpg' \
    'systemctl enable --now docker'
expect_install docker 910 'docker run -d --name portainer --restart=always -p 9443:9443' 'portainer/portainer-ce:latest' '-v /data:/data'
expect_install nvidia 901 'curl -fsSL -o /tmp/NVIDIA-Linux-x86_64-580.76.05.run https://us.download.nvidia.com/XFree86/Linux-x86_64/580.76.05/NVIDIA-Linux-x86_64-580.76.05.run' \
    '--no-kernel-module' 'cuda-keyring_1.1-1_all.deb' 'apt-get install -y cuda-toolkit-12-8'
expect_install ollama 955 'ollama-install https://ollama.com/install.sh' 'systemctl enable --now ollama'
expect_install vllm 950 '/opt/vllm/bin/pip install vllm' 'pct push 950 ' 'systemctl enable vllm.service'

# The Docker repository line names the container's architecture and release.
run_feature fresh docker 902
f="${FAKE_PUSHED}/902/etc/apt/sources.list.d/docker.list"
if [[ -f "$f" ]] && grep -qx 'deb \[arch=amd64 signed-by=/etc/apt/keyrings/docker.asc\] https://download.docker.com/linux/ubuntu noble stable' "$f"; then ok; else ko "docker.list content: $(cat "$f" 2>/dev/null)"; fi
# A portainer_role of none runs no Portainer.
if called 'portainer'; then ko "902 (portainer_role none) started Portainer"; else ok; fi

# vLLM units come from the config: engine config (920), vllm_args + vllm_* (950, 951).
check_unit() {
    local id="$1" want="$2" unit
    run_feature fresh vllm "$id"
    unit="${FAKE_PUSHED}/${id}/etc/systemd/system/vllm.service"
    if ((rc == 0)) && grep -qxF -- "ExecStart=${want}" "$unit" 2>/dev/null; then ok; else
        ko "vllm ${id} ExecStart: got '$(grep ExecStart "$unit" 2>/dev/null)' want '${want}' (${err})"
    fi
}
check_unit 920 '/opt/vllm/bin/vllm serve Qwen/Qwen2.5-7B-Instruct-AWQ --trust-remote-code --dtype auto --max-model-len 4096 --quantization awq_marlin --gpu-memory-utilization 0.5 --tensor-parallel-size 2 --host 0.0.0.0 --port 8000 --served-model-name qwen2.5-7b-awq'
check_unit 950 '/opt/vllm/bin/vllm serve Qwen/Qwen2.5-7B-Instruct-AWQ --quantization awq --max-model-len 4096 --gpu-memory-utilization 0.90 --tensor-parallel-size 1 --served-model-name qwen2.5-7b-awq --trust-remote-code --port 8000'
check_unit 951 '/opt/vllm/bin/vllm serve ibm-granite/granite-embedding-english-r2 --tensor-parallel-size 1 --gpu-memory-utilization 0.10 --max-model-len 1024 --served-model-name ibm-granite/granite-embedding-english-r2 --port 8000'
if grep -qx 'Environment=HF_HOME=/vllm_models' "${FAKE_PUSHED}/951/etc/systemd/system/vllm.service" 2>/dev/null; then ok; else ko "vllm 951: HF_HOME not set to its vllm_models volume"; fi
# A token file on the host becomes a 0600 env file, never a log line.
mkdir -p "${PHOENIX_HOST_ROOT}/usr/local/phoenix_hypervisor/etc"
echo "HF_TOKEN=hf_secretvalue123" >"${PHOENIX_HOST_ROOT}/usr/local/phoenix_hypervisor/etc/phoenix_hf_token.conf"
run_feature fresh vllm 950
if grep -q 'pct push 950 .* /etc/vllm/hf_token.env --perms 0600' "$FAKE_LOG" && ! grep -q hf_secretvalue <<<"$err$out"; then ok; else ko "vllm HF token handling"; fi
rm -f "${PHOENIX_HOST_ROOT}/usr/local/phoenix_hypervisor/etc/phoenix_hf_token.conf"

# No GPU assigned: the nvidia feature and health check do nothing.
for s in nvidia "${root}/scripts/health_checks/check_nvidia.sh"; do
    run_feature fresh "$s" 900
    if ((rc == 0)) && [[ ! -s "$FAKE_LOG" ]]; then ok; else ko "$(basename "$s") on CT 900 (no GPU): rc ${rc}, calls: $(head -2 "$FAKE_LOG")"; fi
done
# Health check: matching version passes, another version fails naming the CT.
printf '%s\t0\t%s\n' 'nvidia-smi --query-gpu' '580.76.05\n580.76.05' >"${work}/hc_rules"
if FAKE_RULES="${work}/hc_rules" "${root}/scripts/health_checks/check_nvidia.sh" 901 2>/dev/null; then ok; else ko "check_nvidia 901 with the right driver failed"; fi
printf '%s\t0\t%s\n' 'nvidia-smi --query-gpu' '550.54.14' >"${work}/hc_rules"
if e="$(FAKE_RULES="${work}/hc_rules" "${root}/scripts/health_checks/check_nvidia.sh" 901 2>&1)"; then ko "check_nvidia passed with a wrong driver"
elif grep -q 'CT 901.*550.54.14' <<<"$e"; then ok; else ko "check_nvidia message: ${e}"; fi

# Arguments: none, non-numeric, unknown container -> exit 1 with one clear line.
for f in base_setup docker nvidia ollama vllm; do
    s="${lxc}/phoenix_hypervisor_feature_install_${f}.sh"
    if "$s" >/dev/null 2>&1; then ko "${f} without argument exited 0"; else ok; fi
    if "$s" '950; id' >/dev/null 2>&1; then ko "${f} accepted '950; id'"; else ok; fi
    if "$s" 999 >/dev/null 2>"${work}/err"; then ko "${f} accepted unknown CT 999"
    elif grep -q '999' "${work}/err"; then ok; else ko "${f} CT 999 message: $(cat "${work}/err")"; fi
done

# A failing install exits non-zero with an error line naming the container.
fresh_rules
printf '%s\t100\n' 'apt-get install -y docker-ce' >>"$FAKE_RULES"
: >"$FAKE_LOG"
if FAKE_PROBE_RC=1 "${lxc}/phoenix_hypervisor_feature_install_docker.sh" 902 >/dev/null 2>"${work}/err"; then
    ko "docker feature succeeded although apt-get install failed"
elif [[ "$(grep -c 'ERROR' "${work}/err")" == 1 ]] && grep -q 'ERROR.*CT 902 docker.*apt-get install' "${work}/err"; then ok
else ko "failure report: $(cat "${work}/err")"; fi

echo "${passed} passed, ${failed} failed"
((failed == 0))
