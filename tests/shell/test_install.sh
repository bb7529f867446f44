#!/usr/bin/env bash
# scripts/install.sh over a Bash orchestrator installation, with stub binaries (--bin-dir) and
# everything under a temp folder: the legacy `phoenix` on PATH and the Bash CLI's names are
# replaced by Phoenix and backed up (and the script says so), --bin-dir needs no cargo, the
# config is kept, a re-run replaces nothing, --no-link and --dry-run leave things alone.
# Prints "N passed, M failed"; exits 1 when anything failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
install_sh="${root}/scripts/install.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); }
ko() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*" >&2; }
check() { # check <description> <command...>
    local what="$1"
    shift
    if "$@"; then ok; else ko "$what"; fi
}

# Prebuilt "binaries": each says which program it is.
bins="${work}/bins"
mkdir -p "$bins"
for b in phoenix lxc-manager vm-manager hypervisor-manager pve-sim; do
    printf '#!/bin/sh\necho "new %s $*"\n' "$b" >"${bins}/${b}"
    chmod +x "${bins}/${b}"
done
# A cargo that must never run.
fakebin="${work}/fakebin"
mkdir -p "$fakebin"
printf '#!/bin/sh\ntouch "%s/cargo-ran"\nexit 1\n' "$work" >"${fakebin}/cargo"
chmod +x "${fakebin}/cargo"

# The Bash orchestrator as installed: phoenix-global -> phoenix-cli, Bash managers, a config.
prefix="${work}/phoenix_hypervisor"
mkdir -p "${prefix}/bin/managers" "${prefix}/etc"
printf '#!/bin/bash\necho "old cli $*"\n' >"${prefix}/bin/phoenix-cli"
# shellcheck disable=SC2016 # the $(...) belongs to the written script
printf '#!/bin/bash\nexec "$(dirname "$(readlink -f "$0")")/phoenix-cli" "$@"\n' >"${prefix}/bin/phoenix-global"
printf '#!/bin/bash\necho "old lxc-manager"\n' >"${prefix}/bin/managers/lxc-manager.sh"
chmod +x "${prefix}/bin/phoenix-cli" "${prefix}/bin/phoenix-global" "${prefix}/bin/managers/lxc-manager.sh"
printf '{"operator": "edited"}\n' >"${prefix}/etc/phoenix_hypervisor_config.json"
links="${work}/usr-local-bin"
mkdir -p "$links"
ln -s "${prefix}/bin/phoenix-global" "${links}/phoenix"
check "the legacy phoenix runs the old CLI before the install" \
    test "$("${links}/phoenix" status)" = "old cli status"

run_install() { # run_install <args...>: stderr in $work/err
    PATH="${fakebin}:${links}:${PATH}" bash "$install_sh" --prefix "$prefix" --bin-dir "$bins" \
        --link-dir "$links" "$@" >"${work}/out" 2>"${work}/err"
}

check "install succeeds" run_install
err="$(cat "${work}/err")"
check "cargo is not run with --bin-dir" test ! -e "${work}/cargo-ran"
check "says it does not build" grep -q 'not building' "${work}/err"
check "PATH's phoenix is Phoenix" test "$("${links}/phoenix" status)" = "new phoenix status"
check "the link points into the prefix" test "$(readlink "${links}/phoenix")" = "${prefix}/bin/phoenix"
backup="$(find "${prefix}/backup" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
check "a backup folder exists" test -n "$backup"
check "the old link is kept as a backup" test "$(readlink "${backup}${links}/phoenix")" = "${prefix}/bin/phoenix-global"
check "says what it replaced and where the backup is" \
    grep -qF "replaced ${links}/phoenix (a symlink to ${prefix}/bin/phoenix-global); the old one is kept as ${backup}${links}/phoenix" "${work}/err"
check "the Bash bin/ is copied" grep -q 'old cli' "${backup}${prefix}/bin/phoenix-cli"
check "the Bash manager is kept" grep -q 'old lxc-manager' "${backup}${prefix}/bin/managers/lxc-manager.sh"
check "says it found the Bash orchestrator" grep -q 'found the Bash orchestrator' "${work}/err"
check "phoenix-global now runs Phoenix" test "$("${prefix}/bin/phoenix-global" LetsGo)" = "new phoenix LetsGo"
check "phoenix-cli now runs Phoenix" test "$("${prefix}/bin/phoenix-cli" LetsGo)" = "new phoenix LetsGo"
check "the Bash manager name runs the new manager" \
    test "$("${prefix}/bin/managers/lxc-manager.sh" create 950)" = "new lxc-manager create 950"
check "the config is kept" grep -q '"operator": "edited"' "${prefix}/etc/phoenix_hypervisor_config.json"
if [[ "$err" == *"keeping existing ${prefix}/etc/phoenix_hypervisor_config.json"* ]]; then ok; else ko "says it keeps the config: ${err}"; fi

# A re-run replaces nothing and backs nothing up.
check "re-run succeeds" run_install
if grep -q 'replaced\|Bash orchestrator' "${work}/err"; then ko "re-run replaced: $(cat "${work}/err")"; else ok; fi

# --no-link leaves a foreign phoenix on PATH alone.
rm "${links}/phoenix"
printf '#!/bin/sh\necho other\n' >"${links}/phoenix"
chmod +x "${links}/phoenix"
check "--no-link succeeds" run_install --no-link
check "--no-link keeps the other phoenix" test "$("${links}/phoenix")" = "other"

# --dry-run changes nothing.
fresh="${work}/fresh"
check "--dry-run succeeds" env PATH="${fakebin}:${PATH}" bash "$install_sh" --prefix "$fresh" \
    --bin-dir "$bins" --link-dir "$links" --dry-run >"${work}/out" 2>"${work}/err"
check "--dry-run creates no prefix" test ! -e "$fresh"
check "--dry-run keeps the link" test "$("${links}/phoenix")" = "other"
check "--dry-run says what it would replace" grep -qF "would replace ${links}/phoenix (a file)" "${work}/err"

# A missing binary is named.
rm "${bins}/vm-manager"
if PATH="${fakebin}:${PATH}" bash "$install_sh" --prefix "${work}/p2" --bin-dir "$bins" --no-link 2>"${work}/err"; then
    ko "a missing binary must fail"
elif grep -qF "no binary ${bins}/vm-manager" "${work}/err"; then ok; else ko "missing binary message: $(cat "${work}/err")"; fi

echo "${passed} passed, ${failed} failed"
((failed == 0))
