#!/usr/bin/env bash
# Table-driven test of scripts/legacy/phoenix_orchestrator.sh: each old command line must exec the
# fake PHOENIX_BIN with exactly the expected argv (compared one argument per line), unknown options
# must exit 2 with the usage, and arguments holding spaces, ';' or '$(...)' must arrive literally.
# Prints "N passed, M failed"; exits 1 when anything failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
legacy="${root}/scripts/legacy/phoenix_orchestrator.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fake="${work}/phoenix"
cat >"$fake" <<'FAKE'
#!/usr/bin/env bash
for a in "$@"; do printf '%s\n' "$a"; done
FAKE
chmod +x "$fake"

passed=0
failed=0
ok() { passed=$((passed + 1)); }
ko() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*" >&2; }

# expect_argv "<old args, | separated>" "<expected new argv, | separated>"
expect_argv() {
    local old_s="$1" want_s="$2" old=() want=() got rc=0
    IFS='|' read -r -a old <<<"$old_s"
    IFS='|' read -r -a want <<<"$want_s"
    got="$(PHOENIX_BIN="$fake" "$legacy" "${old[@]}" 2>"${work}/err")" || rc=$?
    local want_lines
    want_lines="$(printf '%s\n' "${want[@]}")"
    if ((rc != 0)); then
        ko "[${old_s}] exited ${rc}: $(cat "${work}/err")"
    elif [[ "$got" != "$want_lines" ]]; then
        ko "[${old_s}] gave [$(tr '\n' '|' <<<"$got")], want [${want_s}|]"
    elif ! grep -q 'deprecated' "${work}/err"; then
        ko "[${old_s}] printed no deprecation warning on stderr"
    else
        ok
    fi
}

# expect_usage_error "<old args, | separated>"
expect_usage_error() {
    local old_s="$1" old=() rc=0 out
    IFS='|' read -r -a old <<<"$old_s"
    out="$(PHOENIX_BIN="$fake" "$legacy" "${old[@]}" 2>"${work}/err")" || rc=$?
    if ((rc != 2)); then
        ko "[${old_s}] exited ${rc}, want 2"
    elif [[ -n "$out" ]]; then
        ko "[${old_s}] ran phoenix anyway: ${out}"
    elif ! grep -q '^Usage:' "${work}/err"; then
        ko "[${old_s}] printed no usage on stderr"
    else
        ok
    fi
}

expect_argv "950"                                  "create|--|950"
expect_argv "900|950|953"                          "create|--|900|950|953"
expect_argv "--dry-run|950"                        "create|--dry-run|--|950"
expect_argv "950|--dry-run"                        "create|--dry-run|--|950"
expect_argv "--delete|950"                         "delete|--|950"
expect_argv "--delete|950|--dry-run"               "delete|--dry-run|--|950"
expect_argv "--reconfigure|952"                    "reconfigure|--|952"
expect_argv "--setup-hypervisor"                   "setup"
expect_argv "--setup-hypervisor|--wipe-disks"      "setup|--wipe-disks"
expect_argv "--dry-run|--setup-hypervisor"         "setup|--dry-run"
expect_argv "--test|950"                           "test|--|950"
expect_argv "--test|950|--suite|integration_tests" "test|--suite|integration_tests|--|950"
expect_argv "--test|950|--suite=health_checks"     "test|--suite|health_checks|--|950"
expect_argv "--smoke-test"                         "test|--suite|smoke"
expect_argv "--LetsGo"                             "LetsGo"
expect_argv "--LetsGo|--dry-run"                   "LetsGo|--dry-run"
# Hostile arguments reach phoenix literally, as targets after "--".
expect_argv "950|a b"                              "create|--|950|a b"
expect_argv "950; rm -rf /"                        "create|--|950; rm -rf /"
# shellcheck disable=SC2016 # the $(...) must stay literal
expect_argv '$(touch '"${work}"'/pwned)'           'create|--|$(touch '"${work}"'/pwned)'
expect_argv "--test|950|--suite|x;y \$(id)"        "test|--suite|x;y \$(id)|--|950"
expect_argv "--|--delete"                          "create|--|--delete"
# Older releases' VM flags.
expect_argv "--create-vm|8001"                     "create|--|8001"
expect_argv "--start-vm|8001"                      "start|--|8001"
expect_argv "--stop-vm|8001|--dry-run"             "stop|--dry-run|--|8001"
expect_argv "--delete-vm|8001"                     "delete|--|8001"
if [[ -e "${work}/pwned" ]]; then ko "an argument was executed by a shell"; else ok; fi

expect_usage_error ""
expect_usage_error "--bogus"
expect_usage_error "--start-vm"
expect_usage_error "--start-vm|8001|--delete|950"
expect_usage_error "--delete"
expect_usage_error "--delete|950|--reconfigure|950"
expect_usage_error "--LetsGo|950"
expect_usage_error "--wipe-disks|950"
expect_usage_error "950|--suite"
expect_usage_error "950|--suite|smoke"

# expect_refusal "<old args, | separated>" "<text the message must hold>": exit 2, the
# replacement named on stderr, phoenix not run.
expect_refusal() {
    local old_s="$1" needle="$2" old=() rc=0 out
    IFS='|' read -r -a old <<<"$old_s"
    out="$(PHOENIX_BIN="$fake" "$legacy" "${old[@]}" 2>"${work}/err")" || rc=$?
    if ((rc != 2)); then
        ko "[${old_s}] exited ${rc}, want 2"
    elif [[ -n "$out" ]]; then
        ko "[${old_s}] ran phoenix anyway: ${out}"
    elif ! grep -qF -- "$needle" "${work}/err"; then
        ko "[${old_s}] stderr lacks '${needle}': $(cat "${work}/err")"
    else
        ok
    fi
}
expect_refusal "--create-vm|docker-vm-01"           "use: phoenix create <VMID> (the vmid of 'docker-vm-01'"
expect_refusal "--provision-template"               "use: phoenix create <VMID> (the VM with \"is_template\": true"

# --help: usage on stdout, exit 0, phoenix not run.
if out="$(PHOENIX_BIN="$fake" "$legacy" --help 2>/dev/null)" && [[ "$out" == Usage:* ]]; then ok; else ko "--help"; fi
# PHOENIX_BIN unset: "phoenix" beside the script, else PATH.
mkdir -p "${work}/bin" "${work}/inst"
cp "$legacy" "${work}/inst/phoenix_orchestrator.sh"
printf '#!/usr/bin/env bash\necho beside "$@"\n' >"${work}/inst/phoenix"
printf '#!/usr/bin/env bash\necho onpath "$@"\n' >"${work}/bin/phoenix"
chmod +x "${work}/inst/phoenix" "${work}/bin/phoenix"
out="$(env -u PHOENIX_BIN PATH="${work}/bin:$PATH" "${work}/inst/phoenix_orchestrator.sh" 950 2>/dev/null)"
if [[ "$out" == "beside create -- 950" ]]; then ok; else ko "default PHOENIX_BIN beside the script: got '${out}'"; fi
rm "${work}/inst/phoenix"
out="$(env -u PHOENIX_BIN PATH="${work}/bin:$PATH" "${work}/inst/phoenix_orchestrator.sh" 950 2>/dev/null)"
if [[ "$out" == "onpath create -- 950" ]]; then ok; else ko "PHOENIX_BIN from PATH: got '${out}'"; fi

echo "${passed} passed, ${failed} failed"
((failed == 0))
