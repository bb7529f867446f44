#!/usr/bin/env bash
# Runs each LXC application script the way lxc-manager does (copied with the helper library and a
# guest_config.json from the fixture into a temporary folder, cwd there, PHOENIX_CTID set), in
# dry-run so nothing on this machine changes, with stand-ins for the container's read-only tools
# (docker inspect: no container yet; systemctl: nothing active; dpkg-query: installed).
# Asserts the docker/systemd actions and that ports, volumes and images come from the config.
# Prints "N passed, M failed"; exit 1 on failure.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fixtures="${PHOENIX_FIXTURES:-${root}/../shared/fixtures/upstream-2025-10-01}"
[[ -r "${fixtures}/phoenix_lxc_configs.json" ]] || { echo "fixtures not found in ${fixtures}" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "${work}/bin"
for tool in docker systemctl dpkg-query id ollama nginx curl; do
    cat >"${work}/bin/${tool}" <<STUB
#!/usr/bin/env bash
case "${tool} \$*" in
    "dpkg-query "*) printf 'ii ' ;;
    "docker inspect "* | "docker network inspect "* | "docker image inspect "*) exit 1 ;;
    "systemctl is-"*) exit 1 ;;
esac
exit 0
STUB
    chmod +x "${work}/bin/${tool}"
done

passed=0
failed=0
ok() { passed=$((passed + 1)); }
ko() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*" >&2; }

# run_app <ctid> <script>: sets rc, out (stdout: the [dry-run] lines), err.
run_app() {
    local id="$1" script="$2" dir="${work}/app$1"
    mkdir -p "$dir"
    cp "${root}/scripts/lxc_setup/${script}" "${root}/scripts/phoenix_hypervisor_common_utils.sh" "$dir/"
    jq --arg id "$id" '.lxc_configs[$id]' "${fixtures}/phoenix_lxc_configs.json" >"${dir}/guest_config.json"
    rc=0
    out="$(cd "$dir" && env PATH="${work}/bin:${PATH}" PHOENIX_CTID="$id" PHOENIX_DRY_RUN=1 bash "${dir}/${script}" 2>"${work}/err")" || rc=$?
    err="$(cat "${work}/err")"
}
expect() { # expect <ctid> <script> <expected [dry-run] line>...
    local id="$1" script="$2" l
    shift 2
    run_app "$id" "$script"
    if ((rc != 0)); then ko "${script}: exit ${rc}: ${err}"; return; fi
    for l in "$@"; do
        if grep -qxF -- "[dry-run] ${l}" <<<"$out"; then ok; else ko "${script}: no '[dry-run] ${l}' in: ${out}"; fi
    done
}

expect 952 phoenix_hypervisor_lxc_952.sh \
    'docker run -d --name qdrant --restart unless-stopped -p 6333:6333 -p 6334:6334 -v /qdrant/storage:/qdrant/storage qdrant/qdrant:latest'
expect 954 phoenix_hypervisor_lxc_954.sh \
    'chown 1000:1000 /home/node/.n8n'
if grep -q '^\[dry-run\] docker run -d --name n8n --restart unless-stopped -p 5678:5678 -v /home/node/.n8n:/home/node/.n8n .*docker.n8n.io/n8nio/n8n:latest$' <<<"$out"; then ok; else ko "n8n docker run: ${out}"; fi
expect 956 phoenix_hypervisor_lxc_956.sh \
    'docker run -d --name open-webui --restart unless-stopped -p 8080:8080 -v open-webui:/app/backend/data ghcr.io/open-webui/open-webui:main'
expect 960 phoenix_hypervisor_lxc_960.sh \
    'docker network create monitoring' \
    'write /etc/phoenix-monitoring/prometheus/prometheus.yml (mode 0644)' \
    'docker run -d --name prometheus --restart unless-stopped --network monitoring -p 9090:9090 -v /etc/phoenix-monitoring/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro -v prometheus_data:/prometheus prom/prometheus:latest' \
    'docker run -d --name grafana --restart unless-stopped --network monitoring -p 3000:3000 -v /etc/phoenix-monitoring/grafana/provisioning:/etc/grafana/provisioning:ro -v grafana_data:/var/lib/grafana grafana/grafana:latest'
expect 955 phoenix_hypervisor_lxc_955.sh \
    'write /etc/systemd/system/ollama.service.d/phoenix.conf (mode 0644)' \
    'systemctl enable --now ollama'
expect 953 phoenix_hypervisor_lxc_953.sh 'systemctl enable --now nginx'
expect 957 phoenix_hypervisor_lxc_957.sh \
    'git clone --depth 1 --branch master https://github.com/ggml-org/llama.cpp /opt/llama.cpp'
if grep -q 'no .gguf model' <<<"$err"; then ok; else ko "957 without a model should say so: ${err}"; fi

# The vLLM app script needs the feature's unit: without it, a clear failure.
run_app 950 phoenix_hypervisor_lxc_vllm.sh
if ((rc != 0)) && grep -q 'ERROR.*CT 950.*vllm.service is missing' <<<"$err"; then ok; else ko "vllm app without unit: rc ${rc}: ${err}"; fi
# No guest_config.json or no PHOENIX_CTID: refuse.
rm -f "${work}/app952/guest_config.json"
if (cd "${work}/app952" && env PATH="${work}/bin:${PATH}" PHOENIX_CTID=952 PHOENIX_DRY_RUN=1 bash ./phoenix_hypervisor_lxc_952.sh >/dev/null 2>&1); then ko "952 ran without guest_config.json"; else ok; fi
if (cd "${work}/app956" && env -u PHOENIX_CTID PATH="${work}/bin:${PATH}" PHOENIX_DRY_RUN=1 bash ./phoenix_hypervisor_lxc_956.sh >/dev/null 2>&1); then ko "956 ran without PHOENIX_CTID"; else ok; fi

echo "${passed} passed, ${failed} failed"
((failed == 0))
